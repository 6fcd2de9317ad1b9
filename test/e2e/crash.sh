# End to end: kill -9 of muster at random moments, then `muster resume`
# (invariants 1-3: claim before start, nothing is lost, no escaped processes).
#
# Each trial runs short jobs that append "S JOB ATTEMPT" to a ledger when they
# start and "E JOB ATTEMPT" when they end, kills muster with SIGKILL 1-3
# times after random delays (creating the run or resuming it each time), and
# finally resumes to the end. It then checks the ledger against the store:
#   lost       a job that does not reach its final state (succeeded; under
#              hold, succeeded or held, and succeeded once the held ones are
#              retried), or that succeeded at an attempt that never started
#   double     under requeue an attempt number started twice or an attempt
#              started after the one that succeeded; under hold a job that
#              started twice (before its retry)
#   integrity  PRAGMA integrity_check and `muster check` on the store
#   leftover   a process of the trial's jobs (or its first muster's keeper)
#              still alive after the final resume
# Problems do not stop the trials: every trial runs, the tally prints, and
# then the test fails with each failed trial's seed and log of kill delays.
#
#   CRASH_TRIALS  trials in all, half under requeue and half under hold
#                 (default 100; 20 under sanitizers)
#   CRASH_SEED    seeds bash's RANDOM (the inputs, the number of kills and
#                 their delays); printed at the start to replay a failure
#   CRASH_TRIAL   run only this trial of each mode (with CRASH_SEED)
#   CRASH_JOBS    jobs per trial (default 30; 20 under sanitizers)
#   CRASH_VERBOSE print each trial's kills and counts

CRASH_TRIALS=${CRASH_TRIALS:-$(scaled 100 20)}
CRASH_SEED=${CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000000))}
CRASH_TRIAL=${CRASH_TRIAL:-}
CRASH_JOBS=${CRASH_JOBS:-$(scaled 30 20)}
# A kill comes after 0 to WINDOW ms: a new run of CRASH_JOBS jobs takes a
# little longer than that to create and run here, a resume less. One first
# kill in six comes within CREATE_WINDOW ms, while muster creates the run.
CRASH_WINDOW_MS=$(scaled 300 2500)
CRASH_RESUME_WINDOW_MS=$(scaled 250 1500)
CRASH_CREATE_WINDOW_MS=$(scaled 30 300)

# The job: S and E lines around a short sleep. "$0" is the ledger.
CRASH_JOB=(sh -c 'echo "S $MUSTER_JOB_ID $MUSTER_ATTEMPT" >>"$0"; sleep "$1"; echo "E $MUSTER_JOB_ID $MUSTER_ATTEMPT" >>"$0"')

# A trial forks little besides muster: on a loaded machine each fork of the
# test's shell costs tens of milliseconds. Sleeps are reads with a timeout
# on a pipe nobody writes to.
exec {CRASH_SLEEP_FD}<> <(:)

# nap SECONDS: sleep without a fork.
nap() {
  read -r -t "$1" -u "$CRASH_SLEEP_FD"
}

# sleep_ms MS
sleep_ms() {
  sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# now_us VAR: set VAR to the time in microseconds.
now_us() {
  local now_us_=$EPOCHREALTIME
  printf -v "$1" '%s' "${now_us_/./}"
}

# The store has run "t" (`muster status` exits 0 only for a run it knows;
# run ids are hex, so "t" is only ever the name).
run_exists() {
  muster_store status t --json >/dev/null 2>&1
}

# start_round MODE ROUND: start muster on run "t" in the background: create
# it if a crash came before it existed, else resume it.
start_round() {
  local mode=$1 round=$2
  if run_exists; then
    start_bg "r$round" muster resume t -q --no-stdout
  else
    start_bg "r$round" muster run -q --no-stdout -j 8 --name t --on-interrupt "$mode" -i delays.txt -- \
      "${CRASH_JOB[@]}" "$PWD/ledger" {}
  fi
}

# The commands of a trial, run in its directory on its store: `cm ARGS`
# runs muster, `cm_run MODE` creates run "t".
cm() {
  "$MUSTER_BIN" --store "$MUSTER_STORE" "$@"
}
cm_run() {
  cm run -q --no-stdout -j 8 --name t --on-interrupt "$1" -i delays.txt -- "${CRASH_JOB[@]}" "$PWD/ledger" {}
}

# check_err FILE: a sanitizer report in FILE (muster's stderr) fails the
# test, as the harness's checks do.
check_err() {
  [[ -s $1 ]] || return 0
  local text
  read -r -d '' text <"$1"
  if [[ $text =~ runtime\ error:|ERROR:\ (Address|Leak|Thread|Memory)Sanitizer ]]; then
    fail "sanitizer report in $1: ${BASH_REMATCH[0]}"
  fi
}

# ledger_lines VAR: set VAR to how many lines the ledger has now (it only
# grows).
ledger_lines() {
  local -a ledger_lines_
  mapfile -t ledger_lines_ <ledger
  printf -v "$1" '%d' "${#ledger_lines_[@]}"
}

# check_trial MODE N: compare the ledger and the snapshots a trial left in
# the current directory with the store. Prints one line of counts
# (KEY=VALUE ...) and then one line per problem. It reads trial.log:
#   round R DELAY STATUS VERB LINES   a kill: after DELAY ms, muster (`run`
#                              or `resume`) had exit status STATUS (137:
#                              the kill ended it), the ledger LINES lines;
#                              killR.json the run's jobs then (no file: no
#                              run yet)
#   held STATUS LINES          under hold, the final resume left jobs held
#                              (held.json); then
#   again STATUS LINES         another resume (again.json), and
#   retry STATUS               `retry --interrupted`
#   final STATUS               the last resume (final.json; status.json)
check_trial() {
  "$E2E_PYTHON" -I -S - "$1" "$2" <<'PY'
import collections, json, sys
mode, n = sys.argv[1], int(sys.argv[2])
counts = collections.Counter()
problems = []
def problem(kind, msg):
    counts[kind] += 1
    problems.append(f"{kind}: {msg}")
def load(name):
    try:
        with open(name) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
try:
    ledger = open("ledger").read().splitlines()
except OSError:
    ledger = []
def read_ledger(lines=None):
    """(job -> attempts started, {(job, attempt) ended}) in the first lines."""
    starts, ends = collections.defaultdict(list), set()
    for line in ledger[:lines]:
        p = line.split()
        if len(p) != 3 or p[0] not in "SE" or not p[2].isdigit():
            problem("other", f"ledger: bad line {line!r}")
        elif p[0] == "S":
            starts[p[1]].append(int(p[2]))
        else:
            ends.add((p[1], int(p[2])))
    return starts, ends
log = [l.split() for l in open("trial.log").read().splitlines() if l.strip()]
steps = {e[0]: e[1:] for e in log if e[0] != "round"}
ids = [str(i) for i in range(1, n + 1)]

# Where each kill landed.
prev_running = set()
for entry in log:
    if entry[0] != "round":
        continue
    r, status = entry[1], int(entry[3])
    lines = int(entry[5]) if len(entry) > 5 else None
    counts["kills"] += 1
    jobs = load(f"kill{r}.json")
    if status != 137:
        counts["k_after"] += 1  # muster had ended before the kill
        continue
    if jobs is None:
        counts["k_before"] += 1
        prev_running = set()
        continue
    starts, ends = read_ledger(lines)
    running = {(x["id"], x["attempts"]): x for x in jobs if x["state"] == "running"}
    # Jobs a dead agent left running that this muster had not taken over yet.
    mine = {k: x for k, x in running.items() if k not in prev_running}
    prev_running = set(running)
    if not mine:
        counts["k_stale" if running else "k_idle"] += 1
        continue
    counts["k_inflight"] += 1
    for (job, attempt), x in mine.items():
        if x["pid"] is None:
            counts["j_claimed"] += 1  # claimed, not spawned
        elif attempt not in starts.get(job, []):
            counts["j_spawned"] += 1  # spawned, its command not started
        elif (job, attempt) not in ends:
            counts["j_running"] += 1
        else:
            counts["j_exited"] += 1  # exited, its result not committed
if counts["k_inflight"]:
    counts["t_inflight"] = 1

final = load("final.json")
rows = {x["id"]: x for x in final} if final else {}
starts, ends = read_ledger()
if len(rows) != n:
    problem("lost", f"the run has {len(rows)} jobs, expected {n}")
for job in set(starts) - set(rows):
    problem("double", f"the ledger has job {job}, which the run does not")
final_status = int(steps["final"][0]) if "final" in steps else None

if mode == "requeue":
    if final_status != 0:
        problem("other", f"the final resume exited {final_status}, expected 0")
    run = load("status.json")
    if not run or run.get("state") != "completed":
        problem("other", f"the run ended {run and run.get('state')}, expected completed")
    for job in ids:
        x = rows.get(job)
        seen = starts.get(job, [])
        dup = sorted(a for a, c in collections.Counter(seen).items() if c > 1)
        if dup:
            problem("double", f"job {job}: attempt(s) {dup} started more than once (ledger {seen})")
        if x is None:
            continue
        if x["attempts"] > 1:
            counts["requeued"] += 1
        if x["state"] != "succeeded":
            problem("lost", f"job {job}: ended {x['state']}, expected succeeded (ledger {seen})")
            continue
        if x["attempts"] not in seen or (job, x["attempts"]) not in ends:
            problem("lost", f"job {job}: succeeded at attempt {x['attempts']}, which never ran to its end (ledger {seen})")
        if seen and max(seen) > x["attempts"]:
            problem("double", f"job {job}: attempt {max(seen)} started after attempt {x['attempts']} succeeded")
        if len(seen) > x["attempts"]:
            problem("double", f"job {job}: started {len(seen)} times but {x['attempts']} attempts recorded")
else:
    held = "held" in steps
    first = {x["id"]: x for x in load("held.json") or []} if held else rows
    hstarts, _ = read_ledger(int(steps["held"][1])) if held else (starts, ends)
    interrupted = sorted((j for j, x in first.items() if x["state"] == "interrupted"), key=int)
    counts["held"] += len(interrupted)
    if not held and interrupted:
        problem("other", f"jobs {interrupted} were held but the trial did not retry them")
    first_status = int(steps["held"][0]) if held else final_status
    want = 1 if interrupted else 0
    if first_status != want:
        problem("other", f"the final resume exited {first_status} with {len(interrupted)} jobs held, expected {want}")
    for job in ids:
        x = first.get(job)
        seen = hstarts.get(job, [])
        if len(seen) > 1:
            problem("double", f"job {job}: started {len(seen)} times under hold (ledger {seen})")
        if x is None:
            continue
        if x["state"] not in ("succeeded", "interrupted"):
            problem("lost", f"job {job}: ended {x['state']}, expected succeeded or interrupted (ledger {seen})")
        if x["state"] == "succeeded" and len(seen) != 1:
            problem("lost" if not seen else "double", f"job {job}: succeeded but the ledger has {seen}")
    if held:
        again = load("again.json")
        astarts, _ = read_ledger(int(steps["again"][1]))
        if astarts != hstarts:
            problem("double", "a plain resume started held jobs")
        if again is None or sorted((x["id"] for x in again if x["state"] == "interrupted"), key=int) != interrupted:
            problem("lost", "a plain resume changed which jobs are held")
        if steps.get("retry") != ["0"]:
            problem("other", f"retry --interrupted exited {steps.get('retry')}")
        if final_status != 0:
            problem("other", f"the resume after retry exited {final_status}, expected 0")
        for job in ids:
            x = rows.get(job)
            if x is not None and x["state"] != "succeeded":
                problem("lost", f"job {job}: ended {x['state']} after retry --interrupted, expected succeeded")
            extra = starts.get(job, [])[len(astarts.get(job, [])):]
            if len(extra) != (1 if job in interrupted else 0):
                kind = "lost" if job in interrupted and not extra else "double"
                problem(kind, f"job {job}: started {len(extra)} times by the retry (held: {job in interrupted})")
print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "kills=0")
print("\n".join(problems[:20]))
PY
}

# crash_finish MODE: run "t" to its end (creating it if no kill found it);
# under hold, when that leaves jobs held, check that they stay held through
# another resume, then retry them and resume. Leaves what check_trial reads.
crash_finish() {
  local mode=$1 status text lines
  if compgen -G 'kill*.json' >/dev/null || run_exists; then
    cm resume t -q --no-stdout 2>final.err
  else
    cm_run "$mode" 2>final.err
  fi
  status=$?
  check_err final.err
  cm jobs t --json >final.json 2>>final.err
  if [[ $mode == hold && $status == 1 ]]; then
    read -r -d '' text <final.json
    if [[ $text == *'"state": "interrupted"'* ]]; then
      mv final.json held.json
      ledger_lines lines
      echo "held $status $lines" >>trial.log
      cm resume t -q --no-stdout 2>again.err
      status=$?
      check_err again.err
      cm jobs t --json >again.json 2>>again.err
      ledger_lines lines
      echo "again $status $lines" >>trial.log
      cm retry t --interrupted >retry.out 2>&1
      echo "retry $?" >>trial.log
      cm resume t -q --no-stdout 2>final.err
      status=$?
      check_err final.err
      cm jobs t --json >final.json 2>>final.err
    fi
  fi
  echo "final $status" >>trial.log
  [[ $mode == requeue ]] && cm status t --json >status.json 2>/dev/null
  return 0
}

# crash_token MODE TRIAL: digits that make this trial's job arguments unique
# on the machine (the harness's pid, the mode and the trial).
crash_token() {
  local bit=0
  [[ $1 == hold ]] && bit=1
  printf '%07d%d%04d1' "$$" "$bit" "$2"
}

# crash_pids TOKEN LEDGER: pids of the trial's processes: its jobs (whose
# arguments carry the token) and the muster that created the run (whose
# arguments name the ledger), with its keeper.
crash_pids() {
  local ledger_re=${2//./\\.}
  pgrep -f -- "0\\.[0-9]{3}$1|$ledger_re"
}

crash_gone() {
  ! crash_pids "$1" "$2" >/dev/null
}

# crash_trial MODE TRIAL: one trial in $T/MODE-TRIAL. Adds its counts to the
# array TALLY and its problems to $T/problems.
crash_trial() {
  local mode=$1 trial=$2 bit=0 r rounds delay window verb i exists=0 pid now end left lines
  [[ $mode == hold ]] && bit=1
  local seed=$(((CRASH_SEED + trial * 7919 + bit * 104729) % 2147483648))
  RANDOM=$seed
  local dir=$T/$mode-$trial
  mkdir -p "$dir"
  cd "$dir" || fail "cd $dir"
  DB=$dir/.muster/muster.db
  MUSTER_STORE=$(new_store "$dir")
  export MUSTER_STORE
  local token ledger=$dir/ledger
  printf -v token '%07d%d%04d1' "$$" "$bit" "$trial"
  for ((i = 0; i < CRASH_JOBS; i++)); do
    printf '0.%03d%s\n' $((10 + RANDOM % 51)) "$token"
  done >delays.txt
  : >ledger
  : >trial.log
  rounds=$((1 + RANDOM % 3))
  for ((r = 1; r <= rounds; r++)); do
    window=$CRASH_WINDOW_MS
    ((exists)) && window=$CRASH_RESUME_WINDOW_MS
    delay=$(((RANDOM * 32768 + RANDOM) % window))
    # One first kill in six comes while muster creates the run; another
    # round then follows, to kill it with jobs in flight too.
    if ((r == 1 && RANDOM % 6 == 0)); then
      delay=$((delay % CRASH_CREATE_WINDOW_MS))
      ((rounds < 2)) && rounds=2
    fi
    # In the background, as start_bg does, with fewer forks ($! must be
    # muster itself, not a subshell running a function).
    if ((exists)); then
      verb=resume
      (
        "$MUSTER_BIN" --store "$MUSTER_STORE" resume t -q --no-stdout >"r$r.out" 2>"r$r.err" &
        echo $! >"r$r.pid"
        wait $!
        echo $? >"r$r.status"
      ) 2>/dev/null &
    else
      verb=run
      (
        "$MUSTER_BIN" --store "$MUSTER_STORE" run -q --no-stdout -j 8 --name t --on-interrupt "$mode" \
          -i delays.txt -- "${CRASH_JOB[@]}" "$ledger" {} >"r$r.out" 2>"r$r.err" &
        echo $! >"r$r.pid"
        wait $!
        echo $? >"r$r.status"
      ) 2>/dev/null &
    fi
    while [[ ! -s r$r.pid ]]; do
      nap 0.001
    done
    read -r pid <"r$r.pid"
    # Sleep DELAY ms unless muster ends first.
    now_us now
    end=$((now + delay * 1000))
    while [[ ! -s r$r.status ]]; do
      now_us now
      left=$((end - now))
      ((left > 0)) || break
      ((left > 20000)) && left=20000
      printf -v left '0.%06d' "$left"
      nap "$left"
    done
    kill -9 "$pid" 2>/dev/null
    for ((i = 0; i < 10000; i++)); do
      [[ -s r$r.status ]] && break
      nap 0.003
    done
    [[ -s r$r.status ]] || fail "trial $trial: muster (pid $pid) did not end after kill -9"
    read -r BG_STATUS <"r$r.status"
    check_err "r$r.err"
    if cm jobs t --json >"kill$r.json" 2>/dev/null; then
      exists=1
    else
      rm -f "kill$r.json"
    fi
    ledger_lines lines
    echo "round $r $delay $BG_STATUS $verb $lines" >>trial.log
    # A muster that ended by itself finished the run: no more rounds.
    [[ $BG_STATUS == 137 ]] || break
  done
  crash_finish "$mode"

  local out counts problems kv integrity
  out=$(check_trial "$mode" "$CRASH_JOBS")
  counts=${out%%$'\n'*}
  problems=${out#"$counts"}
  integrity=ok
  if [[ -z $E2E_PG ]]; then
    integrity=$(sqlite3 -cmd '.timeout 10000' "$DB" "PRAGMA integrity_check" 2>&1)
  fi
  if [[ $integrity != ok ]]; then
    counts+=" integrity=1"
    problems+=$'\n'"integrity: PRAGMA integrity_check: $integrity"
  elif ! cm check -q >check.out 2>&1; then
    counts+=" integrity=1"
    problems+=$'\n'"integrity: muster check: $(head -c 500 check.out)"
  fi
  if ! crash_gone "$token" "$ledger" && ! wait_until 5 crash_gone "$token" "$ledger"; then
    local pids
    pids=$(crash_pids "$token" "$ledger" | paste -sd,)
    counts+=" leftover=$(tr ',' '\n' <<<"$pids" | wc -l)"
    problems+=$'\n'"leftover: $(ps -o pid,ppid,pgid,etime,args -p "$pids" 2>&1)"
    for i in ${pids//,/ }; do
      kill -9 "$i" 2>/dev/null
    done
  fi
  for kv in $counts; do
    TALLY[${kv%%=*}]=$((${TALLY[${kv%%=*}]:-0} + ${kv#*=}))
  done
  TALLY[trials]=$((${TALLY[trials]:-0} + 1))
  cd "$T" || fail "cd $T"
  local kills='' e
  while read -r -a e; do
    [[ ${e[0]} == round ]] && kills+="${kills:+; }${e[2]}ms ${e[4]} (exit ${e[3]})"
  done <"$dir/trial.log"
  if [[ -n ${CRASH_VERBOSE:-} ]]; then
    echo "    $mode $trial: $kills | $counts"
  fi
  if [[ $problems == *[![:space:]]* ]]; then
    {
      echo "trial $trial ($mode, CRASH_SEED=$CRASH_SEED CRASH_TRIAL=$trial, RANDOM=$seed, kept in $dir):"
      echo "    kills (delay, what was killed, its exit status): $kills"
      while read -r e; do
        [[ -n $e ]] && echo "    $e"
      done <<<"$problems"
    } >>"$T/problems"
  else
    rm -rf "$dir"
  fi
}

# crash_tally_line MODE-DESCRIPTION: the tally of TALLY.
crash_tally_line() {
  local -n t=TALLY
  local k
  for k in trials kills lost double integrity leftover other requeued held k_before k_stale k_idle k_inflight k_after \
    j_claimed j_spawned j_running j_exited t_inflight; do
    t[$k]=${t[$k]:-0}
  done
  local other=''
  ((t[other])) && other=", ${t[other]} other failures"
  echo "crash tally: ${t[trials]} trials ($1), ${t[kills]} kills, ${t[lost]} lost, ${t[double]} double," \
    "${t[integrity]} integrity failures, ${t[leftover]} leftover processes$other, ${t[requeued]} requeued," \
    "${t[held]} held (CRASH_SEED=$CRASH_SEED)"
  echo "  kills: ${t[k_before]} before the run existed, ${t[k_stale]} before the resume took over," \
    "${t[k_idle]} with no job in flight, ${t[k_inflight]} with jobs in flight, ${t[k_after]} after the run ended;" \
    "in-flight jobs caught: ${t[j_claimed]} claimed not spawned, ${t[j_spawned]} spawned not started," \
    "${t[j_running]} running, ${t[j_exited]} exited not recorded; ${t[t_inflight]}/${t[trials]} trials killed muster with jobs in flight"
}

# crash_trials MODE COUNT: COUNT trials (or CRASH_TRIAL alone); prints the
# mode's tally, adds it to $E2E_ROOT/.crash-tally and fails on any problem.
crash_trials() {
  local mode=$1 count=$2 trial first=1 k
  declare -A TALLY=()
  echo "    CRASH_SEED=$CRASH_SEED ($count $mode trials of $CRASH_JOBS jobs; replay:" \
    "CRASH_SEED=$CRASH_SEED bash test/e2e/run test/e2e/crash.sh build/muster)"
  if [[ -n $CRASH_TRIAL ]]; then
    first=$CRASH_TRIAL count=$CRASH_TRIAL
  fi
  for ((trial = first; trial <= count; trial++)); do
    crash_trial "$mode" "$trial"
  done
  echo "    $(crash_tally_line "$mode" | sed '2s/^/    /')"
  for k in "${!TALLY[@]}"; do
    echo "$mode $k ${TALLY[$k]}"
  done >>"$E2E_ROOT/.crash-tally"
  if [[ -s $T/problems ]]; then
    cat "$T/problems" >>"$E2E_ROOT/.crash-problems"
    fail "$(grep -c '^trial' "$T/problems") of ${TALLY[trials]} $mode trials failed (CRASH_SEED=$CRASH_SEED):
$(head -c 6000 "$T/problems")"
  fi
}

test_kill9_requeue() {
  TEST "kill -9 at random moments, then resume: nothing lost, nothing succeeds twice ($(((CRASH_TRIALS + 1) / 2)) trials)"
  crash_trials requeue $(((CRASH_TRIALS + 1) / 2))
}

test_kill9_hold() {
  TEST "kill -9 at random moments with --on-interrupt hold: no job ever runs twice ($((CRASH_TRIALS / 2)) trials)"
  crash_trials hold $((CRASH_TRIALS / 2))
}

test_kill9_tally() {
  TEST "the kill -9 trials' tally over requeue and hold"
  [[ -s $E2E_ROOT/.crash-tally ]] || { echo "    (no kill -9 trials ran)"; return 0; }
  declare -A TALLY=() MODES=()
  local mode k v
  while read -r mode k v; do
    TALLY[$k]=$((${TALLY[$k]:-0} + v))
    [[ $k == trials ]] && MODES[$mode]=$v
  done <"$E2E_ROOT/.crash-tally"
  crash_tally_line "${MODES[requeue]:-0} requeue, ${MODES[hold]:-0} hold" | sed 's/^/    /'
  local bad=$((TALLY[lost] + TALLY[double] + TALLY[integrity] + TALLY[leftover] + TALLY[other]))
  ((bad == 0)) || fail "the kill -9 trials found $bad problems (CRASH_SEED=$CRASH_SEED):
$(head -c 3000 "$E2E_ROOT/.crash-problems" 2>/dev/null)"
}

job_running_with_pid() {
  [[ $(json run_json 'sum(1 for r in j["running"] if r["pid"] is not None)' 2>/dev/null) -ge $1 ]]
}

test_jobs_die_with_muster() {
  TEST "after kill -9 of muster no job process keeps running"
  local m
  m=$(marker 30)
  start_bg m muster run -q -j 4 --name t -- sh -c "exec sleep $m" ::: 1 2 3 4
  local pid=$BG_PID
  wait_until 30 marker_count_is "$m" 4 || fail "the 4 jobs did not start: $(marker_pids "$m" | wc -l) running"
  kill -9 "$pid"
  wait_bg "$pid" 10
  expect_no_process "$m" 5
  expect_json jobs_json 'count("running")' 4 "jobs left running in the store (for resume)"
}

test_grandchildren_die_with_muster() {
  TEST "after kill -9 of muster a job's grandchildren stop too"
  local m
  m=$(marker 30)
  start_bg m muster run -q -j 2 --name t -- sh -c "sleep $m & sleep $m & wait" ::: 1 2
  local pid=$BG_PID
  wait_until 30 marker_count_is "$m" 4 || fail "the jobs' processes did not start: $(marker_pids "$m" | wc -l) running"
  kill -9 "$pid"
  wait_bg "$pid" 10
  expect_no_process "$m" 5
}

# kill_agent_leaving_orphans PID: kill -9 muster (PID) so that a job's
# grandchild outlives it, as when muster and any helper process it has die
# together (the OOM killer, a kill of the whole session). Helpers are
# muster's children that are not the job; they are killed first, so none
# can clean up after muster.
kill_agent_leaving_orphans() {
  local pid=$1 job_pid helpers h
  job_pid=$(json jobs_json '" ".join(str(x["pid"]) for x in j if x["state"] == "running")')
  helpers=$(pgrep -P "$pid" | grep -vx "${job_pid:-none}")
  for h in $helpers; do
    kill -9 "$h"
  done
  kill -9 "$pid"
  wait_bg "$pid" 10
  sleep 1
}

# These two need a grandchild that outlives muster, which cgroups never allow:
# any muster that starts removes a dead muster's cgroup subtree. They run in
# the process-group mode, whose second line of defence is resume.
test_resume_kills_surviving_grandchild() {
  TEST "a grandchild that outlived kill -9 of muster is killed by the next resume"
  local m
  m=$(marker 300)
  MUSTER_CONTAINMENT=process start_bg m muster run -q --name g -- sh -c "[ -e '$T/again' ] || { sleep $m & wait; }" ::: 1
  local pid=$BG_PID
  wait_until 30 marker_count_is "$m" 1 || fail "the grandchild did not start"
  wait_until 30 job_running_with_pid 1 || fail "the job was not recorded running with its pid"
  local pgid
  pgid=$(json jobs_json 'each("pgid")')
  kill_agent_leaving_orphans "$pid"
  marker_count_is "$m" 1 || fail "the grandchild did not survive muster's death, so this test checks nothing"
  local gpid
  gpid=$(marker_pids "$m")
  expect_eq "$(ps -o pgid= -p "$gpid" | tr -d ' ')" "$pgid" "the grandchild's process group is the recorded one"
  touch "$T/again"
  expect_exit 0 muster resume g -q
  expect_no_process "$m" 5
  expect_json jobs_json 'each("state", "attempts")' "succeeded:2"
}

test_resume_kills_grandchild_hold() {
  TEST "with --on-interrupt hold, resume also kills a surviving grandchild and holds the job"
  local m
  m=$(marker 300)
  MUSTER_CONTAINMENT=process start_bg m muster run -q --name g --on-interrupt hold -- sh -c "sleep $m & wait" ::: 1
  local pid=$BG_PID
  wait_until 30 marker_count_is "$m" 1 || fail "the grandchild did not start"
  wait_until 30 job_running_with_pid 1 || fail "the job was not recorded running"
  kill_agent_leaving_orphans "$pid"
  marker_count_is "$m" 1 || fail "the grandchild did not survive muster's death, so this test checks nothing"
  run_cmd muster resume g -q
  local resume_status=$STATUS resume_err=$STDERR
  expect_no_process "$m" 5
  expect_json jobs_json 'each("state", "attempts")' "interrupted:1"
  expect_exit 0 muster jobs g --state interrupted --json
  expect_eq "$(json_eval .last.out 'len(j)')" 1 "jobs --state interrupted"
  # The run ended without every job succeeded, and no signal stopped this
  # muster: exit 1, not 130 (which says a signal interrupted it).
  expect_eq "$resume_status" 1 "exit status of \`muster resume g\` that ends with the job held (its stderr: $resume_err)"
}

test_crash_before_start_is_safe() {
  TEST "kill -9 right after start: resume or rerun gives every job exactly once (hold)"
  local i n out
  for i in 1 2 3 4 5; do
    mkdir -p "$T/$i"
    cd "$T/$i" || fail "cd $T/$i"
    DB=$T/$i/.muster/muster.db
    MUSTER_STORE=$(new_store "$T/$i")
    export MUSTER_STORE
    for ((n = 0; n < 50; n++)); do
      printf '0.%03d\n' $((RANDOM % 51))
    done >delays.txt
    : >ledger
    start_round hold 1
    sleep_ms $((i * 20))
    kill -9 "$BG_PID" 2>/dev/null
    wait_bg "$BG_PID" 30
    echo "round 1 $((i * 20)) $BG_STATUS" >trial.log
    crash_finish hold
    out=$(check_trial hold 50)
    [[ -z $(sed 1d <<<"$out") ]] || fail "kill after $((i * 20))ms: $(sed 1d <<<"$out")"
    expect_sql "PRAGMA integrity_check" ok
    cd "$T" || fail "cd"
  done
}

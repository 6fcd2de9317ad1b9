# End to end: kill -9 of muster at random moments, then `muster resume`
# (invariants 1-3: claim before start, nothing is lost, no escaped processes).
#
# Each trial runs short jobs that append "JOB ATTEMPT" to a ledger, kills
# muster with SIGKILL after a random delay, maybe resumes and kills it again,
# and finally resumes to the end. Then it checks the ledger against the store.

CRASH_TRIALS=${CRASH_TRIALS:-20}
CRASH_JOBS=$(scaled 300 100)
CRASH_HOLD_JOBS=$(scaled 200 80)

# sleep_ms MS
sleep_ms() {
  sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
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
      sh -c 'echo "$MUSTER_JOB_ID $MUSTER_ATTEMPT" >>"$0"; sleep "$1"' "$PWD/ledger" {}
  fi
}

# finish_run MODE: run "t" to its end in the foreground.
finish_run() {
  local mode=$1
  if run_exists; then
    run_cmd muster resume t -q --no-stdout
  else
    run_cmd muster run -q --no-stdout -j 8 --name t --on-interrupt "$mode" -i delays.txt -- \
      sh -c 'echo "$MUSTER_JOB_ID $MUSTER_ATTEMPT" >>"$0"; sleep "$1"' "$PWD/ledger" {}
  fi
}

# crash_rounds MODE: 1-3 rounds of start + kill -9 at a random moment.
crash_rounds() {
  local mode=$1 rounds=$((1 + RANDOM % 3)) r delay
  for ((r = 1; r <= rounds; r++)); do
    start_round "$mode" "$r"
    delay=$(((RANDOM * 32768 + RANDOM) % 1500))
    sleep_ms "$delay"
    kill -9 "$BG_PID" 2>/dev/null
    wait_bg "$BG_PID" 30
    echo "round $r: killed after ${delay}ms (status $BG_STATUS)" >>trial.log
  done
}

# check_ledger MODE N: compare the ledger with the store; prints problems.
# Leaves the run's jobs (muster jobs t --json) in final.json.
check_ledger() {
  jobs_json t >final.json 2>/dev/null || echo '[]' >final.json
  "$E2E_PYTHON" - "$1" "$2" ledger final.json <<'EOF'
import collections, json, sys
mode, n, ledger, final = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = collections.defaultdict(list)
try:
    for line in open(ledger):
        job, attempt = line.split()
        runs[job].append(int(attempt))
except FileNotFoundError:
    pass
rows = {x["id"]: (x["state"], x["attempts"]) for x in json.load(open(final))}
problems = []
if len(rows) != n:
    problems.append(f"the run has {len(rows)} jobs, expected {n}")
for i in range(1, n + 1):
    job = str(i)
    state, attempts = rows.get(job, ("missing", 0))
    seen = runs.get(job, [])
    dup = [a for a, c in collections.Counter(seen).items() if c > 1]
    if dup:
        problems.append(f"job {job}: attempt(s) {dup} started more than once (ledger {seen})")
    if len(seen) > attempts:
        problems.append(f"job {job}: ran {len(seen)} times (ledger {seen}) but {attempts} attempts recorded")
    if mode == "requeue":
        if state != "succeeded":
            problems.append(f"job {job}: ended {state}, expected succeeded (ledger {seen})")
        elif attempts not in seen:
            problems.append(f"job {job}: succeeded at attempt {attempts}, which never ran (ledger {seen})")
        if seen and max(seen) > attempts:
            problems.append(f"job {job}: attempt {max(seen)} ran after the recorded attempts {attempts}")
    else:
        if len(seen) > 1:
            problems.append(f"job {job}: ran {len(seen)} times with --on-interrupt hold (ledger {seen})")
        if state == "succeeded" and len(seen) != 1:
            problems.append(f"job {job}: succeeded but the ledger has {seen}")
        if state not in ("succeeded", "interrupted"):
            problems.append(f"job {job}: ended {state}, expected succeeded or interrupted")
for job in runs:
    if job not in rows:
        problems.append(f"ledger has unknown job {job}")
print("\n".join(problems[:20]))
EOF
}

make_trial_dir() {
  mkdir -p "$T/trial$1"
  cd "$T/trial$1" || fail "cd trial$1"
  DB=$T/trial$1/.muster/muster.db
  local i
  for ((i = 0; i < $2; i++)); do
    printf '0.%03d\n' $((RANDOM % 51))
  done >delays.txt
}

test_kill9_requeue() {
  TEST "kill -9 at random moments, then resume: nothing lost, nothing succeeds twice (${CRASH_TRIALS} trials)"
  local trial problems rerun_total=0
  for ((trial = 1; trial <= CRASH_TRIALS; trial++)); do
    make_trial_dir "$trial" "$CRASH_JOBS"
    crash_rounds requeue
    finish_run requeue
    [[ $STATUS == 0 ]] || fail "trial $trial: the final resume exited $STATUS, expected 0 ($(paste -sd';' trial.log))"
    problems=$(check_ledger requeue "$CRASH_JOBS")
    [[ -z $problems ]] || fail "trial $trial ($(paste -sd';' trial.log)): $problems"
    expect_sql "PRAGMA integrity_check" ok "trial $trial: integrity"
    expect_json "run_json t" 'j["state"]' completed "trial $trial: run state"
    rerun_total=$((rerun_total + $(json_eval final.json 'sum(1 for x in j if x["attempts"] > 1)')))
    cd "$T" || fail "cd"
    rm -rf "$T/trial$trial"
  done
  echo "    ($rerun_total jobs were requeued over $CRASH_TRIALS trials)"
}

test_kill9_hold() {
  TEST "kill -9 at random moments with --on-interrupt hold: no job ever runs twice (${CRASH_TRIALS} trials)"
  local trial problems interrupted held_total=0
  for ((trial = 1; trial <= CRASH_TRIALS; trial++)); do
    make_trial_dir "$trial" "$CRASH_HOLD_JOBS"
    crash_rounds hold
    finish_run hold
    local final_status=$STATUS
    problems=$(check_ledger hold "$CRASH_HOLD_JOBS")
    [[ -z $problems ]] || fail "trial $trial ($(paste -sd';' trial.log)): $problems"
    expect_sql "PRAGMA integrity_check" ok "trial $trial: integrity"
    interrupted=$(json_eval final.json '"\n".join(x["id"] for x in j if x["state"] == "interrupted")')
    if [[ -n $interrupted ]]; then
      held_total=$((held_total + $(wc -l <<<"$interrupted")))
      # (That it exits exactly 1 is checked by the hold test below.)
      [[ $final_status != 0 ]] ||
        fail "trial $trial: resume left $(wc -l <<<"$interrupted") jobs interrupted but exited 0 (all succeeded)"
      # Held jobs stay held: another resume runs nothing.
      cp ledger ledger.before
      run_cmd muster resume t -q --no-stdout
      cmp -s ledger ledger.before || fail "trial $trial: a plain resume ran held jobs: $(diff ledger.before ledger | head)"
      expect_json jobs_json 'count("interrupted")' "$(wc -l <<<"$interrupted")" \
        "trial $trial: held jobs after a second resume"
      expect_exit 0 muster retry t --interrupted
      expect_json jobs_json 'count("interrupted")' 0 "trial $trial: interrupted after retry"
      cp ledger ledger.before
      expect_exit 0 muster resume t -q --no-stdout
      expect_json jobs_json 'count("succeeded")' "$CRASH_HOLD_JOBS" "trial $trial: succeeded after retry"
      local rerun
      rerun=$(diff ledger.before ledger | sed -n 's/^> \([^ ]*\) .*/\1/p' | sort -n)
      expect_eq "$(paste -sd' ' <<<"$rerun")" "$(paste -sd' ' <<<"$interrupted")" \
        "trial $trial: jobs run by retry --interrupted (exactly the held ones, once)"
    else
      [[ $final_status == 0 ]] || fail "trial $trial: the final resume exited $final_status with no job held"
      expect_json jobs_json 'count("succeeded")' "$CRASH_HOLD_JOBS" "trial $trial: succeeded"
    fi
    cd "$T" || fail "cd"
    rm -rf "$T/trial$trial"
  done
  echo "    ($held_total jobs were held over $CRASH_TRIALS trials)"
}

job_running_with_pid() {
  [[ $(json run_json 'sum(1 for r in j["running"] if r["pid"] is not None)' 2>/dev/null) -ge $1 ]]
}

marker_count_is() {
  [[ $(marker_pids "$1" | wc -l) -eq $2 ]]
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
  local i problems
  for i in 1 2 3 4 5; do
    make_trial_dir "$i" 50
    start_round hold 1
    sleep_ms $((i * 20))
    kill -9 "$BG_PID" 2>/dev/null
    wait_bg "$BG_PID" 30
    finish_run hold
    problems=$(check_ledger hold 50)
    [[ -z $problems ]] || fail "kill after $((i * 20))ms: $problems"
    expect_sql "PRAGMA integrity_check" ok
    cd "$T" || fail "cd"
  done
}

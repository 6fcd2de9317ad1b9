# End to end: rules (halt, block_key, exit codes, first match wins), the
# result file, limits (per-key concurrency, daily caps, start rate,
# priorities), run locks and job locks, and `muster why` / `muster locks`.
#
# Timing checks read the store's started_at/finished_at (epoch ms) or the
# start/end times the jobs record themselves (date +%s%N); they only assume
# that a halt's cooldown and a lock are honoured, never how fast a job starts.

# run_state: the state of the newest run ('' before there is one).
run_state() {
  json run_json 'j["state"]' 2>/dev/null
}

run_is_halted() {
  [[ $(run_state) == halted ]]
}

# job_state RUN JOB
job_state() {
  json "jobs_json $1" "job('$2')['state']" 2>/dev/null
}

job_is() {
  [[ $(job_state "$1" "$2") == "$3" ]]
}

# check_intervals FILE: FILE has lines "GROUP START_NS END_NS [...]". Prints
# one "overlap ..." line per pair of intervals of one group that overlap, then
# "groups N", "max_concurrent N" (all groups together) and
# "max_groups_at_once N" (distinct groups running at one moment).
check_intervals() {
  python3 - "$1" <<'EOF'
import sys
rows = []
with open(sys.argv[1]) as f:
    for line in f:
        p = line.split()
        if len(p) >= 3:
            rows.append((p[0], int(p[1]), int(p[2]), " ".join(p[3:])))
by = {}
for r in rows:
    by.setdefault(r[0], []).append(r)
for g, rs in sorted(by.items()):
    rs.sort(key=lambda r: r[1])
    for a, b in zip(rs, rs[1:]):
        if b[1] < a[2]:
            print("overlap %s: [%d, %d] %s and [%d, %d] %s (%.1f ms)"
                  % (g, a[1], a[2], a[3], b[1], b[2], b[3], (a[2] - b[1]) / 1e6))
events = sorted([(r[1], 1, r[0]) for r in rows] + [(r[2], -1, r[0]) for r in rows],
                key=lambda e: (e[0], e[1]))
cur = best = 0
live = {}
best_groups = 0
for t, d, g in events:
    cur += d
    live[g] = live.get(g, 0) + d
    best = max(best, cur)
    best_groups = max(best_groups, sum(1 for v in live.values() if v > 0))
print("groups %d" % len(by))
print("max_concurrent %d" % best)
print("max_groups_at_once %d" % best_groups)
EOF
}

# expect_no_overlap FILE GROUPS WHAT: no two intervals of a group overlap and
# FILE has GROUPS groups; sets MAXCONC and MAXGROUPS.
expect_no_overlap() {
  local report
  report=$(check_intervals "$1") || fail "could not read the intervals in $1"
  if grep -q '^overlap' <<<"$report"; then
    fail "$3: intervals of one group overlap: $(grep '^overlap' <<<"$report" | head -5)"
  fi
  expect_eq "$(sed -n 's/^groups //p' <<<"$report")" "$2" "$3: groups in $1"
  MAXCONC=$(sed -n 's/^max_concurrent //p' <<<"$report")
  MAXGROUPS=$(sed -n 's/^max_groups_at_once //p' <<<"$report")
}

# A job script that records "GROUP START_NS END_NS LABEL" in ./intervals
# around a sleep of $3 seconds: rec.sh GROUP LABEL SECONDS.
make_recorder() {
  cat >rec.sh <<'EOF'
#!/bin/sh
s=$(date +%s%N)
sleep "$3"
e=$(date +%s%N)
echo "$1 $s $e $2" >>intervals
EOF
  chmod +x rec.sh
}

# halt_config COOLDOWN: a muster.toml rule that halts on "rate limit".
halt_config() {
  local cooldown=$1
  cat <<TOML
[[rules]]
match = "rate limit"
action = "halt"
cooldown = "$cooldown"
TOML
}

# make_halting_job HALTER: ./job.sh ID appends ID to ./ran and sleeps 0.3s;
# job HALTER prints "rate limit" the first time it runs (hit.d marks that).
make_halting_job() {
  local halter=$1
  cat >job.sh <<EOF
#!/bin/sh
echo "\$1" >>ran
if [ "\$1" = $halter ] && mkdir hit.d 2>/dev/null; then
  echo "429: rate limit exceeded"
fi
sleep 0.3
EOF
  chmod +x job.sh
}

# ---------------------------------------------------------------------------
# Halts

test_halt_holds_claims_for_cooldown() {
  TEST "a halt rule (drain, cooldown 4s): no job starts during the cooldown, then the run completes by itself"
  # 4s, so that the reads below fit in the halt on a slow, sanitized build.
  local cooldown_ms=4000
  halt_config 4s >muster.toml
  make_halting_job 10
  start_bg m muster run -q -j 8 -- ./job.sh ::: $(seq 40)
  local pid=$BG_PID
  wait_until 30 run_is_halted || fail "the run never showed state 'halted' (state: $(run_state))"
  # The halting attempt's end is the halt's commit; the job's row is
  # overwritten by its next attempt, so read it now.
  local row fin resume_at state interrupts reason
  row=$(json run_json '"|".join("" if j[k] is None else str(j[k]) for k in ("resume_at_ms", "halt_reason"))')
  IFS='|' read -r resume_at reason <<<"$row"
  row+=$(json jobs_json '"|" + "|".join("" if job("10")[k] is None else str(job("10")[k]) for k in ("finished_at_ms", "state", "interrupts"))')
  IFS='|' read -r _ _ fin state interrupts <<<"$row"
  expect_eq "$state" pending "state of the halting job during the halt"
  expect_eq "$interrupts" 1 "interrupts of the halting job during the halt"
  expect_contains "$reason" "rate limit" "runs.halt_reason"
  [[ -n $fin && -n $resume_at ]] || fail "no finished_at/resume_at during the halt: '$row'"
  expect_ge "$((resume_at - fin))" "$((cooldown_ms - 50))" "runs.resume_at - finished_at of the halting attempt (ms)"
  expect_le "$((resume_at - fin))" "$((cooldown_ms + 500))" "runs.resume_at - finished_at of the halting attempt (ms)"
  wait_bg "$pid" 60
  expect_eq "$BG_STATUS" 0 "muster's exit status (it waits out the cooldown by itself)"
  expect_json runs_json 'each("state")' completed "the run's state"
  expect_json jobs_json 'count("succeeded")' 40 "succeeded jobs"
  # Nothing was claimed between the halt and the end of its cooldown.
  expect_json jobs_json "' '.join(x['id'] + '@+' + str(x['started_at_ms'] - $fin) + 'ms' for x in j if $fin < ms(x['started_at_ms']) < $fin + $cooldown_ms - 50)" \
    "" "jobs started during the cooldown (after the halt at $fin)"
  local after
  after=$(json jobs_json "sum(1 for x in j if ms(x['started_at_ms']) >= $fin + $cooldown_ms - 50)")
  expect_ge "$after" 10 "jobs started after the cooldown (the halt came early, most jobs were left)"
  # Every job ran once; the halting one twice, its first attempt not spent.
  expect_eq "$(sort -n ran | uniq -c | awk '$1 != 1 { print $2 "x" $1 }' | paste -sd' ')" "10x2" \
    "jobs that ran other than once"
  expect_eq "$(wc -l <ran)" 41 "lines in the run log"
  expect_json jobs_json 'cat(job("10"), "state", "attempts", "interrupts") + ":%d/%d" % (job("10")["attempts"] - job("10")["interrupts"], job("10")["max_attempts"])' \
    "succeeded:2:1:1/1" "halting job state:attempts:interrupts:spent/max"
  expect_json jobs_json 'sum(1 for x in j if x["interrupts"] != 0)' 1 "jobs with interrupts"
}

test_halt_no_wait_then_resume() {
  TEST "halt with --no-wait exits 3 with the run halted; after the cooldown resume -j 2 completes it"
  # A cooldown long enough that `muster status` still shows the halt on a
  # loaded machine.
  local cooldown_ms=8000
  halt_config 8s >muster.toml
  make_halting_job 3
  expect_exit 3 muster run -j 2 --no-wait -- ./job.sh ::: $(seq 10)
  expect_contains "$STDERR" "halted until" "muster's message"
  local run
  run=$(last_run_id)
  expect_exit 0 muster status "$run" --json
  expect_eq "$(json_eval .last.out 'j["state"]')" halted "status --json .state"
  expect_eq "$(json_eval .last.out 'j["resume_at"] is not None')" true "status --json has resume_at"
  expect_contains "$(json_eval .last.out 'j["halt_reason"]')" "rate limit" "status --json .halt_reason"
  expect_exit 0 muster status "$run"
  expect_contains "$STDOUT" "halted:" "status"
  expect_contains "$STDOUT" "rate limit" "status"
  local resume_at
  resume_at=$(json runs_json 'each("resume_at_ms")')
  expect_json runs_json 'each("state")' halted "runs.state"
  expect_json jobs_json 'cat(job("3"), "state", "interrupts")' "pending:1" "the halting job"
  expect_ge "$(count_state "$run" pending)" 5 "jobs left pending"
  wait_until 20 eval '(( $(now_ms) >= '"$resume_at"' ))' || fail "the cooldown never ended"
  expect_exit 0 muster resume "$run" -j 2 -q
  expect_json jobs_json 'count("succeeded")' 10 "succeeded jobs"
  expect_json jobs_json "sum(1 for x in j if $resume_at - $cooldown_ms < ms(x['started_at_ms']) < $resume_at - 50)" 0 \
    "jobs started during the cooldown"
  expect_json runs_json 'each("state")' completed "runs.state after resume"
  expect_eq "$(sort -n ran | uniq -c | awk '$1 != 1 { print $2 "x" $1 }' | paste -sd' ')" "3x2" \
    "jobs that ran other than once"
  expect_json jobs_json 'job("3")["attempts"] - job("3")["interrupts"]' 1 "attempts spent by the halting job"
}

# `muster resume RUN --no-wait` on a halted run ends at once, like `run`: its
# slots are never set up, so the check must not wait for them.
test_resume_no_wait_while_halted() {
  TEST "resume --no-wait of a halted run exits 3 at once and starts nothing"
  halt_config 4s >muster.toml
  make_halting_job 2
  expect_exit 3 muster run -q -j 1 --no-wait -- ./job.sh ::: 1 2 3 4
  local run t0 took
  run=$(last_run_id)
  expect_json runs_json 'each("state")' halted "runs.state"
  t0=$(now_ms)
  expect_exit 3 timeout 20 "$MUSTER_BIN" resume "$run" --no-wait -q
  took=$(($(now_ms) - t0))
  expect_le "$took" 3000 "time resume --no-wait took (ms)"
  expect_eq "$(count_state "$run" pending)" 3 "jobs still pending"
  expect_json runs_json 'each("state")' halted "runs.state after resume --no-wait"
}

test_halt_mode_stop() {
  TEST "halt_mode = \"stop\": running jobs are stopped and requeued without spending an attempt; the run completes"
  local m
  m=$(marker 1)
  {
    echo 'halt_mode = "stop"'
    halt_config 1s
  } >muster.toml
  cat >job.sh <<EOF
#!/bin/sh
echo "\$1 start" >>log
if [ "\$1" = 3 ] && mkdir hit.d 2>/dev/null; then
  # Halt only once the other first jobs run, so that the halt finds them.
  n=0
  while [ \$(grep -c start log) -lt 4 ] && [ \$n -lt 400 ]; do sleep 0.05; n=\$((n + 1)); done
  echo "rate limit"
  exit 0
fi
sleep $m
echo "\$1 end" >>log
EOF
  chmod +x job.sh
  expect_exit 0 muster run -q -j 4 -- ./job.sh ::: $(seq 8)
  expect_no_process "$m"
  expect_json jobs_json 'count("succeeded")' 8 "succeeded jobs"
  expect_json jobs_json '" ".join("%s:%d:%d" % (x["id"], x["interrupts"], x["attempts"] - x["interrupts"]) for x in j)' \
    "1:1:1 2:1:1 3:1:1 4:1:1 5:0:1 6:0:1 7:0:1 8:0:1" "id:interrupts:spent attempts"
  local j
  for j in 1 2 4; do
    expect_eq "$(grep -c "^$j start" log)" 2 "starts of job $j"
    expect_eq "$(grep -c "^$j end" log)" 1 "ends of job $j (its first attempt was stopped)"
  done
  for j in 5 6 7 8; do
    expect_eq "$(grep -c "^$j start" log)" 1 "starts of job $j"
  done
}

# ---------------------------------------------------------------------------
# Limits

test_daily_cap() {
  TEST "daily cap (--per-key-daily 3) with 8 slots: 3 starts per key, the rest waiting; --no-wait exits 4"
  {
    echo acct,n
    for i in $(seq 30); do echo "k$((i % 3)),$i"; done
  } >in.csv
  expect_exit 4 muster run -j 8 -i in.csv --key '{acct}' --per-key-daily 3 --no-wait -- \
    sh -c 'echo "{acct} $(date +%s%N)" >>starts; sleep 0.05'
  local run
  run=$(last_run_id)
  expect_json jobs_json 'groups("key", "state")' \
    "k0:succeeded:3 k0:waiting:7 k1:succeeded:3 k1:waiting:7 k2:succeeded:3 k2:waiting:7" "key:state:count"
  expect_eq "$(awk '{ print $1 }' starts | sort | uniq -c | awk '{ print $2 ":" $1 }' | paste -sd' ')" \
    "k0:3 k1:3 k2:3" "starts recorded per key"
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "waiting" and re.match(r"key k. at daily cap 3/3 until ", x["reason"] or ""))' 21 \
    "waiting jobs whose reason names the daily cap"
  expect_json jobs_json '[x["reason"] for x in j if x["state"] == "waiting" and x["key"] == "k1"][0]' \
    "$(json jobs_json '[x["reason"] for x in j if x["state"] == "waiting" and x["key"] == "k1"][-1]')" "the same reason for every waiting job of k1"
  expect_exit 0 muster jobs "$run"
  expect_contains "$STDOUT" "daily cap 3/3" "muster jobs"
  expect_exit 0 muster status "$run"
  expect_contains "$STDOUT" "daily cap 3/3" "muster status"
}

test_daily_cap_two_agents() {
  TEST "daily cap with two agents on one run (run + join): no key starts more than its cap"
  {
    echo acct,n
    for i in $(seq 60); do echo "k$((i % 4)),$i"; done
  } >in.csv
  start_bg a muster run -q -j 4 --name cap2 -i in.csv --key '{acct}' --per-key-daily 5 --no-wait -- \
    sh -c 'echo "{acct} $PPID" >>starts; sleep 0.3'
  local a=$BG_PID
  wait_until 10 test -s starts || fail "no job started"
  start_bg b muster join cap2 -j 4 -q --no-wait
  local b=$BG_PID
  wait_bg "$a" 60
  local sa=$BG_STATUS
  wait_bg "$b" 60
  [[ $sa == 4 || $BG_STATUS == 4 ]] || fail "neither agent ended with exit 4 (a: $sa, b: $BG_STATUS)"
  expect_eq "$(awk '{ print $1 }' starts | sort | uniq -c | awk '{ print $2 ":" $1 }' | paste -sd' ')" \
    "k0:5 k1:5 k2:5 k3:5" "starts per key, both agents together"
  expect_eq "$(awk '{ print $2 }' starts | sort -u | wc -l)" 2 "agents that started jobs"
  expect_json jobs_json 'count("waiting")' 40 "jobs waiting for the next window"
}

# next_window HH:MM ZONE: the next start of the daily window, as muster's
# reasons print it.
next_window() {
  python3 - "$1" "$2" <<'EOF'
import datetime, sys, zoneinfo
hh, mm = map(int, sys.argv[1].split(":"))
tz = zoneinfo.ZoneInfo(sys.argv[2])
now = datetime.datetime.now(tz)
t = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
if t <= now:
    t = (now + datetime.timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)
print(t.strftime("%Y-%m-%d %H:%M"))
EOF
}

test_store_scoped_limits() {
  TEST "limit_scope = \"store\": a daily cap and a per-key limit hold across the runs of the store; the default counts each run alone"
  {
    echo acct,n
    for i in $(seq 6); do echo "k$((i % 2)),$i"; done
  } >in.csv
  # Two runs at once, one from the config, one from flags: each key runs once
  # at a time in the whole store.
  make_recorder
  printf 'key = "{acct}"\nper_key = 1\nlimit_scope = "store"\n' >scope.toml
  start_bg a muster run -q -j 3 --config scope.toml -i in.csv -- ./rec.sh '{acct}' 'A{n}' 0.2
  local pa=$BG_PID
  start_bg b muster run -q -j 3 -i in.csv --key '{acct}' --per-key 1 --limit-scope store -- ./rec.sh '{acct}' 'B{n}' 0.2
  local pb=$BG_PID
  wait_bg "$pa" 60
  expect_eq "$BG_STATUS" 0 "run A's exit status"
  wait_bg "$pb" 60
  expect_eq "$BG_STATUS" 0 "run B's exit status"
  expect_eq "$(wc -l <intervals)" 12 "jobs recorded"
  expect_no_overlap intervals 2 "per_key 1 across two runs"
  # A daily cap of 3 per key: the first run uses 2 of k0 and 1 of k1 ...
  printf 'acct,n\nk0,1\nk0,2\nk1,3\n' >first.csv
  expect_exit 0 muster run -q --name first -i first.csv --key '{acct}' --per-key-daily 3 --limit-scope store -- true
  # ... so a second run gets 1 of k0 and 2 of k1; the rest wait for tomorrow.
  expect_exit 4 muster run -q --name second -i in.csv --key '{acct}' --per-key-daily 3 --limit-scope store --no-wait -- true
  expect_json "jobs_json second" 'groups("key", "state")' \
    "k0:succeeded:1 k0:waiting:2 k1:succeeded:2 k1:waiting:1" "key:state:count of the second run"
  expect_contains "$(json "jobs_json second" '[x["reason"] for x in j if x["state"] == "waiting"][0]')" \
    "at daily cap 3/3 in the store until" "the reason says the cap counts the store"
  # The default: each run counts its own, so a third run starts 3 of each.
  expect_exit 4 muster run -q --name third -i in.csv --key '{acct}' --per-key-daily 2 --no-wait -- true
  expect_json "jobs_json third" 'groups("key", "state")' \
    "k0:succeeded:2 k0:waiting:1 k1:succeeded:2 k1:waiting:1" "key:state:count of a run-scoped run"
  expect_exit 2 muster run -q --key k --per-key 1 --limit-scope host -- true ::: x
  expect_contains "$STDERR" "--limit-scope" "a bad --limit-scope"
  printf 'limit_scope = "everywhere"\n' >bad.toml
  expect_exit 2 muster validate --config bad.toml -- true ::: x
  expect_contains "$STDERR" "bad.toml:1" "a bad limit_scope names the file and line"
}

test_daily_cap_timezone_and_successes() {
  TEST "daily cap from the config: timezone Europe/Berlin, day_starts, count = successes"
  python3 -c 'import zoneinfo; zoneinfo.ZoneInfo("Europe/Berlin")' 2>/dev/null ||
    fail "python3 has no time zone data for Europe/Berlin"
  cat >muster.toml <<'TOML'
key = "{acct}"
per_key_daily = 2
timezone = "Europe/Berlin"
day_starts = "06:30"
count = "successes"
TOML
  {
    echo acct,n
    for i in $(seq 30); do echo "k$((i % 3)),$i"; done
  } >in.csv
  local before after
  before=$(next_window 06:30 Europe/Berlin)
  # Odd rows fail: failures do not count, so each key gets 2 successes.
  expect_exit 4 muster run -q -j 8 -i in.csv --no-wait -- sh -c 'echo "{acct} {n}" >>starts; exit $(( {n} % 2 ))'
  after=$(next_window 06:30 Europe/Berlin)
  expect_json jobs_json 'groups("key", of=[x for x in j if x["state"] == "succeeded"])' \
    "k0:2 k1:2 k2:2" "successes per key"
  expect_json jobs_json 'sum(1 for x in j if x["state"] not in ("succeeded", "failed", "waiting"))' 0 "jobs in other states"
  local reason
  reason=$(json jobs_json '[x["reason"] for x in j if x["state"] == "waiting" and x["key"] == "k0"][0]')
  expect_contains "$reason" "key k0 at daily cap 2/2 until" "reason of a waiting job"
  expect_contains "$reason" "Europe/Berlin" "reason of a waiting job"
  if [[ $reason != *"$before Europe/Berlin"* && $reason != *"$after Europe/Berlin"* ]]; then
    fail "reason should name the next window start '$before Europe/Berlin', got: $reason"
  fi
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "waiting" and not re.search("daily cap 2/2.*Europe/Berlin", x["reason"] or "", re.S))' 0 \
    "waiting jobs without the daily cap reason"
}

# cpu_ticks PID: user + system CPU time of PID, in clock ticks.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat") || return 1
  stat=${stat##*) }
  # After the command: state is field 3, utime 14 and stime 15.
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

# A retry held back by a limit (here the daily cap its first attempt used up)
# is no longer due: the agent must forget its retry time, sleep until the
# window opens, and with --no-wait exit 4 (it once spun at 100% CPU instead).
test_retry_held_by_daily_cap() {
  TEST "a retry held back by the daily cap waits idle; --no-wait exits 4"
  run_cmd timeout 6 "$MUSTER_BIN" --store nowait run -q --key k --per-key-daily 1 --retries 2 --backoff 100ms --no-wait -- false ::: a
  expect_eq "$STATUS" 4 "exit status of run --no-wait (124: killed by timeout 6)"
  DB=nowait/muster.db expect_json jobs_json 'each("state", "attempts")' "waiting:1" "the job after its first attempt"
  DB=nowait/muster.db expect_json jobs_json 'sum(1 for x in j if (x["reason"] or "").startswith("key k at daily cap 1/1 until "))' 1 "its reason"
  # Without --no-wait muster waits for the window: idle, not busy.
  start_bg m muster run -q --key k --per-key-daily 1 --retries 2 --backoff 100ms -- false ::: a
  local pid=$BG_PID run t0 t1 hz
  wait_until 30 eval '[[ -n $(last_run_id 2>/dev/null) ]]' || fail "no run"
  run=$(last_run_id)
  wait_until 30 job_is "$run" 1 waiting || fail "job 1 never waited (state $(job_state "$run" 1))"
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$pid") || fail "no /proc/$pid/stat"
  sleep 2
  t1=$(cpu_ticks "$pid") || fail "muster ended while it should wait for the window: $(cat m.err)"
  expect_le "$(((t1 - t0) * 1000 / hz))" 300 "CPU time muster used in 2s of waiting (ms)"
  kill -TERM "$pid"
  wait_bg "$pid" 30
}

test_per_key_concurrency() {
  TEST "per-key concurrency (--per-key 1) with 8 slots: no two jobs of one key overlap, different keys run side by side"
  make_recorder
  {
    echo acct,n
    for i in $(seq 24); do echo "k$((i % 4)),$i"; done
  } >in.csv
  expect_exit 0 muster run -q -j 8 -i in.csv --key '{acct}' --per-key 1 -- ./rec.sh '{acct}' 'job{n}' 0.2
  expect_eq "$(wc -l <intervals)" 24 "jobs recorded"
  expect_no_overlap intervals 4 "per-key 1"
  expect_le "$MAXCONC" 4 "most jobs running at once (4 keys)"
  expect_ge "$MAXGROUPS" 2 "most keys running at once"
  expect_json jobs_json 'count("succeeded")' 24 "succeeded jobs"
}

test_block_key() {
  TEST "block_key: a job of key A matching 'captcha' fails with error_type {match}; A's jobs not yet run are skipped"
  cat >muster.toml <<'TOML'
[[rules]]
match = "captcha|banned"
action = "fail"
block_key = true
error_type = "{match}"
TOML
  printf 'acct,n\nA,1\nB,2\nA,3\nB,4\nA,5\nC,6\nA,7\nB,8\nC,9\n' >in.csv
  # Job 3 (key A) meets a captcha, job 6 (key C) is banned; both exit 0.
  expect_exit 1 muster run -q -j 1 -i in.csv --key '{acct}' -- sh -c '
    echo "{acct} {n}" >>ran
    case {n} in 3) echo "please solve the captcha" ;; 6) echo "account banned" >&2 ;; esac
    exit 0'
  expect_json jobs_json 'each("id", "state", "error_type")' \
    "1:succeeded:- 2:succeeded:- 3:failed:captcha 4:succeeded:- 5:skipped:blocked 6:failed:banned 7:skipped:blocked 8:succeeded:- 9:skipped:blocked" \
    "id:state:error_type"
  expect_eq "$(paste -sd' ' ran)" "A 1 B 2 A 3 B 4 C 6 B 8" "jobs that ran, in order"
  expect_json jobs_json 'job("3")["attempts"]' 1 "attempts of the captcha job"
  local r5 r9
  r5=$(json jobs_json 'job("5")["reason"]')
  expect_contains "$r5" "key A" "reason of skipped job 5"
  expect_contains "$r5" "captcha" "reason of skipped job 5"
  r9=$(json jobs_json 'job("9")["reason"]')
  expect_contains "$r9" "key C" "reason of skipped job 9"
}

# ---------------------------------------------------------------------------
# Result file and rules

test_result_file() {
  TEST "the result file wins over the rules; a malformed one is a failed attempt with error_type result_file"
  cat >muster.toml <<'TOML'
retries = 3
backoff = "100ms"
[[rules]]
match = "try again"
action = "retry"
TOML
  cat >rf.sh <<'EOF'
#!/bin/sh
echo "$MUSTER_ATTEMPT" >>"runs.$1"
case "$1" in
  quota)
    echo "try again later"
    printf '{"outcome":"fail","error_type":"quota","message":"daily quota used up"}' >"$MUSTER_RESULT"
    exit 0 ;;
  ok)
    printf '{"outcome":"succeed"}' >"$MUSTER_RESULT"
    exit 1 ;;
  bad)
    echo "not json" >"$MUSTER_RESULT"
    exit 0 ;;
  later)
    # Only the first attempt writes a result; the second must not see it.
    if [ "$MUSTER_ATTEMPT" = 1 ]; then
      printf '{"outcome":"retry","retry_after":"0.2s","error_type":"busy"}' >"$MUSTER_RESULT"
    fi
    exit 0 ;;
esac
EOF
  chmod +x rf.sh
  expect_exit 1 muster run -q -j 2 -- ./rf.sh ::: quota ok bad later
  expect_json jobs_json 'each("id", "state", "attempts", "error_type")' \
    "1:failed:1:quota 2:succeeded:1:- 3:failed:3:result_file 4:succeeded:2:-" "id:state:attempts:error_type"
  expect_eq "$(wc -l <runs.quota)" 1 "runs of the quota job (the result file beats the retry rule)"
  expect_eq "$(wc -l <runs.bad)" 3 "runs of the job with a malformed result file"
  expect_json jobs_json 'job("1")["error"]' "daily quota used up" "message of the quota job"
  expect_contains "$(json jobs_json 'job("3")["error"]')" "result file" "error of the malformed result"
  expect_json jobs_json 'job("2")["exit_code"]' 1 "exit code kept for the succeeded job"
}

test_exit_code_rules() {
  TEST "exit_codes rules: 75 retries after retry_after (not --backoff), 3 succeeds, first match wins"
  cat >muster.toml <<'TOML'
[[rules]]
exit_codes = [75]
action = "retry"
retry_after = "0.2s"
error_type = "tempfail"

[[rules]]
match = "oops"
action = "fail"
error_type = "oops-first"

[[rules]]
exit_codes = [3]
action = "succeed"
TOML
  expect_exit 1 muster run -q -j 3 --retries 3 --backoff 5s -- \
    sh -c 'date +%s%3N >>"t.$1"; case "$1" in oops) echo oops; exit 3 ;; esac; exit "$1"' sh ::: 75 3 oops
  expect_json jobs_json 'each("id", "state", "attempts", "exit_code", "error_type")' \
    "1:failed:3:75:tempfail 2:succeeded:1:3:- 3:failed:1:3:oops-first" "id:state:attempts:exit:error_type"
  mapfile -t t <t.75
  expect_eq "${#t[@]}" 3 "attempts of the exit-75 job"
  local g1=$((t[1] - t[0])) g2=$((t[2] - t[1]))
  expect_ge "$g1" 150 "first retry delay (ms), retry_after 0.2s"
  expect_ge "$g2" 150 "second retry delay (ms)"
  expect_le "$g1" 3000 "first retry delay (ms): --backoff 5s would be >= 4000"
  expect_le "$g2" 3000 "second retry delay (ms)"
}

test_validate_rules() {
  TEST "validate rejects a bad pattern (file:line), an unknown rule key and block_key with retry; exit 2, nothing created"
  printf 'jobs = 2\n\n[[rules]]\nmatch = "(unclosed"\naction = "retry"\n' >muster.toml
  expect_exit 2 muster validate -- true ::: a
  expect_contains "$STDERR" "muster.toml:4" "bad pattern"
  expect_contains "$STDERR" "(unclosed" "bad pattern"
  expect_no_file .muster
  expect_exit 2 muster run -q -- true ::: a
  expect_contains "$STDERR" "muster.toml:4" "run with a bad pattern"
  expect_no_file .muster
  printf '[[rules]]\nmatch = "x"\naction = "retry"\nbogus = 1\n' >muster.toml
  expect_exit 2 muster validate -- true ::: a
  expect_contains "$STDERR" "muster.toml:4" "unknown key"
  expect_contains "$STDERR" "bogus" "unknown key"
  expect_no_file .muster
  printf '[[rules]]\nmatch = "x"\naction = "retry"\nblock_key = true\n' >muster.toml
  expect_exit 2 muster validate -- true ::: a
  expect_contains "$STDERR" "block_key" "block_key with retry"
  expect_match "$STDERR" "muster\\.toml:[0-9]+" "block_key with retry"
  expect_no_file .muster
  printf '[[rules]]\nmatch = "x"\naction = "retry"\ncooldown = "2s"\n' >muster.toml
  expect_exit 2 muster validate -- true ::: a
  expect_contains "$STDERR" "cooldown" "cooldown with retry"
  printf 'halt_mode = "pause"\n' >muster.toml
  expect_exit 2 muster validate -- true ::: a
  expect_contains "$STDERR" "halt_mode" "bad halt_mode"
  expect_no_file .muster
  printf '[[rules]]\nmatch = "x"\naction = "fail"\nblock_key = true\nerror_type = "{match}"\n' >muster.toml
  expect_exit 0 muster validate -- true ::: a
  expect_no_file .muster
}

test_pathological_pattern() {
  TEST "a rule (a+)+\$ over 1 MB of output runs in linear time"
  printf '[[rules]]\nmatch = "(a+)+$"\naction = "fail"\nerror_type = "redos"\n' >muster.toml
  local t0 took
  t0=$(now_ms)
  # Row x: a million a's and a b (no match); row y: only a's (a match).
  expect_exit 1 timeout 20 "$MUSTER_BIN" run -q --no-stdout -j 2 -- python3 -c \
    'import sys; sys.stdout.write("a" * 1000000 + ("b\n" if sys.argv[1] == "x" else ""))' ::: x y
  took=$(($(now_ms) - t0))
  expect_le "$took" "$(scaled 8000 15000)" "run time (ms)"
  expect_json jobs_json 'each("id", "state", "error_type")' \
    "1:succeeded:- 2:failed:redos" "id:state:error_type"
}

# ---------------------------------------------------------------------------
# Locks

test_run_locks() {
  TEST "run locks (--lock): a second run is refused (exit 3, nothing created), waits with --wait-locks, and runs after the holder"
  start_bg a muster run -q --lock src/utils.py --name "Build frontend" -- \
    sh -c 'date +%s%3N >a.start; n=0; while [ ! -e release ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done; date +%s%3N >a.end' ::: x
  local pa=$BG_PID
  wait_until 30 test -f a.start || fail "run A's job never started"
  expect_exit 3 muster run -q --lock src/utils.py -- sh -c 'touch b.ran' ::: y
  expect_contains "$STDERR" "lock src/utils.py held by run" "refusal"
  expect_contains "$STDERR" '"Build frontend"' "refusal"
  expect_contains "$STDERR" "$(json runs_json '[r["id"] for r in j if r["name"] == "Build frontend"][0]')" "refusal names the holder's id"
  expect_no_file b.ran
  expect_exit 0 muster list --json
  expect_eq "$(json_eval .last.out '[r["name"] for r in j]')" '["Build frontend"]' "runs in the store"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out '[[l["name"], l["run_name"]] for l in j]')" '[["src/utils.py", "Build frontend"]]' "locks --json"
  expect_exit 0 muster locks
  expect_contains "$STDOUT" "src/utils.py" "muster locks"
  # With --wait-locks (locks from the config), B waits for A.
  printf 'locks = ["src/utils.py", "src/other.py"]\n' >b.toml
  start_bg b muster run --config b.toml --wait-locks -- sh -c 'date +%s%3N >b.start' ::: y
  local pb=$BG_PID
  wait_until 30 grep -q "waiting: lock src/utils.py" b.err || fail "run B did not say it waits for the lock"
  expect_no_file b.start
  touch release
  wait_bg "$pa" 30
  expect_eq "$BG_STATUS" 0 "run A's exit status"
  wait_bg "$pb" 30
  expect_eq "$BG_STATUS" 0 "run B's exit status"
  expect_file_exists b.start
  expect_ge "$(cat b.start)" "$(cat a.end)" "start of B's job (ms) vs end of A's job"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out 'j')" '[]' "locks --json after both ended"
  expect_exit 0 muster locks
  expect_not_contains "$STDOUT" "src/utils.py" "muster locks after both ended"
  expect_json runs_json 'count("completed")' 2 "completed runs"
}

both_runs_running() {
  [[ $(json runs_json 'count("running")' 2>/dev/null) == 2 ]]
}

test_job_locks_across_runs() {
  TEST "job locks (--job-lock {device}): jobs of one device never overlap, across two runs on one store"
  make_recorder
  {
    echo device,n
    for i in $(seq 12); do echo "d$((i % 2)),$i"; done
  } >in.csv
  printf 'job_locks = "{device}"\n' >locks.toml
  start_bg a muster run -q -j 4 -i in.csv --job-lock '{device}' -- ./rec.sh '{device}' 'A{n}' 0.15
  local pa=$BG_PID
  start_bg b muster run -q -j 4 --config locks.toml -i in.csv -- ./rec.sh '{device}' 'B{n}' 0.15
  local pb=$BG_PID
  wait_until 30 both_runs_running || fail "the two runs were never running at the same time"
  wait_bg "$pa" 60
  expect_eq "$BG_STATUS" 0 "run A's exit status"
  wait_bg "$pb" 60
  expect_eq "$BG_STATUS" 0 "run B's exit status"
  expect_eq "$(wc -l <intervals)" 24 "jobs recorded"
  expect_no_overlap intervals 2 "job locks"
  expect_json jobs_json 'count("succeeded")' 24 "succeeded jobs"
  expect_json jobs_json '",".join(sorted({n for x in j for n in x["locks"]}))' "d0,d1" "jobs.locks"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out 'j')" '[]' "locks left held"
}

run_is_running() {
  [[ $(run_state) == running ]]
}

# job1_waits: job 1 of the newest run is waiting.
job1_waits() {
  [[ $(json jobs_json 'job("1")["state"]' 2>/dev/null) == waiting ]]
}

test_lock_and_unlock_at_run_time() {
  TEST "muster lock/unlock: store-wide locks of a named holder, all or none, named in conflicts; jobs wait for them and start once unlocked"
  expect_exit 0 muster lock src/app.py src/utils.py --holder s1
  expect_contains "$STDOUT" "locked src/app.py src/utils.py for s1" "lock"
  expect_exit 3 muster lock src/config.py src/utils.py --holder s2
  expect_contains "$STDERR" "lock src/utils.py held by s1 since" "conflict names the holder"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out '[[l["name"], l["holder"], l["run"]] for l in j]')" \
    '[["src/app.py", "s1", null], ["src/utils.py", "s1", null]]' "locks --json: all or none, src/config.py not taken"
  expect_exit 0 muster locks
  expect_match "$STDOUT" "src/utils.py +s1 " "muster locks names the holder"
  # A run that needs a held name is refused, naming the holder; nothing is made.
  expect_exit 3 muster run -q --lock src/app.py -- touch ran ::: x
  expect_contains "$STDERR" "lock src/app.py held by s1" "run refused"
  expect_no_file ran
  # Jobs that need a held name wait, and say for whom.
  printf 'file,n\nsrc/utils.py,1\nsrc/other.py,2\n' >in.csv
  start_bg r muster run -q -j 2 -i in.csv --job-lock '{file}' -- sh -c 'date +%s%3N >start.{n}'
  local pid=$BG_PID run
  wait_until 30 test -f start.2 || fail "the job of a free lock never started"
  wait_until 30 job1_waits || fail "job 1 never waited for src/utils.py"
  run=$(last_run_id)
  expect_contains "$(json jobs_json 'job("1")["reason"]')" "lock src/utils.py held by s1" "jobs.reason"
  expect_exit 0 muster why "$run" 1
  expect_contains "$STDOUT" "lock src/utils.py held by s1" "why"
  # Another holder cannot free them; the holder can, all at once.
  expect_exit 3 muster unlock src/utils.py --holder s2
  expect_contains "$STDERR" "held by s1" "unlock by another names the holder"
  expect_no_file start.1
  local freed_at
  freed_at=$(now_ms)
  expect_exit 0 muster unlock --holder s1 --json
  expect_eq "$(json_eval .last.out 'sorted(j["unlocked"])')" '["src/app.py", "src/utils.py"]' "unlock --json"
  wait_bg "$pid" 30
  expect_eq "$BG_STATUS" 0 "the run's exit status once unlocked"
  expect_ge "$(cat start.1)" "$freed_at" "start of the job that waited (ms) vs the unlock"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out 'j')" '[]' "locks left"
  expect_exit 0 muster unlock src/utils.py --holder s1
  expect_contains "$STDOUT" "s1 held none of these locks" "unlocking twice is no error"
  # --wait waits until every name is free, takes none meanwhile, then all.
  expect_exit 0 muster lock w1 --holder s1
  start_bg w muster lock w1 w2 --holder s5 --wait
  local pw=$BG_PID
  wait_until 30 grep -q "waiting: lock w1 held by s1" w.err || fail "lock --wait did not say it waits"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out '[[l["name"], l["holder"]] for l in j]')" '[["w1", "s1"]]' "locks while s5 waits"
  expect_exit 0 muster unlock w1 --holder s1
  wait_bg "$pw" 30
  expect_eq "$BG_STATUS" 0 "lock --wait's exit status"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out '[[l["name"], l["holder"]] for l in j]')" '[["w1", "s5"], ["w2", "s5"]]' "locks once s5 took them"
  expect_exit 0 muster unlock --holder s5 -q
  # Bad input: clear errors, exit 2, nothing taken.
  expect_exit 2 muster lock x
  expect_contains "$STDERR" "--holder" "missing --holder"
  expect_exit 2 muster lock x --holder s1 --ttl soon
  expect_contains "$STDERR" "--ttl" "bad --ttl"
  expect_exit 2 muster lock "$(printf 'a\nb')" --holder s1
  expect_contains "$STDERR" "control character" "a name with a newline"
  expect_exit 2 muster lock x --holder s1 --pid 999999999
  expect_contains "$STDERR" "--pid" "a --pid that does not run"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out 'j')" '[]' "locks after bad input"
}

test_locks_of_gone_holders_are_freed() {
  TEST "muster lock --ttl and --pid: a lock past its time, or whose process died, is freed and its waiting job starts"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster lock gpu --holder s3 --ttl 1500ms
  expect_exit 0 muster run -q --job-lock gpu -- sh -c 'date +%s%3N >gpu.start' ::: x
  expect_ge "$(cat gpu.start)" "$((t0 + 1500))" "start of the job (ms) vs the lock's expiry"
  sleep 60 &
  local holder=$!
  expect_exit 0 muster lock phone --holder s4 --pid "$holder"
  start_bg p muster run -q --heartbeat 1s --job-lock phone -- sh -c 'date +%s%3N >phone.start' ::: y
  local pid=$BG_PID
  wait_until 30 job1_waits || fail "the job never waited for the lock of a live process"
  expect_no_file phone.start
  local killed_at
  killed_at=$(now_ms)
  kill "$holder"
  wait "$holder" 2>/dev/null
  wait_bg "$pid" 30
  expect_eq "$BG_STATUS" 0 "exit status once the holder died"
  expect_ge "$(cat phone.start)" "$killed_at" "start of the job (ms) vs the holder's death"
  expect_lt "$(($(cat phone.start) - killed_at))" "$(scaled 10000 20000)" "ms from the holder's death to the job's start"
}

test_job_with_several_locks() {
  TEST "job locks as a list: a job holds every lock of its templates at once, or waits"
  printf '%s\n' '#!/bin/sh' 's=$(date +%s%N)' 'sleep 0.15' 'e=$(date +%s%N)' \
    'echo "$1 $s $e" >>devices' 'echo "$2 $s $e" >>accounts' >rec2.sh
  chmod +x rec2.sh
  {
    echo device,account
    for i in $(seq 16); do echo "d$((i % 2)),a$((i % 4 / 2))"; done
  } >in.csv
  printf 'job_locks = ["{device}", "acct-{account}"]\n' >several.toml
  expect_exit 0 muster run -q -j 4 --config several.toml -i in.csv -- ./rec2.sh '{device}' '{account}'
  expect_eq "$(wc -l <devices)" 16 "jobs recorded"
  expect_no_overlap devices 2 "device locks"
  expect_no_overlap accounts 2 "account locks"
  expect_json jobs_json 'sorted({",".join(x["locks"]) for x in j})' '["d0,acct-a0", "d0,acct-a1", "d1,acct-a0", "d1,acct-a1"]' "jobs.locks"
  expect_exit 0 muster locks --json
  expect_eq "$(json_eval .last.out 'j')" '[]' "locks left held"
  # The same from flags; a row whose lock name would hold a newline is refused.
  printf 'device,account\nd1,"a\nb"\n' >bad.csv
  expect_exit 2 muster run -q -i bad.csv --job-lock '{device}' --job-lock '{account}' -- true
  expect_contains "$STDERR" "bad.csv:2" "the error names the row"
  expect_contains "$STDERR" "control character" "the error says why"
}

# ---------------------------------------------------------------------------
# why, priorities, rate

test_why() {
  TEST "muster why: a waiting job's reason and limits; a pending job of a halted run names the halt"
  printf 'acct,n\nacct1,1\nacct1,2\n' >in.csv
  start_bg m muster run -q -j 2 -i in.csv --key '{acct}' --per-key 1 -- \
    sh -c 'n=0; while [ ! -e release ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done; echo {n}'
  local pid=$BG_PID run
  wait_until 30 eval '[[ -n $(last_run_id 2>/dev/null) ]]' || fail "no run"
  run=$(last_run_id)
  wait_until 30 job_is "$run" 2 waiting || fail "job 2 never waited (state $(job_state "$run" 2))"
  expect_json jobs_json 'job("2")["reason"]' "key acct1 busy: 1/1 running" "jobs.reason"
  expect_exit 0 muster why "$run" 2
  expect_contains "$STDOUT" "waiting" "why"
  expect_contains "$STDOUT" "key acct1 busy: 1/1 running" "why"
  expect_exit 0 muster why "$run" 2 --json
  expect_eq "$(json_eval .last.out 'j["state"]')" waiting "why --json .state"
  expect_eq "$(json_eval .last.out '[w["text"] for w in j["why"] if "busy" in w["text"]]')" '["key acct1 busy: 1/1 running"]' "why --json .why"
  expect_eq "$(json_eval .last.out '[(w["kind"], w["key"], w["count"], w["limit"], len(w["holders"])) for w in j["why"]]')" \
    '[["key_running", "acct1", 1, 1, 1]]' "why --json: a structured reason that names the job holding the key"
  expect_contains "$(json_eval .last.out 'j["limits"]')" "key acct1 is used by job" "why names the key's holder"
  expect_contains "$(json_eval .last.out 'j["limits"]')" "key acct1: 1/1 running" "why --json .limits"
  expect_exit 0 muster jobs "$run"
  expect_contains "$STDOUT" "key acct1 busy: 1/1 running" "muster jobs"
  expect_exit 0 muster status "$run"
  expect_contains "$STDOUT" "waiting: job 2: key acct1 busy" "muster status"
  touch release
  wait_bg "$pid" 30
  expect_eq "$BG_STATUS" 0 "exit status"
  expect_json jobs_json 'each("state")' "succeeded succeeded" "states"

  # A second run, halted for 10 minutes: its pending jobs wait for the halt.
  halt_config 10m >halt.toml
  make_halting_job 2
  expect_exit 3 muster run -q -j 1 --no-wait --config halt.toml -- ./job.sh ::: 1 2 3 4
  local hrun
  hrun=$(last_run_id)
  expect_eq "$(job_state "$hrun" 3)" pending "state of job 3"
  expect_exit 0 muster why "$hrun" 3
  expect_contains "$STDOUT" "halted" "why for a pending job of a halted run"
  expect_contains "$STDOUT" "rate limit" "why names the halt's reason"
  expect_exit 0 muster why "$hrun" 3 --json
  expect_contains "$(json_eval .last.out 'j["why"]')" "halted" "why --json .why"
  expect_exit 0 muster why "$hrun" 2
  expect_contains "$STDOUT" "halted" "why for the halting job"
}

test_priority_order() {
  TEST "priorities (--priority {prio}) with -j 1: higher priority first, ties in input order"
  printf 'name,prio\na,1\nb,5\nc,-2\nd,10\ne,5\nf,0\ng,7\n' >in.csv
  expect_exit 0 muster run -q -j 1 -i in.csv --priority '{prio}' -- sh -c 'echo {name} >>order'
  expect_eq "$(paste -sd' ' order)" "d g b e a f c" "order the jobs ran in"
  expect_json jobs_json 'each("priority")' "1 5 -2 10 5 0 7" "jobs.priority"
  # The same from the config.
  printf 'priority = "{prio}"\njobs = 1\n' >prio.toml
  expect_exit 0 muster run -q --config prio.toml -i in.csv -- sh -c 'echo {name} >>order2'
  expect_eq "$(paste -sd' ' order2)" "d g b e a f c" "order with priority from the config"
}

test_rate_limit() {
  TEST "start rate (--rate 10/s): 11 starts take at least a second"
  expect_exit 0 muster run -q -j 4 --rate 10/s -- true ::: $(seq 11)
  local span
  span=$(json jobs_json 'max(x["started_at_ms"] for x in j) - min(x["started_at_ms"] for x in j)')
  expect_ge "$span" 900 "time from the first start to the last (ms)"
  # Any 6 consecutive starts span at least 5 intervals.
  local starts i
  starts=$(json jobs_json '" ".join(str(t) for t in sorted(x["started_at_ms"] for x in j))')
  read -r -a s <<<"$starts"
  expect_eq "${#s[@]}" 11 "jobs started"
  for ((i = 0; i + 5 < ${#s[@]}; i++)); do
    expect_ge "$((s[i + 5] - s[i]))" 300 "6 consecutive starts (ms), starts: $starts"
  done
}

test_max_halts_ends_a_halt_that_always_recurs() {
  TEST "a halt whose trigger always recurs: past max_halts the job fails and the run ends"
  { halt_config 100ms; echo "max_halts = 2"; } >muster.toml
  expect_exit 1 muster run -q -j 1 -- sh -c 'echo "rate limit"; exit 1' ::: a
  expect_json jobs_json 'j[0]["state"]' failed "the job that keeps halting the run"
  expect_json jobs_json 'j[0]["interrupts"]' 2 "halts before it failed"
  expect_json jobs_json 'j[0]["halts"]' 2 "counted as halts"
  expect_exit 0 muster jobs "$(last_run_id)"
  expect_contains "$STDOUT" "1/1 +2 halted" "muster jobs shows them as halts"
  expect_not_contains "$STDOUT" "interrupted" "... not as interruptions"
  expect_contains "$(json jobs_json 'j[0]["error"]')" "max_halts = 2" "its error says why"
  expect_json run_json 'j["state"]' completed "the run"
}

test_halt_on_failure() {
  TEST "--halt now,fail=1 stops at the first failure, starts nothing after it, and stays resumable"
  expect_exit 1 muster run -j 1 --name h --halt now,fail=1 -- sh -c 'echo "$1" >>ran; [ "$1" != 2 ]' sh ::: 1 2 3 4
  expect_eq "$(paste -sd' ' ran)" "1 2" "jobs started"
  expect_contains "$STDERR" "--halt now,fail=1: 1 job(s) failed" "what muster says"
  expect_eq "$(json jobs_json 'groups("state")')" "failed:1 pending:2 succeeded:1" "job states"
  expect_exit 1 muster resume h -q
  expect_eq "$(paste -sd' ' ran)" "1 2 3 4" "jobs started after resume"
  expect_exit 2 muster run --halt soon,fail=0 -- true ::: a
  expect_contains "$STDERR" "--halt: expected" "a bad --halt"
}

test_load_and_memfree_hold_new_jobs() {
  TEST "--load and --memfree: no job starts while the machine is past them, and muster says why"
  local flag
  for flag in "--load 0.0001" "--memfree 1000000G"; do
    rm -f ran
    # shellcheck disable=SC2086
    start_bg m muster run -j 1 $flag -- sh -c 'echo x >>ran' ::: a
    wait_until 30 grep -q "no new jobs: " "$T/m.err" || fail "$flag: muster did not say why no job starts: $(cat "$T/m.err")"
    [[ ! -e ran ]] || fail "$flag: a job started"
    # The agent's next heartbeat tells other terminals why.
    wait_until 15 eval '[[ $(muster why "$(last_run_id)" 1 2>&1) == *"starts no new job: "* ]]' ||
      fail "$flag: muster why did not say why: $(muster why "$(last_run_id)" 1 2>&1)"
    kill -TERM "$BG_PID"
    wait_bg "$BG_PID" 30
    expect_eq "$BG_STATUS" 130 "$flag: exit status after SIGTERM"
  done
  expect_contains "$(cat "$T/m.err")" "below --memfree" "the memory reason"
  expect_exit 2 muster run --memfree lots -- true ::: a
  expect_contains "$STDERR" "--memfree" "a bad --memfree"
  expect_json runs_json 'len(j)' 2 "runs (a bad --memfree creates none)"
}

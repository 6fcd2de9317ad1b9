# End to end: graceful shutdown on SIGINT/SIGTERM/SIGHUP (invariant 5) and
# the lock that keeps a second muster off a held run.

running_with_pids() {
  [[ $(json run_json 'sum(1 for r in j["running"] if r["pid"] is not None)' 2>/dev/null) -ge $1 ]]
}

# jobs_summary: "state:count ..." of all jobs, by state name.
jobs_summary() {
  json jobs_json 'groups("state")'
}

# The jobs of drain_test: they wait for $T/go, so they are still running when
# the signal comes however slow the machine is.
gated_pids() {
  pgrep -f "^sh -c echo .*$T/go"
}

# drain_test SIGNAL [group]: two jobs run, then SIGNAL. Once muster says it
# claims no more, the jobs are let finish; they succeed within the grace
# period, nothing new starts, exit 130; resume runs the rest.
drain_test() {
  local sig=$1 group=${2:-}
  local job="echo \$MUSTER_JOB_ID >>'$T/ledger'; until [ -e '$T/go' ]; do sleep 0.05; done"
  if [[ -n $group ]]; then
    start_bg m setsid muster run -j 2 --name s -- sh -c "$job" ::: 1 2 3 4 5 6
  else
    start_bg m muster run -j 2 --name s -- sh -c "$job" ::: 1 2 3 4 5 6
  fi
  local pid=$BG_PID
  wait_until 30 running_with_pids 2 || fail "two jobs never ran"
  wait_until 30 eval '[[ $(gated_pids | wc -l) -eq 2 ]]' || fail "the two job processes never ran"
  local t0
  t0=$(now_ms)
  if [[ -n $group ]]; then
    kill "-$sig" -- "-$pid"
  else
    kill "-$sig" "$pid"
  fi
  wait_until 30 grep -q "SIG$sig: no new jobs" "$T/m.err" || fail "muster did not say it drains: $(cat "$T/m.err")"
  touch "$T/go"
  wait_bg "$pid" 60
  local took=$(($(now_ms) - t0))
  expect_eq "$BG_STATUS" 130 "muster's exit status after SIG$sig"
  wait_until 3 eval '! gated_pids >/dev/null' || fail "job processes still running: $(gated_pids | paste -sd' ')"
  expect_eq "$(jobs_summary)" "pending:4 succeeded:2" "job states after the drain"
  expect_json jobs_json 'sum(x["attempts"] for x in j)' 2 "attempts started (no claim after the signal)"
  expect_eq "$(wc -l <"$T/ledger")" 2 "jobs run"
  expect_le "$took" 15000 "time from SIG$sig to exit (ms)"
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "succeeded" and x["exit_code"] == 0 and x["attempts"] == 1)' 2
  expect_exit 0 muster resume s -q
  expect_eq "$(jobs_summary)" "succeeded:6" "job states after resume"
  expect_json jobs_json 'sum(x["attempts"] for x in j)' 6 "attempts in all"
  expect_eq "$(sort -n "$T/ledger" | paste -sd' ')" "1 2 3 4 5 6" "jobs run in all"
  [[ -z $(gated_pids) ]] || fail "job processes still running after resume: $(gated_pids | paste -sd' ')"
}

test_ctrl_c_drains() {
  TEST "Ctrl-C (SIGINT to muster's process group) drains, exits 130, and the run resumes"
  drain_test INT group
}

test_sigint_drains() {
  TEST "SIGINT to muster drains, exits 130, and the run resumes"
  drain_test INT
}

test_sigterm_drains() {
  TEST "SIGTERM behaves like SIGINT"
  drain_test TERM
}

test_sighup_drains() {
  TEST "SIGHUP behaves like SIGINT"
  drain_test HUP
}

test_grace_expires() {
  TEST "--grace 1s: long jobs are stopped, recorded interrupted, and requeued by resume"
  local m
  m=$(marker 60)
  # Each job starts a grandchild too; both must go.
  start_bg m muster run -j 2 --name g --grace 1s --kill-grace 2s -- \
    sh -c "[ -e '$T/again' ] && exit 0; sleep $m & sleep $m; wait" ::: 1 2 3
  local pid=$BG_PID
  wait_until 30 running_with_pids 2 || fail "two jobs never ran"
  wait_until 30 marker_count_is "$m" 4 || fail "the jobs' processes never ran"
  local t0
  t0=$(now_ms)
  kill -INT "$pid"
  wait_bg "$pid" 60
  local took=$(($(now_ms) - t0))
  expect_eq "$BG_STATUS" 130 "muster's exit status"
  expect_no_process "$m" 3
  expect_ge "$took" 900 "time from SIGINT to exit (ms): the grace period"
  expect_le "$took" 15000 "time from SIGINT to exit (ms)"
  expect_eq "$(jobs_summary)" "interrupted:2 pending:1" "job states after the grace period"
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "interrupted" and x["error_type"] == "interrupted")' 2 "error_type"
  touch "$T/again"
  expect_exit 0 muster resume g -q
  expect_eq "$(jobs_summary)" "succeeded:3" "job states after resume"
  expect_json jobs_json 'each("attempts")' "2 2 1" "attempts"
}

test_grace_expires_hold() {
  TEST "--grace 1s with --on-interrupt hold: stopped jobs stay interrupted until retry"
  local m
  m=$(marker 60)
  start_bg m muster run -j 1 --name h --grace 1s --kill-grace 1s --on-interrupt hold -- \
    sh -c "[ -e '$T/again' ] && exit 0; exec sleep $m" ::: 1 2
  local pid=$BG_PID
  wait_until 30 running_with_pids 1 || fail "the job never ran"
  kill -INT "$pid"
  wait_bg "$pid" 60
  expect_eq "$BG_STATUS" 130 "muster's exit status"
  expect_no_process "$m" 3
  expect_eq "$(jobs_summary)" "interrupted:1 pending:1" "job states"
  touch "$T/again"
  run_cmd muster resume h -q
  expect_eq "$(jobs_summary)" "interrupted:1 succeeded:1" "job states after resume"
  expect_exit 0 muster retry h --interrupted
  expect_exit 0 muster resume h -q
  expect_eq "$(jobs_summary)" "succeeded:2" "job states after retry and resume"
}

test_second_sigint_stops_at_once() {
  TEST "a second SIGINT stops at once"
  local m
  m=$(marker 60)
  # The jobs ignore SIGTERM, so only SIGKILL stops them.
  start_bg m muster run -j 2 --name x --grace 60s --kill-grace 30s -- \
    sh -c "[ -e '$T/again' ] && exit 0; trap '' TERM; exec sleep $m" ::: 1 2 3
  local pid=$BG_PID
  wait_until 30 running_with_pids 2 || fail "two jobs never ran"
  wait_until 30 marker_count_is "$m" 2 || fail "the job processes never ran"
  kill -INT "$pid"
  sleep 1
  pid_gone "$pid" && fail "muster ended on the first SIGINT instead of draining (grace 60s)"
  marker_count_is "$m" 2 || fail "the first SIGINT stopped the running jobs"
  local t0
  t0=$(now_ms)
  kill -INT "$pid"
  wait_bg "$pid" 60
  local took=$(($(now_ms) - t0))
  expect_eq "$BG_STATUS" 130 "muster's exit status"
  expect_le "$took" 5000 "time from the second SIGINT to exit (ms)"
  expect_no_process "$m" 3
  expect_eq "$(jobs_summary)" "interrupted:2 pending:1" "job states"
  touch "$T/again"
  expect_exit 0 muster resume x -q
  expect_eq "$(jobs_summary)" "succeeded:3" "job states after resume"
}

test_sigterm_then_sigint() {
  TEST "SIGTERM then SIGINT also stops at once"
  local m
  m=$(marker 60)
  start_bg m muster run -j 1 --name y --grace 60s -- sh -c "exec sleep $m" ::: 1
  local pid=$BG_PID
  wait_until 30 marker_count_is "$m" 1 || fail "the job never ran"
  kill -TERM "$pid"
  sleep 0.5
  kill -INT "$pid"
  wait_bg "$pid" 20
  expect_eq "$BG_STATUS" 130 "muster's exit status"
  expect_no_process "$m" 3
  expect_eq "$(jobs_summary)" "interrupted:1" "job states"
}

test_signal_during_retry_wait() {
  TEST "SIGINT while a job waits to retry: exit 130 at once, the job resumes later"
  start_bg m muster run -q --name r --retries 2 --backoff 1m -- sh -c '[ -e again ] || exit 1' ::: 1
  local pid=$BG_PID
  wait_until 30 eval '[[ $(json jobs_json "each(\"state\")" 2>/dev/null) == retrying ]]' || fail "the job never waited to retry"
  local t0
  t0=$(now_ms)
  kill -INT "$pid"
  wait_bg "$pid" 60
  expect_eq "$BG_STATUS" 130 "muster's exit status"
  expect_le "$(($(now_ms) - t0))" 10000 "time to exit (ms)"
  expect_eq "$(jobs_summary)" "retrying:1" "job states"
}

test_second_agent_refused() {
  TEST "a second muster run --name N on a held run exits 3 naming the holder; after kill -9 it takes over"
  local m
  m=$(marker 30)
  local -a cmd=(sh -c "echo \$MUSTER_JOB_ID >>'$T/ledger'; [ -e '$T/fast' ] || exec sleep $m")
  start_bg first muster run -q -j 1 --name N -- "${cmd[@]}" ::: 1 2
  local pid1=$BG_PID
  wait_until 30 marker_count_is "$m" 1 || fail "the first muster's job never ran"
  expect_exit 3 muster run -q -j 1 --name N -- "${cmd[@]}" ::: 1 2
  expect_contains "$STDERR" "$pid1" "the refusal names the holder's pid"
  # resume of a live run is a control request to its agent, not a second agent.
  expect_exit 0 muster resume N
  expect_contains "$STDERR" "its agent (pid $pid1) continues" "resume of a live run"
  expect_exit 0 muster status N --json
  expect_eq "$(json_eval .last.out 'j["holder"]["pid"]')" "$pid1" "status --json holder.pid"
  pid_gone "$pid1" && fail "the first muster died"
  marker_count_is "$m" 1 || fail "the refused muster disturbed the running job"
  expect_eq "$(wc -l <"$T/ledger")" 1 "jobs started (the refused muster started none)"
  kill -9 "$pid1"
  wait_bg "$pid1" 10
  expect_no_process "$m" 5
  touch "$T/fast"
  expect_exit 0 muster run -q -j 1 --name N -- "${cmd[@]}" ::: 1 2
  expect_eq "$(jobs_summary)" "succeeded:2" "job states after the takeover"
  expect_eq "$(sort "$T/ledger" | paste -sd' ')" "1 1 2" "jobs run (job 1 again: it was cut short)"
  expect_json runs_json 'len(j)' 1 "runs"
}

test_second_agent_refused_after_drain_started() {
  TEST "a run that is draining is still held"
  local m
  m=$(marker 3)
  start_bg first muster run -q -j 1 --name D -- sh -c "exec sleep $m" ::: 1 2
  local pid1=$BG_PID
  wait_until 30 marker_count_is "$m" 1 || fail "the job never ran"
  kill -INT "$pid1"
  sleep 0.3
  expect_exit 3 muster run -q -j 1 --name D -- sh -c "exec sleep $m" ::: 1 2
  expect_contains "$STDERR" "$pid1" "the refusal names the holder's pid"
  wait_bg "$pid1" 30
  expect_eq "$BG_STATUS" 130 "the first muster's exit status"
  expect_eq "$(jobs_summary)" "pending:1 succeeded:1" "job states"
}

test_deadline_bounds_the_run() {
  TEST "--deadline stops the running jobs as a cancel does, leaves the rest pending, exits 124, and resume continues"
  local m t0
  m=$(marker 60)
  t0=$(now_ms)
  expect_exit 124 muster run -j 2 --name dl --deadline 1s --kill-grace 1s \
    -- sh -c "trap '' TERM; echo began {}; if [ {} = quick ]; then exit 0; fi; exec sleep $m" ::: quick slow1 slow2 slow3
  expect_lt $(($(now_ms) - t0)) "$(scaled 4000 8000)" "ms until muster exited (deadline 1s, kill grace 1s)"
  # The output of the jobs it stopped is printed, as a job's that ended.
  expect_eq "$(sort <<<"$STDOUT" | paste -sd' ')" "began quick began slow1 began slow2" "stdout: every attempt's output"
  expect_contains "$STDERR" "── job 2 interrupted: muster was stopped while the job ran" "the header of a stopped job"
  expect_contains "$STDERR" "--deadline 1.0s passed: stopping 2 running job(s)" "the notice"
  expect_contains "$STDERR" "muster resume dl" "how to go on"
  marker_gone "$m" || fail "jobs survived the deadline: $(marker_pids "$m" | tr '\n' ' ')"
  expect_eq "$(jobs_summary)" "interrupted:2 pending:1 succeeded:1" "the jobs after the deadline"
  expect_eq "$(run_state)" paused "the run's state"
  # resume takes a deadline of its own.
  expect_exit 124 muster resume dl -q --deadline 1s
  marker_gone "$m" || fail "jobs survived the resumed run's deadline"
  expect_json jobs_json 'sum(x["interrupts"] for x in j)' 4 "interrupted attempts over both stints"
}

test_deadline_flag_is_checked() {
  TEST "a bad --deadline is a usage error and creates nothing"
  expect_exit 2 muster run --deadline 0s -- true ::: a
  expect_contains "$STDERR" "--deadline: must be more than 0"
  expect_exit 2 muster run --deadline soon -- true ::: a
  expect_contains "$STDERR" "--deadline: invalid duration 'soon'"
  expect_no_file .muster/muster.db
}

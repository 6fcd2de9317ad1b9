# Process tests: retries with backoff, timeouts that leave no process behind,
# exit codes and signals, and the output cap.

test_fails_twice_then_succeeds() {
  TEST "--retries 3: a job that fails twice then succeeds ends succeeded after 3 attempts"
  cat >flaky.sh <<'EOF'
#!/bin/sh
# Fails on its first two runs: the count lives in a file per job.
f="count.$MUSTER_JOB_ID"
n=$(( $(cat "$f" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$f"
echo "$MUSTER_ATTEMPT $1" >>"attempts.$MUSTER_JOB_ID"
[ "$n" -ge 3 ]
EOF
  chmod +x flaky.sh
  expect_exit 0 muster run -q -j 2 --retries 3 --backoff 100ms -- ./flaky.sh {attempt} ::: a b
  expect_json jobs_json 'each("id", "state", "attempts", "max_attempts")' "1:succeeded:3:3 2:succeeded:3:3"
  expect_eq "$(paste -sd' ' attempts.1)" "1 1 2 2 3 3" "MUSTER_ATTEMPT and {attempt} per run"
  expect_json jobs_json 'job("1")["exit_code"]' 0 "exit code of the last attempt"
}

test_always_fails() {
  TEST "--retries 3: a job that always fails ends failed with attempts = 3"
  expect_exit 1 muster run -q --retries 3 --backoff 100ms -- sh -c 'echo x >>"runs.$MUSTER_JOB_ID"; exit 7' ::: a
  expect_json jobs_json 'each("state", "attempts", "max_attempts", "exit_code")' "failed:3:3:7"
  expect_eq "$(wc -l <runs.1)" 3 "times run"
  expect_exit 0 muster jobs "$(last_run_id)" --state failed --json
  expect_eq "$(json_eval .last.out '[x["id"] for x in j]')" '["1"]' "jobs --state failed"
}

retrying_with_retry_at() {
  json jobs_json 'sum(1 for x in j if x["state"] == "retrying" and ms(x["retry_at_ms"]) > 0)' 2>/dev/null | grep -qx 1
}

test_retrying_state() {
  # 4s ±20% jitter; 10s on a sanitized build, so that the checks fit in the wait.
  local backoff_ms
  backoff_ms=$(scaled 4000 10000)
  TEST "a job waiting for its retry is 'retrying' with retry_at set (--backoff $((backoff_ms / 1000))s)"
  start_bg m muster run -q --retries 2 --backoff "${backoff_ms}ms" -- sh -c 'date +%s%3N >>"starts"; exit 1' ::: a
  local pid=$BG_PID
  wait_until 30 retrying_with_retry_at || fail "the job never showed state retrying with retry_at"
  local row
  row=$(json jobs_json '"|".join(str(ms(j[0][k])) for k in ("finished_at_ms", "retry_at_ms", "attempts"))')
  local finished retry_at attempts
  IFS='|' read -r finished retry_at attempts <<<"$row"
  expect_eq "$attempts" 1 "attempts while retrying"
  # retry_at is the backoff ±20% after the failed attempt ended.
  expect_ge "$((retry_at - finished))" "$((backoff_ms * 8 / 10))" "retry_at - finished_at (ms)"
  expect_le "$((retry_at - finished))" "$((backoff_ms * 12 / 10))" "retry_at - finished_at (ms)"
  expect_exit 0 muster status "$(last_run_id)" --json
  expect_eq "$(json_eval .last.out 'j["counts"]["retrying"]')" 1 "status counts.retrying"
  expect_exit 0 muster jobs "$(last_run_id)" --json
  expect_eq "$(json_eval .last.out '[j[0]["state"], j[0]["retry_at"] is not None]')" '["retrying", true]' "jobs --json"
  wait_bg "$pid" 60
  expect_eq "$BG_STATUS" 1 "muster's exit status"
  expect_json jobs_json 'each("state", "attempts")' "failed:2"
  local t1 t2
  { read -r t1; read -r t2; } <starts
  expect_ge "$((t2 - t1))" "$((backoff_ms * 8 / 10))" "time between the two attempts (ms)"
}

test_backoff_doubles_and_caps() {
  TEST "backoff doubles after each retry and is capped by --backoff-max"
  start_bg a muster run -q --retries 4 --backoff 500ms -- sh -c 'date +%s%3N >>starts.a; exit 1' ::: x
  local pa=$BG_PID
  mkdir capped
  # A store of its own: without --store, muster would find the one above.
  (cd capped && start_bg b muster --store .muster run -q --retries 4 --backoff 500ms --backoff-max 600ms -- sh -c 'date +%s%3N >>starts.b; exit 1' ::: x)
  wait_bg "$pa" 60
  expect_eq "$BG_STATUS" 1 "exit status"
  DB=capped/.muster/muster.db wait_until 60 eval '[[ -n $(last_run_id 2>/dev/null) ]]' || fail "second run never started"
  DB=capped/.muster/muster.db wait_until 60 eval '[[ $(json jobs_json "each(\"state\")" 2>/dev/null) == failed ]]' ||
    fail "capped run did not finish"
  mapfile -t a <starts.a
  mapfile -t b <capped/starts.b
  expect_eq "${#a[@]}" 4 "attempts of the doubling run"
  expect_eq "${#b[@]}" 4 "attempts of the capped run"
  # Gaps: 0.5s, 1s, 2s with ±20% jitter (and 1.5s slack above for a slow machine).
  local g1=$((a[1] - a[0])) g2=$((a[2] - a[1])) g3=$((a[3] - a[2]))
  expect_ge "$g1" 400 "first delay (ms)"
  expect_ge "$g2" 800 "second delay (ms)"
  expect_ge "$g3" 1600 "third delay (ms)"
  expect_le "$g1" 2100 "first delay (ms)"
  expect_le "$g2" 2700 "second delay (ms)"
  expect_le "$g3" 3900 "third delay (ms)"
  local c3=$((b[3] - b[2]))
  expect_ge "$c3" 480 "capped third delay (ms)"
  expect_le "$c3" 1550 "capped third delay (ms): 600ms cap +20% jitter, plus slack (uncapped it would be >= 1600)"
}

test_timeout_kills_process_group() {
  TEST "--timeout 1s on sh -c 'sleep 100 & sleep 100' leaves no sleep behind"
  local m
  m=$(marker 100)
  local t0
  t0=$(now_ms)
  expect_exit 1 muster run -q --timeout 1s --kill-grace 2s -- sh -c "sleep $m & sleep $m" ::: a
  local took=$(($(now_ms) - t0))
  expect_no_process "$m" 3
  expect_json jobs_json 'each("state", "error_type", "attempts")' "failed:timeout:1"
  expect_ge "$took" 900 "run time (ms)"
  expect_le "$took" 20000 "run time (ms)"
}

test_timeout_ignoring_term() {
  TEST "--timeout: a job that ignores SIGTERM gets SIGKILL after --kill-grace"
  local m
  m=$(marker 100)
  local t0
  t0=$(now_ms)
  expect_exit 1 muster run -q --timeout 1s --kill-grace 1s -- sh -c "trap '' TERM; sleep $m & sleep $m; sleep $m" ::: a
  local took=$(($(now_ms) - t0))
  expect_no_process "$m" 3
  expect_json jobs_json 'each("state", "error_type")' "failed:timeout"
  expect_ge "$took" 1900 "run time (ms): timeout + kill grace"
  expect_le "$took" 20000 "run time (ms)"
}

test_timeout_is_retryable() {
  TEST "a timeout is a failed, retryable attempt"
  local m
  m=$(marker 100)
  expect_exit 0 muster run -q --timeout 1s --kill-grace 1s --retries 3 --backoff 100ms -- \
    sh -c "if [ \"\$MUSTER_ATTEMPT\" -lt 2 ]; then exec sleep $m; fi" ::: a
  expect_no_process "$m" 3
  expect_json jobs_json 'each("state", "attempts")' "succeeded:2"
  expect_exit 1 muster run -q --timeout 1s --kill-grace 1s --retries 2 --backoff 100ms -- sh -c "exec sleep $m" ::: b
  expect_no_process "$m" 3
  expect_json jobs_json 'cat(j[-1], "state", "attempts", "error_type")' "failed:2:timeout"
}

test_exit_codes_and_signals() {
  TEST "exit codes and signals are recorded"
  cat >job.sh <<'EOF'
#!/bin/sh
case "$1" in
  ok) exit 0 ;;
  three) exit 3 ;;
  big) exit 255 ;;
  kill9) kill -9 $$ ;;
  term) kill -TERM $$ ;;
  segv) kill -SEGV $$ ;;
esac
EOF
  chmod +x job.sh
  expect_exit 1 muster run -q -j 4 -- ./job.sh ::: ok three big kill9 term segv
  expect_json jobs_json 'each("id", "state", "exit_code", "signal")' \
    "1:succeeded:0:- 2:failed:3:- 3:failed:255:- 4:failed:-:9 5:failed:-:15 6:failed:-:11"
  expect_exit 0 muster jobs "$(last_run_id)" --json
  expect_eq "$(json_eval .last.out '[[x["exit_code"], x["signal"]] for x in j]')" \
    '[[0, null], [3, null], [255, null], [null, 9], [null, 15], [null, 11]]' "jobs --json"
  expect_exit 0 muster export "$(last_run_id)" --format joblog
  expect_eq "$(awk -F'\t' 'NR > 1 { print $8 }' .last.out | paste -sd' ')" "0 0 0 9 15 11" "joblog Signal column"
}

test_output_cap_keeps_tail() {
  TEST "output over --max-output 1K keeps its tail"
  expect_exit 0 muster run -q --no-stdout --max-output 1K -- sh -c 'seq 1 5000; echo TAIL-END; seq 1 3000 >&2; echo ERR-END >&2' ::: a
  local run out err
  run=$(last_run_id)
  out=.muster/runs/$run/out/1.out
  err=.muster/runs/$run/out/1.err
  expect_file_exists "$out"
  expect_le "$(stat -c %s "$out")" 1024 "size of the kept stdout"
  expect_ge "$(stat -c %s "$out")" 900 "size of the kept stdout"
  expect_eq "$(tail -n 1 "$out")" TAIL-END "last line of stdout"
  expect_eq "$(tail -n 2 "$out" | head -1)" 5000 "line before the last"
  expect_not_contains "$(head -c 20 "$out")" $'1\n2\n3\n' "head of the kept stdout"
  expect_le "$(stat -c %s "$err")" 1024 "size of the kept stderr"
  expect_eq "$(tail -n 1 "$err")" ERR-END "last line of stderr"
  expect_exit 0 muster logs "$run" 1 --stdout
  expect_eq "$(tail -n 1 <<<"$STDOUT")" TAIL-END "logs"
}

test_output_cap_large() {
  TEST "a job writing 20 MB keeps the tail under the 1 MiB default cap"
  expect_exit 0 muster run -q --no-stdout -- sh -c 'head -c 20000000 /dev/zero | tr "\0" x; echo; echo LAST' ::: a
  local out=.muster/runs/$(last_run_id)/out/1.out
  expect_le "$(stat -c %s "$out")" 1048576 "size"
  expect_ge "$(stat -c %s "$out")" 1000000 "size"
  expect_eq "$(tail -n 1 "$out")" LAST "last line"
}

test_failed_output_tail_in_stderr() {
  TEST "a failed job's captured output tail is printed with its header"
  expect_exit 1 muster run --max-output 1K -- sh -c 'seq 1 2000; echo FAIL-TAIL >&2; exit 4' ::: a
  expect_contains "$STDERR" "FAIL-TAIL" "muster's stderr"
}

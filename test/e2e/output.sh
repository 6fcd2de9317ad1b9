# End to end: jobs' output through muster, byte for byte, in each of GNU
# parallel's output modes; stderr; live logs; a closed stdout.

# The job of the mode tests: 3 lines of 40 bytes, with a short random pause
# between them, so that jobs in 8 slots overlap.
mode_job='for i in 1 2 3; do printf "%s line %s %030d\n" "$1" $i 0; sleep 0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 3 )); done'

# expected_output N: what N mode jobs print, in input order.
expected_output() {
  local n
  for n in $(seq "$1"); do
    for i in 1 2 3; do printf '%s line %s %030d\n' "$n" "$i" 0; done
  done
}

test_big_output_passes_through_whole() {
  TEST "10 MB from one job reaches stdout whole, with the stored tail capped"
  head -c 10000000 /dev/urandom | base64 -w 100 >big.txt
  expect_exit 0 sh -c "'$MUSTER_BIN' run -q -j1 -- cat {} ::: big.txt >got.txt"
  cmp big.txt got.txt || fail "stdout differs from the job's output ($(wc -c <got.txt) bytes of $(wc -c <big.txt))"
  local kept
  kept=$(wc -c <.muster/runs/*/out/1.out)
  expect_eq "$kept" 1048576 "bytes kept of the job's stdout (--max-output 1M)"
  expect_exit 0 muster logs "$(last_run_id)" 1
  expect_contains "$STDERR" "stdout: the last 1.0MiB of" "logs says it shows a tail"
  expect_eq "${#STDOUT}" 1048575 "logs prints the tail (less its last newline)"
}

test_binary_output_and_no_added_newline() {
  TEST "binary output (gzip -c) and output without a final newline are not changed"
  seq 1 20000 >a.txt
  expect_exit 0 sh -c "'$MUSTER_BIN' run -q -- gzip -c {} ::: a.txt >a.gz"
  gzip -dc a.gz | cmp - a.txt || fail "the archive muster passed through is damaged"
  expect_exit 0 sh -c "'$MUSTER_BIN' run -q -j1 -- printf 'x%s' ::: 1 2 >x.txt"
  expect_eq "$(od -An -c x.txt | tr -s ' ')" " x 1 x 2" "bytes of printf 'x%s' ::: 1 2"
}

test_stderr_passes_through() {
  TEST "stderr of a job that succeeds reaches muster's stderr; --no-stderr hides it"
  expect_exit 0 muster run -q -- sh -c 'echo "to-err $1" >&2; echo "to-out $1"' sh ::: a
  expect_eq "$STDOUT" "to-out a" "stdout"
  expect_eq "$STDERR" "to-err a" "stderr"
  expect_exit 0 muster run -q --no-stderr -- sh -c 'echo "to-err $1" >&2; echo "to-out $1"' sh ::: b
  expect_eq "$STDOUT" "to-out b" "stdout with --no-stderr"
  expect_eq "$STDERR" "" "stderr with --no-stderr"
  expect_exit 1 muster run -q --no-stderr -- sh -c 'echo "oops $1" >&2; exit 3' sh ::: c
  expect_contains "$STDERR" "job 1 failed: exited with code 3" "the failure header stays"
  expect_eq "$(printf '%s\n' "$STDERR" | grep -c '^oops c$')" 0 "a failed job's stderr lines with --no-stderr"
}

# mode_run FLAGS...: 200 jobs at 8 slots in a mode; stdout in out.txt.
mode_run() {
  local n
  n=$(scaled 200 40)
  seq "$n" >in.txt
  expect_exit 0 sh -c "'$MUSTER_BIN' run -q -j 8 $* -i in.txt -- sh -c '$mode_job' sh {} >out.txt"
  N=$n
}

test_mode_group() {
  TEST "default mode: each job's output whole, never interleaved"
  mode_run
  cmp <(sort out.txt) <(expected_output "$N" | sort) || fail "bytes differ from the jobs' output"
  # Each job's three lines are together.
  python3 - out.txt <<'EOF' || fail "a job's lines were split up"
import sys
lines = open(sys.argv[1]).read().splitlines()
for i in range(0, len(lines), 3):
    ids = {l.split()[0] for l in lines[i:i + 3]}
    nums = [l.split()[2] for l in lines[i:i + 3]]
    assert len(ids) == 1 and nums == ["1", "2", "3"], lines[i:i + 3]
EOF
}

test_mode_keep_order() {
  TEST "-k: output in input order, byte for byte"
  mode_run -k
  cmp out.txt <(expected_output "$N") || fail "-k output is not the input order: $(head -c 600 out.txt)"
}

test_mode_keep_order_slow_first_job() {
  TEST "-k: a slow first job holds later output back, which then comes in order"
  seq 30 >in.txt
  expect_exit 0 sh -c "'$MUSTER_BIN' run -q -j 4 -k -i in.txt -- sh -c 'if [ \$1 = 1 ]; then sleep 1; fi; echo \$1' sh {} >out.txt"
  cmp out.txt in.txt || fail "-k output: $(paste -sd' ' out.txt)"
}

test_mode_line_buffer() {
  TEST "--line-buffer: whole lines, as they come"
  mode_run --line-buffer
  cmp <(sort out.txt) <(expected_output "$N" | sort) || fail "some line was cut or lost"
}

test_mode_ungroup() {
  TEST "-u: every byte, as it comes"
  mode_run -u
  cmp <(sort out.txt) <(expected_output "$N" | sort) || fail "bytes differ under -u"
}

test_mode_tag() {
  TEST "--tag and --tagstring prefix each line"
  expect_exit 0 muster run -q -j1 -k --tag -- sh -c 'echo one; echo two' sh ::: a b
  expect_eq "$STDOUT" $'a\tone\na\ttwo\nb\tone\nb\ttwo' "--tag output"
  expect_exit 0 muster run -q -j2 -k --tagstring 'job-{}' -- echo hi ::: x y
  expect_eq "$STDOUT" $'job-x\thi x\njob-y\thi y' "--tagstring output"
  expect_exit 0 muster run -q -j2 --line-buffer --tag -- printf 'p\nq' ::: z
  expect_eq "$STDOUT" $'z\tp\nz\tq' "--line-buffer --tag keeps an unfinished last line"
}

test_logs_follow_a_running_job() {
  TEST "logs -f prints a running job's lines as they are written, and ends with it"
  start_bg m muster run -q --name f -- sh -c 'echo first; until [ -e go ]; do sleep 0.05; done; echo second' sh ::: 1
  wait_until 30 eval 'test -s .muster/runs/*/out/1.out' || fail "the job never wrote"
  start_bg f muster logs f 1 -f
  wait_until 10 grep -q first "$T/f.out" || fail "logs -f did not print the first line: $(cat "$T/f.out" "$T/f.err")"
  local t0
  t0=$(now_ms)
  touch go
  wait_until 10 grep -q second "$T/f.out" || fail "logs -f did not print the second line"
  expect_le $(($(now_ms) - t0)) "$(scaled 1500 4000)" "ms from the write to logs -f printing it"
  wait_bg "$BG_PID" 30
  expect_eq "$BG_STATUS" 0 "logs -f exit status"
  expect_eq "$(cat "$T/f.out")" $'first\nsecond' "what logs -f printed"
  wait_bg "$(head -1 "$T/.bg" | cut -d' ' -f1)" 30
}

test_slot_log_for_every_run() {
  TEST "every run has slot logs, and logs --slot -f follows them"
  expect_exit 0 muster run -q -j1 --name s -- true ::: a
  expect_exit 0 muster logs s --slot 0
  expect_contains "$STDOUT" "job 1 attempt 1 started" "slot log"
  expect_contains "$STDOUT" "job 1 attempt 1 succeeded" "slot log"
}

test_head_closes_stdout() {
  TEST "| head: muster stops claiming, exits quietly, and resume completes the run"
  seq 200 >in.txt
  "$MUSTER_BIN" run -j 2 --name h -i in.txt -- sh -c 'echo $1; sleep 0.01' sh {} 2>err.txt | head -3 >got.txt
  local status=${PIPESTATUS[0]}
  expect_eq "$status" 141 "muster's exit status when its stdout is closed"
  expect_eq "$(wc -l <got.txt)" 3 "lines head read"
  expect_eq "$(cat err.txt)" "" "muster's stderr"
  expect_json run_json 'j["state"]' paused "the run stays resumable"
  local left
  left=$(json jobs_json 'sum(1 for x in j if x["state"] == "pending")')
  expect_ge "$left" 1 "jobs left pending"
  expect_exit 0 muster resume h -q
  expect_eq "$(json jobs_json 'groups("state")')" "succeeded:200" "job states after resume"
}

test_a_reader_that_lags_holds_up_no_job() {
  TEST "a pipe whose reader does not read yet: every job still finishes and is recorded, and then every byte arrives"
  # The reader starts reading only once `go` exists; 3 MiB do not fit in a pipe.
  start_bg p bash -c "'$MUSTER_BIN' run -q -j 2 -- sh -c 'head -c 1048576 /dev/zero; echo \$1' sh ::: a b c |
    (n=0; while [ ! -e go ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n + 1)); done; wc -c >count)"
  local pid=$BG_PID
  wait_until 30 eval '[[ $(json jobs_json "each(\"state\")" 2>/dev/null) == "succeeded succeeded succeeded" ]]' ||
    fail "the jobs were not all recorded while the reader waited: $(json jobs_json 'each("state")' 2>&1)"
  touch go
  wait_bg "$pid" 60
  expect_eq "$BG_STATUS" 0 "the pipeline's status"
  expect_eq "$(tr -d ' ' <count)" $((3 * 1048576 + 6)) "bytes that reached the reader"
}

test_a_stdout_that_cannot_be_written_is_an_error() {
  TEST "stdout on a full disk (/dev/full): muster says so, starts no new job, exits 141, and resume completes the run"
  "$MUSTER_BIN" run -j 1 --name full -- sh -c 'echo $1; sleep 0.05' sh {} ::: 1 2 3 4 5 >/dev/full 2>err.txt
  expect_eq "$?" 141 "muster's exit status when its stdout cannot be written"
  expect_contains "$(cat err.txt)" "could not be written to stdout or stderr: No space left on device" "the message"
  expect_contains "$(cat err.txt)" "muster resume" "how to go on"
  local left
  left=$(json 'jobs_json full' 'sum(1 for x in j if x["state"] == "pending")')
  expect_ge "$left" 1 "jobs left pending"
  expect_exit 0 muster logs full 1
  expect_eq "$STDOUT" 1 "the first job's output, kept"
  expect_exit 0 muster resume full -q
  expect_eq "$(json 'jobs_json full' 'groups("state")')" "succeeded:5" "job states after resume"
}

test_captured_output_on_a_full_disk_fails_the_attempt() {
  TEST "a job whose output cannot be saved (a full tmpfs) is not a success: it is retried, then failed, and says why"
  can_mount || return 0
  expect_exit 0 muster run -q --seed-only --name big --retries 2 --backoff 10ms -- \
    sh -c 'head -c 300000 /dev/zero | tr "\\0" x; echo done' sh {} ::: $(seq 8)
  local run
  run=$(last_run_id)
  mount_tmpfs ".muster/runs/$run/out" 1m || return 0
  expect_exit 1 muster resume big -q -j 1
  local ok failed
  ok=$(json 'jobs_json big' 'sum(1 for x in j if x["state"] == "succeeded")')
  failed=$(json 'jobs_json big' 'sum(1 for x in j if x["state"] == "failed")')
  expect_ge "$failed" 1 "jobs failed because their output was not saved"
  expect_eq "$((ok + failed))" 8 "jobs succeeded or failed"
  expect_json 'jobs_json big' '[x["error_type"] for x in j if x["state"] == "failed"][0]' output "a failed job's error_type"
  expect_json 'jobs_json big' '[x["attempts"] for x in j if x["state"] == "failed"][0]' 2 "a failed job's attempts: retried"
  expect_contains "$(json 'jobs_json big' '[x["error"] for x in j if x["state"] == "failed"][0]')" \
    "No space left on device" "a failed job's error"
  # Every job recorded as a success has all of its output.
  local id
  for id in $(json 'jobs_json big' '" ".join(x["id"] for x in j if x["state"] == "succeeded")'); do
    expect_eq "$(muster_store logs big "$id" | wc -c)" 300005 "bytes in the saved output of succeeded job $id"
  done
  unmount_tmpfs
}

test_pty_gives_each_job_a_terminal() {
  TEST "--pty: each job's stdin, stdout and stderr are a terminal of its own; its output is captured as usual"
  cat >job.sh <<'SH'
for fd in 0 1 2; do [ -t $fd ] && echo "fd $fd: tty" || echo "fd $fd: no tty"; done
tty >tty-$1
echo "to stderr" >&2
printf 'two\nlines\n'
SH
  expect_exit 0 muster run -q -j 2 --name t --pty -- sh job.sh {} ::: a b
  expect_eq "$(grep -c 'fd [012]: tty' <<<"$STDOUT")" 6 "descriptors that are terminals (3 per job)"
  expect_contains "$STDOUT" "to stderr" "stderr comes through the terminal"
  [[ $(cat tty-a) == /dev/pts/* && $(cat tty-a) != "$(cat tty-b)" ]] ||
    fail "each job has a terminal of its own: a=$(cat tty-a) b=$(cat tty-b)"
  expect_exit 0 muster logs t 1
  expect_contains "$STDOUT" "fd 1: tty" "the captured output"
  # Newlines stay newlines: no "\r" is added on the way.
  expect_eq "$(od -c .muster/runs/*/out/1.out | grep -c '\\r')" 0 "carriage returns in the captured output"
  expect_exit 0 muster run -q -- sh job.sh {} ::: c
  expect_contains "$STDOUT" "fd 1: no tty" "without --pty, no terminal"
}

test_pty_jobs_are_stopped_like_any() {
  TEST "--pty: a timeout stops the job and what it started on its terminal"
  local m
  m=$(marker 60)
  expect_exit 1 muster run -q --pty --timeout 500ms --kill-grace 500ms -- sh -c "sleep $m & sleep $m" ::: a
  marker_gone "$m" || fail "a --pty job's processes survived its timeout: $(marker_pids "$m" | tr '\n' ' ')"
}

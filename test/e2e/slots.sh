# End to end: each slot's private directory, its setup and teardown hooks (run
# once per slot on every way out), and stagger.

# write_config JOBS COMMAND...: a muster.toml whose hooks leave marker lines.
write_config() {
  local jobs=$1
  shift
  {
    echo "jobs = $jobs"
    printf 'command = ['
    local first=1 w
    for w in "$@"; do
      ((first)) || printf ', '
      first=0
      printf '"%s"' "$w"
    done
    echo ']'
    echo '[slots]'
    echo 'setup = "echo setup {slot} >> marks"'
    echo 'teardown = "echo teardown {slot} >> marks"'
    echo 'dir = true'
  } >muster.toml
}

# expect_torn_down_once N: marks holds exactly one teardown line per slot 0..N-1.
expect_torn_down_once() {
  local n=$1 s
  for ((s = 0; s < n; s++)); do
    expect_eq "$(grep -c "^teardown $s\$" marks)" 1 "teardown runs of slot $s"
  done
  expect_eq "$(grep -c '^teardown' marks)" "$n" "teardown runs in all"
}

test_directories_are_private() {
  TEST "each slot has its own directory, copied from a template without excluded names"
  mkdir -p tpl/sub
  echo base >tpl/file.txt
  ln -s "$PWD/nowhere" tpl/SingletonLock
  echo y >tpl/sub/y
  cat >muster.toml <<'TOML'
jobs = 3
command = ["sh", "-c", "sleep 0.2; touch {slot_dir}/job-{}; ls -A {slot_dir} > {slot_dir}/seen-{}"]
[slots]
dir = { from = "tpl", exclude = ["SingletonLock"], keep = true }
TOML
  expect_exit 0 muster run -q ::: $(seq 12)
  local run
  run=$(last_run_id)
  local slots=.muster/runs/$run/slots
  for s in 0 1 2; do
    expect_file_exists "$slots/$s/file.txt"
    expect_file_exists "$slots/$s/sub/y"
    [[ -L $slots/$s/SingletonLock || -e $slots/$s/SingletonLock ]] &&
      fail "slot $s got the excluded SingletonLock"
  done
  # Every job saw only its own slot's files.
  local s f job
  for s in 0 1 2; do
    for f in "$slots/$s"/seen-*; do
      [[ -e $f ]] || continue
      for job in $(tr ' ' '\n' <"$f" | sed -n 's/^job-//p'); do
        [[ -e $slots/$s/seen-$job || -e $slots/$s/job-$job ]] ||
          fail "slot $s saw job $job's file, which ran elsewhere"
      done
    done
  done
  expect_eq "$(ls "$slots"/*/job-* | wc -l)" 12 "jobs that wrote into a slot directory"
}

test_directory_templates_are_sealed() {
  TEST "links in a slot directory template are copied as links, never followed, nothing lands outside the slot"
  mkdir -p tpl/sub
  echo base >tpl/file.txt
  ln -s /etc tpl/etc
  ln -s ../.. tpl/up
  ln -s ../../../../../../../../tmp tpl/sub/tmp
  cat >muster.toml <<'TOML'
jobs = 2
command = ["sh", "-c", "test -L {slot_dir}/etc && test -L {slot_dir}/up"]
[slots]
dir = { from = "tpl", keep = true }
TOML
  expect_exit 0 muster run -q ::: 1 2 3 4
  local run slots
  run=$(last_run_id)
  slots=.muster/runs/$run/slots
  for s in 0 1; do
    expect_eq "$(readlink "$slots/$s/etc")" /etc "slot $s's etc link"
    expect_eq "$(readlink "$slots/$s/up")" ../.. "slot $s's up link"
    expect_eq "$(readlink "$slots/$s/sub/tmp")" ../../../../../../../../tmp "slot $s's sub/tmp link"
  done
  expect_eq "$(ls -A .muster/runs/"$run")" "$(ls -A .muster/runs/"$run" | grep -vx -e etc -e up -e tmp)" "no link left beside the slots"
  expect_eq "$(find .muster -maxdepth 2 -type l)" "" "links outside the slot directories"
  # A second setup of the kept directories writes through none of its links.
  expect_exit 0 muster resume -q "$run"
  expect_exit 0 muster run -q ::: 5 6
  expect_eq "$(find .muster -maxdepth 3 -type l)" "" "links outside the slot directories, after more runs"
}

test_directories_are_removed_unless_kept() {
  TEST "slot directories are removed at the end unless keep = true"
  printf 'jobs = 2\ncommand = ["sh", "-c", "echo $MUSTER_SLOT_DIR > where-{}"]\n[slots]\ndir = true\n' >muster.toml
  expect_exit 0 muster run -q ::: a b c
  local d
  d=$(cat where-a)
  expect_match "$d" "/runs/[0-9a-f]+/slots/[01]\$" "MUSTER_SLOT_DIR"
  expect_no_file "$d"
}

test_teardown_once_after_normal_end() {
  TEST "setup and teardown run once per slot after a normal end"
  write_config 3 sh -c "sleep 0.1"
  expect_exit 0 muster run -q ::: $(seq 9)
  expect_eq "$(grep -c '^setup' marks)" 3 "setup runs"
  expect_torn_down_once 3
}

teardown_after_signal() {
  local sig=$1
  TEST "teardown runs once per slot after SIG$sig"
  write_config 2 sh -c "sleep 0.3"
  start_bg m muster run -q --grace 5s ::: $(seq 20)
  local pid=$BG_PID
  wait_until 10 grep -q '^setup 1' marks || fail "slots were not set up"
  sleep 0.5
  kill -"$sig" "$pid"
  wait_bg "$pid" 30
  expect_eq "$BG_STATUS" 130 "exit status"
  expect_torn_down_once 2
}

test_teardown_once_after_sigint() {
  teardown_after_signal INT
}

test_teardown_once_after_sigterm() {
  teardown_after_signal TERM
}

test_teardown_once_after_timeout() {
  TEST "teardown runs once per slot after a job times out"
  write_config 2 sh -c "sleep 30"
  expect_exit 1 muster run -q --timeout 500ms --kill-grace 1s ::: a b
  expect_json jobs_json 'sum(1 for x in j if x["error_type"] == "timeout")' 2 "timed-out jobs"
  expect_torn_down_once 2
}

test_failing_setup() {
  TEST "a failing setup takes its slot out; teardown still runs"
  cat >muster.toml <<'TOML'
jobs = 2
command = ["sh", "-c", "echo $MUSTER_SLOT >> ran"]
[slots]
setup = "echo setup {slot} >> marks; [ {slot} != 1 ]"
teardown = "echo teardown {slot} >> marks"
TOML
  expect_exit 0 muster run -q ::: a b c d
  expect_eq "$(sort -u ran)" 0 "only slot 0 ran jobs"
  expect_torn_down_once 2
  expect_exit 0 muster logs "$(last_run_id)" --slot 1
  expect_contains "$STDOUT" "setup exited 1" "slot log"
}

test_no_slot_ready() {
  TEST "when no slot can be set up the run fails, no attempt is spent, teardown runs"
  cat >muster.toml <<'TOML'
jobs = 2
command = ["touch", "ran-{}"]
[slots]
setup = "echo setup {slot} >> marks; exit 3"
teardown = "echo teardown {slot} >> marks"
TOML
  expect_exit 2 muster run -q ::: a b
  expect_contains "$STDERR" "no slot could be set up" "error"
  expect_contains "$STDERR" "setup exited 3" "cause"
  expect_no_file ran-a
  expect_json jobs_json 'sum(x["attempts"] for x in j)' 0 "attempts spent"
  expect_json jobs_json 'count("pending")' 2 "jobs left pending"
  expect_json runs_json 'each("state")' failed "the run's state"
  expect_torn_down_once 2
}

test_stagger() {
  TEST "stagger starts slots apart"
  cat >muster.toml <<'TOML'
jobs = 3
command = ["sleep", "{}"]
[slots]
stagger = "400ms"
setup = "date +%s%3N > start-{slot}"
TOML
  expect_exit 0 muster run -q ::: 1 1 1
  local t0 t2
  t0=$(cat start-0)
  t2=$(cat start-2)
  expect_ge $((t2 - t0)) 750 "ms between slot 0 and slot 2"
}

test_bad_slot_config() {
  TEST "slot config errors name the file, line and key"
  printf '[slots]\nstagger = "soon"\n' >bad.toml
  expect_exit 2 muster validate --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:2: slots.stagger: invalid duration" "stagger"
  printf '[slots]\ndir = { from = "x", keepp = true }\n' >bad.toml
  expect_exit 2 muster validate --config bad.toml -- true ::: a
  expect_contains "$STDERR" "slots.dir.keepp: unknown key" "dir key"
  printf 'command = ["cat", "{slot_dir}/x"]\n' >bad.toml
  expect_exit 2 muster validate --config bad.toml ::: a
  expect_contains "$STDERR" "{slot_dir}" "slot_dir without dir"
  expect_no_file .muster
}

# sidecar_config JOBS BASE [EXTRA...]: slots that each serve their own
# directory over HTTP on {port.web}; setup writes the slot's id there.
sidecar_config() {
  local jobs=$1 base=$2
  shift 2
  cat >muster.toml <<TOML
jobs = $jobs
retries = 3
backoff = "200ms"
command = ["sh", "-c", "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port.web}/id').read().decode().strip())\" > got-{}; echo \$MUSTER_SLOT > slot-{}"]

[slots]
dir = true
setup = "echo slot-{slot} > {slot_dir}/id"
teardown = "echo teardown {slot} >> marks"
$(printf '%s\n' "$@")

[slots.ports]
web = { base = $base, stride = 1 }
TOML
}

sidecar_base() {
  echo $((40000 + ($$ % 1000) * 8))
}

test_sidecar_per_slot() {
  TEST "each slot's sidecar is health-checked, and jobs reach only their own slot's"
  local base
  base=$(sidecar_base)
  sidecar_config 3 "$base"
  cat >>muster.toml <<'TOML'
[slots.sidecar]
command = ["python3", "-m", "http.server", "{port.web}", "--bind", "127.0.0.1", "--directory", "{slot_dir}"]
ready = "http://127.0.0.1:{port.web}/id"
ready_timeout = "20s"
TOML
  expect_exit 0 muster run -q ::: $(seq 12)
  local j
  for j in $(seq 12); do
    expect_eq "$(cat got-$j)" "slot-$(cat slot-$j)" "job $j's answer came from its own slot"
  done
  expect_torn_down_once 3
  expect_no_process "http.server $base"
}

test_sidecar_never_ready() {
  TEST "a sidecar that never becomes ready fails the run; no attempt is spent; teardown runs"
  local base
  base=$(sidecar_base)
  sidecar_config 2 "$((base + 3))"
  cat >>muster.toml <<'TOML'
[slots.sidecar]
command = ["sh", "-c", "echo starting up; echo still not listening >&2; sleep 60"]
ready = "tcp://127.0.0.1:{port.web}"
ready_timeout = "1s"
TOML
  expect_exit 2 muster run -q ::: a b
  expect_contains "$STDERR" "no slot could be set up" "error"
  expect_contains "$STDERR" "not ready within 1.0s" "cause"
  expect_contains "$STDERR" "still not listening" "the sidecar's log tail"
  expect_json jobs_json 'sum(x["attempts"] for x in j)' 0 "attempts spent"
  expect_torn_down_once 2
  expect_no_process "still not listening"
}

test_sidecar_restarts() {
  TEST "a sidecar killed between jobs is restarted, and the run completes"
  local base
  base=$(sidecar_base)
  sidecar_config 1 "$((base + 5))"
  # The job kills its own slot's sidecar now and then; the next job must find
  # it restarted.
  cat >>muster.toml <<'TOML'
[slots.sidecar]
command = ["python3", "-m", "http.server", "{port.web}", "--bind", "127.0.0.1", "--directory", "{slot_dir}"]
ready = "http://127.0.0.1:{port.web}/id"
ready_timeout = "20s"
max_restarts = 5
TOML
  expect_exit 0 muster run -q ::: 1 2 3
  local pid
  pid=$(pgrep -f "http.server $((base + 5))" | head -1)
  [[ -z $pid ]] || fail "the sidecar outlived its run"
  # Now a run whose second job kills the sidecar before asking it.
  sed -i '0,/^command = /s|^command = .*|command = ["sh", "-c", "if [ {} = 2 ] \&\& [ $MUSTER_ATTEMPT = 1 ]; then pkill -f \\"http.server {port.web}\\"; sleep 1; fi; python3 -c \\"import urllib.request; urllib.request.urlopen(\x27http://127.0.0.1:{port.web}/id\x27)\\""]|' muster.toml
  expect_exit 0 muster run -q ::: 1 2 3 4
  local run
  run=$(last_run_id)
  expect_json "jobs_json $run" 'job("2")["attempts"]' 2 \
    "the job that saw its sidecar die was retried"
  expect_contains "$(cat .muster/runs/$run/logs/slot-0.log)" "sidecar restarts in" "restart logged"
  expect_json "jobs_json $run" 'count("succeeded")' 4 "jobs done"
}

test_stop_all_live_agent() {
  TEST "stop-all drains a live agent, which tears its slots down"
  write_config 2 sh -c "sleep 0.3"
  start_bg m muster run -q --grace 5s ::: $(seq 30)
  local pid=$BG_PID
  wait_until 10 grep -q '^setup 1' marks || fail "slots were not set up"
  expect_exit 0 muster stop-all
  wait_bg "$pid" 30
  expect_eq "$BG_STATUS" 130 "the agent's exit status"
  expect_torn_down_once 2
}

running_jobs_are() {
  [[ $(count_state dead running) == "$1" ]]
}

test_stop_all_dead_agent() {
  TEST "stop-all runs the teardown hooks of a run whose agent died"
  write_config 2 sh -c "sleep 5"
  start_bg m muster run -q --name dead ::: a b c
  local pid=$BG_PID
  wait_until 10 grep -q '^setup 1' marks || fail "slots were not set up"
  wait_until 10 running_jobs_are 2 || fail "jobs did not start"
  kill -9 "$pid"
  wait_bg "$pid" 30
  expect_eq "$(grep -c '^teardown' marks)" 0 "teardowns before stop-all"
  expect_exit 0 muster stop-all
  expect_torn_down_once 2
  expect_json jobs_json 'count("running")' 0 "jobs left running"
}

test_before_and_after_job() {
  TEST "before_job and after_job run around every job, in its slot"
  cat >muster.toml <<'TOML'
jobs = 2
[slots]
before_job = "echo before {slot} $MUSTER_JOB_ID >> marks"
after_job = "echo after {slot} $MUSTER_JOB_ID $rc >> marks"
TOML
  expect_exit 1 muster run -q -- sh -c 'exit $0' ::: 0 3 0 0
  expect_eq "$(grep -c '^before' marks)" 4 "before_job runs"
  expect_eq "$(grep -c '^after' marks)" 4 "after_job runs"
  expect_contains "$(cat marks)" "after" "marks"
  expect_match "$(cat marks)" "after [01] 2 3" "after_job sees the job's exit status"
  expect_json jobs_json 'job("2")["exit_code"]' 3 "the job's own exit code is the attempt's"
  printf 'jobs = 1\n[slots]\nbefore_job = "exit 4"\n' >muster.toml
  rm -f marks
  expect_exit 1 muster run -q -- touch ran ::: a
  expect_no_file ran
  expect_json "jobs_json $(last_run_id)" 'job("1")["exit_code"]' 4 \
    "a failing before_job fails the attempt"
}

test_after_job_runs_however_the_attempt_ended() {
  TEST "after_job runs after every attempt, on a timeout and a cancel too, with \$rc, \$MUSTER_END_REASON and the row's placeholders"
  printf 'account\nann\nbob\n' >acc.csv
  cat >muster.toml <<'TOML'
jobs = 2
[slots]
before_job = "echo on {account} >> marks"
after_job = "echo off {account} $rc $MUSTER_END_REASON >> marks"
TOML
  expect_exit 1 muster run -q -i acc.csv --timeout 1s -- sh -c 'test {account} = ann || exec sleep 30'
  expect_eq "$(sort marks)" $'off ann 0 exit\noff bob 143 timeout\non ann\non bob' "hook lines after a timeout"
  rm -f marks
  local m
  m=$(marker 30)
  start_bg c muster run -q --name c -i acc.csv -- sh -c "exec sleep $m" {account}
  wait_until 5 sh -c "[ \$(pgrep -fc '^sleep $m\$') -ge 2 ]" || fail "the jobs did not start"
  expect_exit 0 muster cancel c --force -q
  wait_bg "$BG_PID" 30
  expect_eq "$(grep -c ' cancel$' marks)" 2 "after_job lines with reason cancel: $(cat marks)"
}

test_hook_placeholders_are_checked() {
  TEST "an unknown placeholder in a hook is an error in validate and at run start; slot hooks may not use the row"
  printf 'account\nann\n' >acc.csv
  printf '[slots]\nafter_job = "echo {slott}"\n' >muster.toml
  expect_exit 2 muster validate -i acc.csv -- true
  expect_contains "$STDERR" "unknown placeholder {slott} in slots.after_job" "validate"
  expect_exit 2 muster run -q -i acc.csv -- true
  expect_contains "$STDERR" "unknown placeholder {slott} in slots.after_job" "run"
  printf '[slots]\nsetup = "./phone.sh start {account}"\n' >muster.toml
  expect_exit 2 muster validate -i acc.csv -- true
  expect_contains "$STDERR" "slots.setup: {account} needs a job" "a row placeholder in setup"
  expect_no_file .muster
}

test_second_orchestrator_gets_the_holder_not_the_port() {
  TEST "a second muster on a run that a live one holds gets exit 3 and the holder's pid, not 'port in use'"
  local base m
  base=$(sidecar_base)
  sidecar_config 2 "$base"
  cat >>muster.toml <<'TOML'
[slots.sidecar]
command = ["python3", "-m", "http.server", "{port.web}", "--bind", "127.0.0.1"]
ready = "tcp://127.0.0.1:{port.web}"
ready_timeout = "20s"
TOML
  m=$(marker 30)
  start_bg first muster run -q --name phones -- sh -c "exec sleep $m" {} ::: a b
  wait_until 20 sh -c "[ \$(pgrep -fc '^sleep $m\$') -ge 2 ]" || fail "the first run's jobs did not start"
  expect_exit 3 muster run -q --name phones -- sh -c "exec sleep $m" {} ::: a b
  expect_contains "$STDERR" "is held by a live muster (pid $BG_PID" "the holder"
  expect_exit 0 muster cancel phones --force -q
  wait_bg "$BG_PID" 30
}

# slow_setup_config JOBS SETUP: slots whose setup is SETUP, and jobs that
# write the ms of their start to started-JOB_ID.
slow_setup_config() {
  cat >muster.toml <<TOML
jobs = $1
command = ["sh", "-c", "date +%s%3N > started-\$MUSTER_JOB_ID; sleep 0.3"]
[slots]
setup = "$2"
teardown = "echo teardown {slot} >> marks"
TOML
}

test_slots_are_set_up_side_by_side_while_the_agent_beats() {
  TEST "slots are set up in parallel, and the agent sends heartbeats while the setups run"
  slow_setup_config 3 "sleep 2"
  local t0 id
  t0=$(now_ms)
  start_bg m muster run -q --name par --heartbeat 200ms ::: a b c
  sleep 1.3
  expect_exit 0 muster workers --json
  expect_eq "$(json_eval - "each('state')" <<<"$STDOUT")" "starting starting starting" "slots during setup"
  expect_le "$(json_eval - "max(w['heartbeat_ms_ago'] for w in j)" <<<"$STDOUT")" 800 \
    "ms since the last heartbeat, during a 2s setup with --heartbeat 200ms"
  wait_bg "$BG_PID" 30
  expect_eq "$BG_STATUS" 0 "the run's exit"
  for id in 1 2 3; do
    # One after another, the last would start after 6 s.
    expect_lt $(($(cat started-$id) - t0)) "$(scaled 3500 5000)" "ms until job $id started"
  done
  expect_torn_down_once 3
}

test_a_job_is_claimed_when_its_slot_is_ready() {
  TEST "a job's claim is its start: a slot still being set up claims nothing"
  slow_setup_config 2 "[ {slot} = 0 ] || sleep 2"
  expect_exit 0 muster run -q --name ready ::: $(seq 12)
  expect_exit 0 muster jobs ready --json
  # The store's start (the claim) and the job's own clock agree: no job
  # waited for a setup once claimed.
  local late
  late=$(json_eval - "[x['id'] for x in j if abs(int(open('started-' + x['id']).read()) - x['started_at_ms']) > 300]" <<<"$STDOUT")
  expect_eq "$late" "[]" "jobs whose claim came long before their start"
  expect_eq "$(json_eval - "len([x for x in j if x['slot'] == 1]) > 0" <<<"$STDOUT")" true \
    "slot 1 ran jobs once its setup ended"
}

test_cancel_during_setup() {
  TEST "a cancel during a slow setup takes effect at once; no job starts; teardown runs"
  local m
  m=$(marker 30)
  slow_setup_config 2 "sleep $m"
  start_bg m muster run -q --name cs ::: a b c
  wait_until 10 marker_pids "$m" >/dev/null || fail "the setups did not start"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster cancel cs --force
  wait_bg "$BG_PID" 30
  expect_lt $(($(now_ms) - t0)) "$(scaled 3000 6000)" "ms from cancel to the agent's exit"
  expect_eq "$BG_STATUS" 1 "the agent's exit after a cancel"
  expect_no_file started-1
  expect_eq "$(run_state)" cancelled "the run's state"
  expect_eq "$(count_state cs cancelled)" 3 "cancelled jobs"
  expect_torn_down_once 2
  marker_gone "$m" || fail "the setup hooks survived the cancel"
}

test_pause_during_setup() {
  TEST "a pause during setup holds every job back until resume"
  slow_setup_config 2 "echo setup {slot} >> marks; sleep 1.5"
  start_bg m muster run -q --name ps ::: a b c
  wait_until 5 test -s marks || fail "the setups did not start"
  expect_exit 0 muster pause ps
  sleep 2
  expect_no_file started-1
  expect_no_file started-2
  expect_exit 0 muster resume ps
  wait_bg "$BG_PID" 30
  expect_eq "$BG_STATUS" 0 "the run's exit after resume"
  expect_eq "$(count_state ps succeeded)" 3 "jobs run after resume"
}

test_after_job_gets_the_timeout() {
  TEST "an after_job that hangs is stopped at the run's --timeout, and frees its slot"
  local m
  m=$(marker 60)
  cat >muster.toml <<TOML
[slots]
after_job = "exec sleep $m"
TOML
  local t0
  t0=$(now_ms)
  expect_exit 0 muster run -q -j 1 --timeout 1s --kill-grace 500ms -- true ::: a b
  expect_lt $(($(now_ms) - t0)) "$(scaled 5000 9000)" "ms for two jobs whose after_job hangs (timeout 1s)"
  marker_gone "$m" || fail "an after_job outlived its timeout"
  expect_contains "$(cat .muster/runs/*/logs/slot-0.log)" "after_job timed out after 1.0s" "the slot's log"
}

# End to end: control of a live run from another process. `muster pause`,
# `resume`, `cancel`, `scale` and `add` are sent while an agent runs, and
# their effect is read from the store and the jobs' own records. Every
# request must be seen within a second; each is recorded as an event.

# A job that records its start and end: JOB ID SECONDS.
make_job() {
  cat >job.sh <<'SH'
#!/bin/sh
echo "$1 start $(date +%s%3N)" >>starts.log
sleep "$2"
echo "$1 end $(date +%s%3N)" >>ends.log
SH
  chmod +x job.sh
}

state_is() {
  [[ $(run_state) == "$1" ]]
}

state_is_of() {
  [[ $(run_state "$1") == "$2" ]]
}

# Running jobs of the newest run (each test has one run).
running_count() {
  json run_json 'j["counts"]["running"]' 2>/dev/null
}

running_is() {
  [[ $(running_count) == "$1" ]]
}

lines() {
  if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi
}

test_pause_and_resume() {
  TEST "pause stops claims within a second; resume from another process continues"
  make_job
  seq 1 30 >in.txt
  start_bg agent muster run -q -j 2 --name ctl -i in.txt --no-stdout -- ./job.sh {} 0.2
  wait_until 10 test -s starts.log || fail "no job started"
  expect_exit 0 muster pause ctl
  local t0
  t0=$(now_ms)
  # Running jobs finish; nothing new starts once the pause is seen. (Each
  # look at the state is a muster and a Python start: slower when sanitized.)
  wait_until "$(scaled 1 3)" state_is paused || fail "run not paused within $(scaled 1 3)s: $(run_state)"
  (( $(now_ms) - t0 < $(scaled 1500 3000) )) || fail "the pause took $(( $(now_ms) - t0 ))ms to be seen"
  sleep 1
  local before after
  before=$(lines starts.log)
  sleep 1
  after=$(lines starts.log)
  expect_eq "$after" "$before" "jobs started while paused"
  expect_eq "$(running_count)" 0 "running jobs while paused"
  pid_gone "$BG_PID" && fail "the agent ended while paused"
  muster status ctl | expect_exit 0 cat
  expect_exit 0 muster resume ctl
  wait_bg "$BG_PID" 60
  expect_eq "$BG_STATUS" 0 "agent exit"
  expect_eq "$(count_state ctl succeeded)" 30 "succeeded"
  expect_eq "$(sort -u starts.log | awk '{print $1}' | sort -u | wc -l)" 30 "distinct jobs started"
  run_cmd muster events ctl --json
  expect_contains "$STDOUT" '"action": "pause"'
  expect_contains "$STDOUT" '"action": "resume"'
}

test_pause_stop_running() {
  TEST "pause --stop-running stops running jobs; they go back to pending without spending an attempt"
  make_job
  seq 1 4 >in.txt
  start_bg agent muster run -q -j 2 --name ps -i in.txt --no-stdout -- ./job.sh {} 30
  wait_until 10 running_is 2 || fail "jobs did not start"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster pause ps --stop-running
  wait_until 3 running_is 0 || fail "running jobs not stopped"
  (( $(now_ms) - t0 < $(scaled 3000 5000) )) || fail "stopping took too long"
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "pending" and x["attempts"] - x["interrupts"] == 0)' 4 \
    "jobs pending with no attempt spent"
  expect_eq "$(lines ends.log)" 0 "jobs that ran to their end"
  expect_exit 0 muster cancel ps --force
  wait_bg "$BG_PID" 30
}

test_cancel_stops_everything() {
  TEST "cancel from another process stops the jobs' process groups and cancels the rest"
  local m
  m=$(marker 60)
  seq 1 10 >in.txt
  start_bg agent muster run -q -j 3 --name cx -i in.txt --no-stdout --shell -- "sleep $m & sleep $m; echo {}"
  wait_until 10 running_is 3 || fail "jobs did not start"
  wait_until 5 marker_pids "$m" >/dev/null || fail "no job processes"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster cancel cx --force
  (( $(now_ms) - t0 < $(scaled 2000 4000) )) || fail "cancel took $(( $(now_ms) - t0 ))ms"
  marker_gone "$m" || fail "processes of the run survived the cancel: $(marker_pids "$m" | tr '\n' ' ')"
  wait_bg "$BG_PID" 30
  expect_eq "$BG_STATUS" 1 "agent exit after cancel"
  expect_eq "$(run_state)" cancelled "run state"
  expect_eq "$(count_state cx cancelled)" 10 "cancelled jobs"
  expect_exit 2 muster cancel cx --force
  expect_contains "$STDERR" "has ended"
}

test_cancel_without_agent() {
  TEST "cancel of a run with no agent cancels it here; without --force and no terminal it asks for --force"
  seq 1 5 >in.txt
  expect_exit 0 muster run -q --seed-only --name idle -i in.txt -- true
  expect_exit 2 muster cancel idle
  expect_contains "$STDERR" "--force"
  expect_exit 0 muster cancel idle --force
  expect_eq "$(count_state idle cancelled)" 5 "cancelled"
  expect_eq "$(run_state)" cancelled "state"
}

test_scale_up_and_down() {
  TEST "scale -j N changes a live agent's slots: more jobs at once, then fewer"
  make_job
  seq 1 40 >in.txt
  start_bg agent muster run -q -j 1 --name sc -i in.txt --no-stdout -- ./job.sh {} 0.4
  wait_until 10 test -s starts.log || fail "no job started"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster scale sc -j 4
  wait_until "$(scaled 1 3)" running_is 4 || fail "not 4 running $(scaled 1 3)s after scale up: $(running_count)"
  expect_exit 0 muster scale sc -j 2
  sleep 1.2
  local most=0 n i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    n=$(running_count)
    (( n > most )) && most=$n
    sleep 0.1
  done
  (( most <= 2 )) || fail "up to $most running after scaling down to 2"
  wait_bg "$BG_PID" 60
  expect_eq "$BG_STATUS" 0 "agent exit"
  expect_eq "$(count_state sc succeeded)" 40 "succeeded"
  expect_exit 2 muster scale sc -j 3
  expect_contains "$STDERR" "has ended"
}

test_add_to_live_run() {
  TEST "add appends jobs to a live run, which runs them; a clashing id adds nothing"
  make_job
  printf 'id,t\n' >in.csv
  for i in $(seq 1 10); do echo "a$i,0.2" >>in.csv; done
  printf 'id,t\nb1,0.1\nb2,0.1\n' >more.csv
  printf 'id,t\nb3,0.1\na1,0.1\n' >clash.csv
  printf 'name,t\nx,1\n' >other.csv
  start_bg agent muster run -q -j 2 --name ad -i in.csv --id-column id --no-stdout -- ./job.sh {id} {t}
  wait_until 10 test -s starts.log || fail "no job started"
  expect_exit 0 muster add ad -i more.csv
  expect_exit 2 muster add ad -i clash.csv
  expect_contains "$STDERR" "clash.csv:3"
  expect_contains "$STDERR" "duplicate job id 'a1'"
  expect_exit 2 muster add ad -i other.csv
  expect_contains "$STDERR" "differ from the run's"
  wait_bg "$BG_PID" 60
  expect_eq "$BG_STATUS" 0 "agent exit"
  expect_json jobs_json 'len(j)' 12 "jobs in the run"
  expect_eq "$(count_state ad succeeded)" 12 "succeeded"
  expect_json jobs_json 'sum(1 for x in j if x["id"] == "b3")' 0 "jobs from the rejected input"
  expect_json runs_json 'each("total")' 12 "run total"
}

test_add_to_finished_run() {
  TEST "add to a finished run reopens it; resume runs the new jobs"
  seq 1 3 >in.txt
  expect_exit 0 muster run -q --name fin -i in.txt -- true
  seq 1 2 >more.txt
  expect_exit 0 muster add fin -i more.txt
  expect_eq "$(run_state)" paused "state after add"
  expect_exit 0 muster resume fin -q
  expect_eq "$(count_state fin succeeded)" 5 "succeeded"
  expect_json jobs_json 'each("id")' "1 2 3 4 5" "ids"
}

test_resume_now_ends_a_live_halt() {
  TEST "resume --now ends a live agent's halt cooldown at once"
  cat >muster.toml <<'TOML'
[[rules]]
match = "rate limit"
action = "halt"
cooldown = "1m"
TOML
  cat >j.sh <<'SH'
#!/bin/sh
if [ "$1" = 2 ] && [ ! -f once ]; then touch once; echo "rate limit"; exit 1; fi
SH
  chmod +x j.sh
  start_bg agent muster run -q -j 1 --name hn -- ./j.sh ::: 1 2 3 4
  wait_until 10 state_is halted || fail "the run did not halt"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster resume hn --now
  wait_bg "$BG_PID" 10
  expect_eq "$BG_STATUS" 0 "agent exit"
  (( $(now_ms) - t0 < 5000 )) || fail "the agent waited out the cooldown"
  expect_eq "$(count_state hn succeeded)" 4 "succeeded"
}

test_two_runs_create_a_store_at_once() {
  TEST "two runs started at the same moment on a new store both work"
  start_bg a muster run -q --name a -- true ::: 1 2
  local a=$BG_PID
  start_bg b muster run -q --name b -- true ::: 1 2
  wait_bg "$BG_PID" 30
  expect_eq "$BG_STATUS" 0 "second run"
  wait_bg "$a" 30
  expect_eq "$BG_STATUS" 0 "first run"
  expect_json runs_json 'count("completed")' 2 "completed runs"
}

test_cancel_finishes_when_its_agent_dies_during_it() {
  TEST "a cancel whose agent is killed during it finishes the cancel itself and says so"
  local m
  m=$(marker 60)
  seq 1 6 >in.txt
  # Jobs that take 3 s to stop after SIGTERM: the agent is killed meanwhile.
  start_bg agent muster run -q -j 2 --name cd -i in.txt --no-stdout --kill-grace 20s --shell -- \
    ": {}; trap 'sleep 3; exit 1' TERM; sleep $m & wait"
  local agent=$BG_PID
  wait_until 10 running_is 2 || fail "jobs did not start"
  start_bg cancel muster cancel cd --force
  local cancel=$BG_PID
  wait_until 5 sh -c "'$MUSTER_BIN' events cd | grep -q cancel" ||
    fail "no cancel event"
  sleep 0.5
  kill -9 "$agent"
  wait_bg "$agent" 10
  wait_bg "$cancel" 30
  expect_eq "$BG_STATUS" 0 "cancel's exit ($(cat "$T/cancel.err"))"
  expect_contains "$(cat "$T/cancel.err")" "died during the cancel; this muster finished it"
  expect_eq "$(run_state cd)" cancelled "run state"
  expect_eq "$(count_state cd running)" 0 "running jobs"
  expect_eq "$(count_state cd pending)" 0 "pending jobs"
  expect_eq "$(count_state cd cancelled)" 6 "cancelled jobs"
  marker_gone "$m" || fail "job processes survived: $(marker_pids "$m" | tr '\n' ' ')"
  expect_exit 2 muster resume cd
  expect_contains "$STDERR" "was cancelled"
}

test_cancel_of_a_zombie_agent() {
  TEST "an agent that is an unreaped zombie counts as dead: cancel finishes at once"
  local m
  m=$(marker 60)
  seq 1 4 >in.txt
  # perl starts muster and never reaps it, so a killed muster stays a zombie.
  start_bg parent perl -e '$| = 1; my $p = fork(); if (!$p) { exec @ARGV; exit 127 } print "$p\n"; sleep 120' \
    "$MUSTER_BIN" run -q -j 2 --name zc -i in.txt --no-stdout -- sleep "$m"
  local parent=$BG_PID
  wait_until 10 running_is 2 || fail "jobs did not start"
  local agent
  agent=$(head -1 "$T/parent.out")
  kill -9 "$agent"
  wait_until 5 pid_gone "$agent" || fail "the agent did not die"
  [[ -e /proc/$agent ]] || fail "the agent was reaped: the test needs a zombie"
  local t0
  t0=$(now_ms)
  expect_exit 0 muster cancel zc --force
  expect_lt $(($(now_ms) - t0)) "$(scaled 5000 10000)" "ms to cancel a run whose agent is a zombie"
  expect_contains "$STDERR" "no live agent"
  expect_eq "$(run_state zc)" cancelled "run state"
  marker_gone "$m" || fail "job processes survived: $(marker_pids "$m" | tr '\n' ' ')"
  kill "$parent"
  wait_bg "$parent" 10
}

test_a_resume_does_not_undo_an_unfinished_cancel() {
  TEST "a cancel cut short (control set, run not yet cancelled) is finished by cancel, not undone by resume"
  seq 1 3 >in.txt
  expect_exit 0 muster run -q --seed-only --name uc -i in.txt -- true
  store_sql "UPDATE runs SET control = 'cancel' WHERE name = 'uc'"
  expect_exit 2 muster resume uc
  expect_contains "$STDERR" "did not finish; \`muster cancel"
  expect_eq "$(count_state uc pending)" 3 "pending jobs after the refused resume"
  expect_exit 0 muster cancel uc --force
  expect_eq "$(run_state uc)" cancelled "run state"
}

test_control_commands_commit_their_events() {
  TEST "add, retry, pause and scale record their event with the change: kill -9 after add never loses it"
  seq 1 3 >in.txt
  expect_exit 1 muster run -q --name ev -i in.txt -- sh -c 'exit $(( $0 % 2 ))' {}
  expect_exit 0 muster retry ev --failed
  run_cmd muster events ev
  expect_contains "$STDOUT" "2 job(s): failed"
  # Kill `muster add` right as its jobs appear: the event is there too.
  local trial n added=0 jobs events
  for ((trial = 1; trial <= 6; trial++)); do
    seq $((trial * 100000)) $((trial * 100000 + 20000)) >"add$trial.txt"
    start_bg add muster add ev -i "add$trial.txt"
    n=$(store_sql "SELECT count(*) FROM jobs")
    while [[ $(store_sql "SELECT count(*) FROM jobs" 2>/dev/null) == "$n" ]] &&
      [[ ! -s $T/add.status ]]; do
      :
    done
    kill -9 "$BG_PID" 2>/dev/null
    wait_bg "$BG_PID" 10
    jobs=$(store_sql "SELECT count(*) FROM jobs")
    events=$(store_sql "SELECT count(*) FROM events WHERE action = 'add'")
    [[ $jobs == "$n" ]] || added=$((added + 1))
    expect_eq "$events" "$added" "trial $trial: add events (jobs $n -> $jobs)"
  done
  expect_sql "PRAGMA integrity_check" ok "integrity"
}

test_pause_all_and_resume_all() {
  TEST "pause --all pauses every live run of the store, and resume --all resumes them"
  make_job
  { echo id,t; seq 1 40 | sed 's/$/,0.2/'; } >in.csv
  start_bg a muster run -q -j 1 --name pa -i in.csv --id-column id --no-stdout -- ./job.sh a{id} {t}
  local a=$BG_PID
  start_bg b muster run -q -j 1 --name pb -i in.csv --id-column id --no-stdout -- ./job.sh b{id} {t}
  local b=$BG_PID
  expect_exit 0 muster run -q --seed-only --name pc -i in.csv --id-column id -- true
  wait_until 10 state_is_of pa running || fail "pa did not start"
  wait_until 10 state_is_of pb running || fail "pb did not start"
  expect_exit 2 muster pause
  expect_contains "$STDERR" "--all"
  expect_exit 0 muster pause --all
  expect_contains "$STDERR" "paused 2 live run(s)"
  expect_eq "$(run_state pa) $(run_state pb)" "paused paused" "states after pause --all"
  expect_eq "$(run_state pc)" created "a run with no agent is left as it is"
  local n
  n=$(lines starts.log)
  sleep 1
  (( $(lines starts.log) <= n + 2 )) || fail "jobs kept starting after pause --all ($n -> $(lines starts.log))"
  expect_exit 0 muster resume --all
  expect_contains "$STDERR" "resumed 2 live run(s)"
  wait_until 10 state_is_of pa running || fail "pa did not resume"
  expect_exit 0 muster cancel pa --force
  expect_exit 0 muster cancel pb --force
  wait_bg "$a" 30
  wait_bg "$b" 30
  run_cmd muster events pb
  expect_contains "$STDOUT" "pause"
  expect_contains "$STDOUT" "resume"
}

# End to end: several agents on one run. `muster join` takes a share of a
# live run; claims are atomic, so every job runs once; an agent killed with
# SIGKILL has its jobs recovered by the other within three heartbeats; a job
# whose lease was taken over is stopped by its old agent (fencing); and the
# overview commands (workers, summary, list, cleanup) read all of it.

run_state() {
  db "SELECT state FROM runs ORDER BY rid DESC LIMIT 1" 2>/dev/null
}

running_count() {
  db "SELECT count(*) FROM jobs WHERE state = 'running'" 2>/dev/null
}

# recovered JOB AGENT_PID: the job no longer runs under that agent.
recovered() {
  [[ $(db "SELECT state <> 'running' OR coalesce(aid, 0) NOT IN (SELECT aid FROM agents WHERE pid = $2) FROM jobs WHERE id = '$1'") == 1 ]]
}

# agent_runs PID: the agent with that pid runs at least one job.
agent_runs() {
  [[ $(db "SELECT count(*) FROM jobs j JOIN agents a ON a.aid = j.aid WHERE a.pid = $1 AND j.state = 'running'") -ge 1 ]]
}

busy_slots_are() {
  [[ $(muster workers --status busy --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == "$1" ]]
}

running_is() {
  [[ $(running_count) == "$1" ]]
}

agents_running() {
  [[ $(db "SELECT count(*) FROM agents WHERE state = 'running'" 2>/dev/null) == "$1" ]]
}

test_two_agents_share_a_run() {
  TEST "two agents on one run: every job runs exactly once, and both did work"
  local n
  n=$(scaled 3000 600)
  seq 1 "$n" >in.txt
  start_bg a muster run -q -j 2 --name two -i in.txt --no-stdout -- sh -c 'echo {} $PPID >>done.txt'
  wait_until 10 test -s done.txt || fail "no job ran"
  start_bg b muster join two -j 2 -q --no-stdout
  local b=$BG_PID
  wait_bg "$b" 120
  expect_eq "$BG_STATUS" 0 "joined agent exit"
  local a
  a=$(awk '$2 == "a" {print $1}' "$T/.bg")
  wait_bg "$a" 120
  expect_eq "$BG_STATUS" 0 "first agent exit"
  expect_eq "$(wc -l <done.txt)" "$n" "job runs"
  expect_eq "$(awk '{print $1}' done.txt | sort -u | wc -l)" "$n" "distinct jobs"
  expect_eq "$(awk '{print $2}' done.txt | sort -u | wc -l)" 2 "agents that ran jobs"
  expect_eq "$(count_state two succeeded)" "$n" "succeeded"
  expect_eq "$(run_state)" completed "run state"
  # Slot numbers are unique on the host across both agents.
  expect_sql "SELECT count(DISTINCT slot) FROM jobs" 4 "distinct slot numbers"
}

test_run_refuses_a_second_agent() {
  TEST "run --name of a live run is refused (exit 3); join is the way in"
  local m
  m=$(marker 30)
  start_bg a muster run -q -j 1 --name solo -- sleep "$m" ::: 1 2
  wait_until 10 marker_pids "$m" >/dev/null || fail "job did not start"
  expect_exit 3 muster run -q --name solo -- sleep "$m" ::: 1 2
  expect_contains "$STDERR" "held by a live muster"
  expect_exit 0 muster cancel solo --force
  wait_bg "$BG_PID" 30
}

kill_one_of_two() {
  # kill_one_of_two ON_INTERRUPT: two agents, 1s jobs; SIGKILL the joined one
  # while it runs jobs; prints nothing, leaves the run finished.
  seq 1 16 >in.txt
  cat >job.sh <<'SH'
#!/bin/sh
echo "$1 start $$" >>log
sleep 1
echo "$1 end" >>log
SH
  chmod +x job.sh
  start_bg a muster run -q -j 2 --name k --on-interrupt "$1" -i in.txt --no-stdout -- ./job.sh {}
  A=$BG_PID
  wait_until 10 test -s log || fail "no job started"
  start_bg b muster join k -j 2 -q --no-stdout
  B=$BG_PID
  wait_until 10 agent_runs "$B" || fail "joined agent ran nothing"
  VICTIMS=$(db "SELECT group_concat(j.id, ' ') FROM jobs j JOIN agents a ON a.aid = j.aid WHERE a.pid = $B AND j.state = 'running'")
  KILLED_AT=$(now_ms)
  kill -9 "$B"
}

test_killed_agent_jobs_are_requeued_by_the_other() {
  TEST "kill -9 of one of two agents: the other recovers its running jobs within 3 heartbeats and completes them"
  kill_one_of_two requeue
  local v
  for v in $VICTIMS; do
    # Recovered (requeued) within 3 heartbeat intervals (2s) plus slack.
    wait_until 8 recovered "$v" "$B" || fail "job $v of the killed agent was not recovered within 8s"
  done
  (( $(now_ms) - KILLED_AT < 9000 )) || fail "recovery took too long"
  wait_bg "$A" 60
  expect_eq "$BG_STATUS" 0 "surviving agent exit"
  expect_eq "$(count_state k succeeded)" 16 "succeeded"
  expect_sql "SELECT state FROM agents WHERE pid = $B" offline "killed agent's state"
  for v in $VICTIMS; do
    expect_sql "SELECT interrupts FROM jobs WHERE id = '$v'" 1 "interrupts of job $v"
  done
}

test_killed_agent_jobs_are_held() {
  TEST "with on_interrupt = hold, a killed agent's jobs become interrupted and never run twice"
  kill_one_of_two hold
  wait_bg "$A" 60
  expect_eq "$BG_STATUS" 1 "surviving agent exit (held jobs left)"
  local v
  for v in $VICTIMS; do
    expect_sql "SELECT state FROM jobs WHERE id = '$v'" interrupted "job $v"
    expect_eq "$(grep -c "^$v start" log)" 1 "starts of held job $v"
  done
  expect_eq "$(count_state k succeeded)" $((16 - $(wc -w <<<"$VICTIMS"))) "succeeded"
}

test_fencing_stops_a_job_whose_lease_was_taken() {
  TEST "fencing: when another agent takes over a job's lease, the old agent kills its process group"
  local m
  m=$(marker 6)
  start_bg a muster run -q -j 1 --name f --shell -- "sleep $m; touch survived-{}" ::: 1
  wait_until 10 marker_pids "$m" >/dev/null || fail "job did not start"
  # Another agent declares this one gone and takes its job (as a recovery
  # after lost heartbeats would): the job is no longer the agent's.
  db "UPDATE agents SET state = 'offline'; UPDATE jobs SET state = 'pending', aid = NULL WHERE state = 'running'"
  wait_until 5 marker_gone "$m" || fail "the job's process survived its lost lease"
  wait_bg "$BG_PID" 20
  [[ $BG_STATUS != 0 ]] || fail "the fenced agent exited 0"
  expect_contains "$(cat "$T/a.err")" "took over its jobs"
  sleep 1
  [[ ! -e survived-1 ]] || fail "the fenced job ran to its end"
}

test_workers_summary_list() {
  TEST "workers lists every agent's slots with their jobs; summary and list --status/--limit"
  local m
  m=$(marker 30)
  start_bg a muster run -q -j 2 --name wk -- sleep "$m" ::: 1 2 3
  wait_until 10 marker_pids "$m" >/dev/null || fail "no job started"
  wait_until 5 busy_slots_are 2 || fail "workers does not show 2 busy slots: $(muster workers)"
  run_cmd muster workers --json
  expect_contains "$STDOUT" '"state": "busy"'
  expect_contains "$STDOUT" '"job": "1"'
  run_cmd muster summary --json
  expect_eq "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["workers"]["busy"], d["runs"]["active"])' "$T/.last.out")" "2 1" "summary"
  expect_exit 0 muster run -q --name done1 -- true ::: a
  run_cmd muster list --status completed --json
  expect_eq "$(python3 -c 'import json,sys; print([r["name"] for r in json.load(open(sys.argv[1]))])' "$T/.last.out")" "['done1']" "completed runs"
  run_cmd muster list --limit 1 --json
  expect_eq "$(python3 -c 'import json,sys; print([r["name"] for r in json.load(open(sys.argv[1]))])' "$T/.last.out")" "['done1']" "newest run"
  expect_exit 0 muster cancel wk --force
  wait_bg "$BG_PID" 30
  run_cmd muster workers --status busy
  expect_contains "$STDOUT" "no workers"
}

test_cleanup() {
  TEST "cleanup --dry-run deletes nothing; cleanup removes only finished runs older than the cutoff"
  expect_exit 0 muster run -q --name old -- true ::: a b
  expect_exit 0 muster run -q --name new -- true ::: a
  expect_exit 0 muster run -q --seed-only --name unfinished -- true ::: a
  local old_id
  old_id=$(db "SELECT id FROM runs WHERE name = 'old'")
  db "UPDATE runs SET updated_at = updated_at - 10 * 86400000 WHERE name IN ('old', 'unfinished')"
  [[ -d .muster/runs/$old_id ]] || fail "no files for the old run"
  expect_exit 0 muster cleanup --days 7 --dry-run
  expect_contains "$STDOUT" "would delete $old_id"
  expect_sql "SELECT count(*) FROM runs" 3 "runs after a dry run"
  expect_exit 0 muster cleanup --days 7
  expect_sql "SELECT group_concat(name, ' ') FROM (SELECT name FROM runs ORDER BY name)" "new unfinished" "runs left"
  expect_sql "SELECT count(*) FROM jobs WHERE rid NOT IN (SELECT rid FROM runs)" 0 "orphan jobs"
  [[ ! -e .muster/runs/$old_id ]] || fail "the old run's files are still there"
}

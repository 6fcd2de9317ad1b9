# End to end: several agents on one run. `muster join` takes a share of a
# live run; claims are atomic, so every job runs once; an agent killed with
# SIGKILL has its jobs recovered by the other within three heartbeats; a job
# whose lease was taken over is stopped by its old agent (fencing); and the
# overview commands (workers, summary, list, cleanup) read all of it.

# Running jobs of the newest run (each test has one run).
running_count() {
  json run_json 'j["counts"]["running"]' 2>/dev/null
}

# running_pids: the pids in `muster status --json` of the newest run: its
# running jobs' (and its holder's, which is no job's). These are polled
# while 1s jobs come and go, so they are picked out with sed, not parsed:
# a Python start can take seconds on a loaded machine.
running_pids() {
  muster_store status --json 2>/dev/null | sed -n 's/^ *"pid": \([0-9]*\),\{0,1\}$/\1/p'
}

# recovered JOB:SLOT: the job no longer runs in that slot (it was taken from
# the agent that owns the slot: slot numbers are unique on the host). Picked
# out of `muster status --json` with grep, for the same reason.
recovered() {
  ! muster_store status --json 2>/dev/null | tr -d ' \n' | grep -q "{\"slot\":${1#*:},\"job\":\"${1%%:*}\""
}

# agent_runs PID: the agent with that pid runs at least one job (a running
# job's process is its child).
agent_runs() {
  local pids child
  pids=$(running_pids)
  for child in $(pgrep -P "$1"); do
    grep -qx "$child" <<<"$pids" && return 0
  done
  return 1
}

busy_slots_are() {
  [[ $(muster workers --status busy --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == "$1" ]]
}

running_is() {
  [[ $(running_count) == "$1" ]]
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
  expect_json jobs_json 'len({x["slot"] for x in j})' 4 "distinct slot numbers"
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
  # Stopped, it starts and records nothing more; the store is read then,
  # before the kill (once it is gone the other agent soon recovers its
  # jobs), and parsed after (a Python start can take seconds on a loaded
  # machine). Its jobs are the running ones that name its agent id.
  KILLED_AT=$(now_ms)
  kill -STOP "$B"
  muster_store status --json >killed.json
  muster_store workers --json >workers.json
  kill -9 "$B"
  local b_agent
  b_agent=$(json_eval workers.json "[w['agent'] for w in j if w['pid'] == $B][0]")
  VICTIM_SLOTS=$(json_eval killed.json "' '.join('%s:%s' % (r['job'], r['slot']) for r in j['running'] if r['agent'] == $b_agent)")
  [[ -n $VICTIM_SLOTS ]] || fail "the stopped agent (agent $b_agent) ran no job: $(cat killed.json)"
  VICTIMS=$(printf '%s\n' $VICTIM_SLOTS | sed 's/:.*//' | paste -sd' ')
}

test_killed_agent_jobs_are_requeued_by_the_other() {
  TEST "kill -9 of one of two agents: the other recovers its running jobs within 3 heartbeats and completes them"
  kill_one_of_two requeue
  local v
  for v in $VICTIM_SLOTS; do
    # Recovered (requeued) within 3 heartbeat intervals (2s) plus slack.
    wait_until 8 recovered "$v" || fail "job ${v%%:*} of the killed agent was not recovered within 8s"
  done
  (( $(now_ms) - KILLED_AT < 9000 )) || fail "recovery took too long"
  wait_bg "$A" 60
  expect_eq "$BG_STATUS" 0 "surviving agent exit"
  expect_eq "$(count_state k succeeded)" 16 "succeeded"
  expect_json "workers_json k" "' '.join(sorted({w['state'] for w in j if w['pid'] == $B}))" offline "killed agent's state"
  for v in $VICTIMS; do
    expect_json jobs_json "job('$v')['interrupts']" 1 "interrupts of job $v"
  done
}

test_killed_agent_jobs_are_held() {
  TEST "with on_interrupt = hold, a killed agent's jobs become interrupted and never run twice"
  kill_one_of_two hold
  wait_bg "$A" 60
  expect_eq "$BG_STATUS" 1 "surviving agent exit (held jobs left)"
  local v
  for v in $VICTIMS; do
    expect_json jobs_json "job('$v')['state']" interrupted "job $v"
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
  store_sql "UPDATE agents SET state = 'offline'; UPDATE jobs SET state = 'pending', aid = NULL WHERE state = 'running'"
  wait_until 5 marker_gone "$m" || fail "the job's process survived its lost lease"
  wait_bg "$BG_PID" 20
  # 5, as for any fencing (not 2, which supervisors take as bad flags).
  expect_eq "$BG_STATUS" 5 "exit status of the fenced agent"
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
  old_id=$(json runs_json '[r["id"] for r in j if r["name"] == "old"][0]')
  store_sql "UPDATE runs SET updated_at = updated_at - 10 * 86400000 WHERE name IN ('old', 'unfinished')"
  [[ -d .muster/runs/$old_id ]] || fail "no files for the old run"
  expect_exit 0 muster cleanup --days 7 --dry-run
  expect_contains "$STDOUT" "would delete $old_id"
  expect_json runs_json 'len(j)' 3 "runs after a dry run"
  expect_exit 0 muster cleanup --days 7
  expect_json runs_json '" ".join(sorted(r["name"] for r in j))' "new unfinished" "runs left"
  expect_exit 2 muster jobs "$old_id" --json
  expect_contains "$STDERR" "$old_id" "jobs of the deleted run"
  [[ ! -e .muster/runs/$old_id ]] || fail "the old run's files are still there"
}

running_jobs_are() {
  [[ $(count_state "$1" running) == "$2" ]]
}

test_views_of_a_dead_agent_are_truthful() {
  TEST "status, jobs, list and workers show a killed agent as gone, not running; workers hides ended runs unless --all"
  local m
  m=$(marker 60)
  start_bg agent muster run -q -j 2 --name dead --no-stdout -- sleep "$m" ::: 1 2 3
  wait_until 10 running_jobs_are dead 2 || fail "jobs did not start"
  kill -9 "$BG_PID"
  wait_bg "$BG_PID" 10
  run_cmd muster status dead
  expect_contains "$STDOUT" "dead): running (agent gone)"
  expect_contains "$STDOUT" "agent gone"
  expect_json "run_json dead" 'j["agent_alive"]' false "status --json agent_alive"
  expect_json "run_json dead" '[r["agent_alive"] for r in j["running"]]' '[false, false]' "running jobs' agent_alive"
  run_cmd muster jobs dead
  expect_contains "$STDOUT" "running (agent gone)"
  expect_json "jobs_json dead" '[x["agent_alive"] for x in j]' '[false, false, null]' "jobs --json agent_alive"
  run_cmd muster list
  expect_match "$STDOUT" "dead +running \(agent gone\)" "list"
  run_cmd muster workers
  expect_match "$STDOUT" "offline" "workers"
  expect_exit 0 muster cancel dead --force
  marker_gone "$m" || fail "job processes survived the cancel"
  run_cmd muster workers
  expect_contains "$STDOUT" "no workers"
  run_cmd muster workers --all
  expect_match "$STDOUT" "offline" "workers --all"
}

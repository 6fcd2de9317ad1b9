# End to end: agents on three hosts and one PostgreSQL server. Each host is
# a network namespace of its own, with its own host name (UTS namespace) and
# process ids (PID namespace), on a bridge in the root namespace; the server
# of each test listens on the bridge's address only. So the agents meet
# only in the store, as on real hosts, and a host can be cut off from the
# server by taking its link down.
#
# It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), ip(8) and unshare(1);
# without them every test says why it is skipped. It starts its own
# servers (scripts/postgres.sh start), so MUSTER_TEST_POSTGRES is not used.

PG_SCRIPT=$E2E_DIR/../../scripts/postgres.sh

# ---------------------------------------------------------------------------
# Hosts.

# hosts_why_not: why this machine cannot make the hosts (nothing if it can).
hosts_why_not() {
  if [[ $(id -u) != 0 ]]; then
    echo "it needs root to make network namespaces"
  elif ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
    echo "it needs ip(8) (iproute2) and unshare(1) (util-linux)"
  elif [[ -z $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null) ]]; then
    echo "no PostgreSQL server under /usr/lib/postgresql"
  fi
}

# hosts_up: the bridge, three hosts on it and a server for them; every
# piece is removed however the test ends (hosts_down). Sets
#   HOSTS_NET       the /24's first three octets; the server is on .1
#   HOSTS_NS[N]     host N's network namespace (N = 1..3), at .1N
#   HOSTS_VETH[N]   the root namespace's end of host N's link
#   MUSTER_STORE    the server's URL (for the hosts and for this shell)
# Returns 1 with a "skipped" line when this machine cannot make them.
hosts_up() {
  local why
  why=$(hosts_why_not)
  if [[ -n $why ]]; then
    echo "  skipped: $E2E_CURRENT: $why"
    return 1
  fi
  HOSTS_ID=$BASHPID
  HOSTS_BRIDGE=mhbr$HOSTS_ID
  HOSTS_NS=() HOSTS_VETH=()
  PG_PRIVATE=''
  trap 'hosts_down; e2e_cleanup_test' EXIT
  # A /24 that no interface here uses yet (10.231.57 unless another suite
  # has it).
  local x
  HOSTS_NET=''
  for x in 57 58 59 60 61 62 63 64 65 66; do
    if ! ip -4 -o addr show | grep -q " 10\.231\.$x\."; then
      HOSTS_NET=10.231.$x
      break
    fi
  done
  [[ -n $HOSTS_NET ]] || fail "no free /24 among 10.231.57-66.0 for the hosts' bridge"
  if ! ip link add "$HOSTS_BRIDGE" type bridge 2>"$T/ip.err"; then
    echo "  skipped: $E2E_CURRENT: cannot make a bridge: $(cat "$T/ip.err")"
    return 1
  fi
  ip addr add "$HOSTS_NET.1/24" dev "$HOSTS_BRIDGE" &&
    ip link set "$HOSTS_BRIDGE" up || fail "cannot set up the bridge $HOSTS_BRIDGE"
  local n ns veth
  for n in 1 2 3; do
    ns=musterh-$HOSTS_ID-$n
    veth=mh${HOSTS_ID}h$n
    if ! ip netns add "$ns" 2>"$T/ip.err"; then
      echo "  skipped: $E2E_CURRENT: cannot make a network namespace: $(cat "$T/ip.err")"
      return 1
    fi
    HOSTS_NS[n]=$ns
    ip link add "$veth" type veth peer name eth0 netns "$ns" ||
      fail "cannot make the link of host $n"
    HOSTS_VETH[n]=$veth
    ip link set "$veth" master "$HOSTS_BRIDGE" up &&
      ip -n "$ns" addr add "$HOSTS_NET.1$n/24" dev eth0 &&
      ip -n "$ns" link set eth0 up &&
      ip -n "$ns" link set lo up || fail "cannot set up the link of host $n"
  done
  # The hosts' own host names and process ids.
  if ! ip netns exec "${HOSTS_NS[1]}" unshare --uts --pid --fork --mount-proc \
    sh -c 'hostname probe' 2>"$T/ip.err"; then
    echo "  skipped: $E2E_CURRENT: cannot make UTS and PID namespaces: $(cat "$T/ip.err")"
    return 1
  fi
  # Under /tmp, not the test's directory: the server's user must reach it.
  PG_PRIVATE=$(mktemp -d /tmp/muster-pg.XXXXXX)
  PG_LISTEN=$HOSTS_NET.1 PG_HBA_EXTRA="host all all $HOSTS_NET.0/24 trust" \
    bash "$PG_SCRIPT" start "$PG_PRIVATE" >/dev/null 2>"$T/pg.err" ||
    fail "cannot start a PostgreSQL server on $HOSTS_NET.1: $(cat "$T/pg.err")"
  export MUSTER_STORE="postgresql://muster-pg@$HOSTS_NET.1:$(cat "$PG_PRIVATE/port")/muster"
  for n in 1 2 3; do
    mkdir -p "$T/h$n"
  done
  # Each host reaches the server.
  for n in 1 2 3; do
    on_host_fg "$n" psql "$MUSTER_STORE" -qAt -c 'SELECT 1' >/dev/null 2>"$T/ip.err" ||
      fail "host $n cannot reach the server at $HOSTS_NET.1: $(cat "$T/ip.err")"
  done
  return 0
}

# hosts_down: whatever hosts_up made goes, with every process left in a host.
hosts_down() {
  e2e_cleanup_test
  local ns p
  for ns in "${HOSTS_NS[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      kill -CONT "$p" 2>/dev/null
      kill -9 "$p" 2>/dev/null
    done
  done
  if [[ -n ${PG_PRIVATE:-} ]]; then
    bash "$PG_SCRIPT" stop "$PG_PRIVATE"
  fi
  for ns in "${HOSTS_NS[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  local v
  for v in "${HOSTS_VETH[@]}"; do
    ip link del "$v" 2>/dev/null
  done
  [[ -n ${HOSTS_BRIDGE:-} ]] && ip link del "$HOSTS_BRIDGE" 2>/dev/null
  HOSTS_NS=() HOSTS_VETH=() HOSTS_BRIDGE='' PG_PRIVATE=''
}

# The wrapper that runs a command as host N: in its namespaces, named hostN,
# in $T/hN, with MUSTER_FILES there and MH_HOST (the host's name) in the
# environment of what it runs, so jobs can say where they ran. The command
# is not exec'd: sh is process 1 of the host's PID namespace, and when it
# ends every process of the host ends with it.
HOST_WRAPPER='hostname "$1" && cd "$2" || exit 99; export MH_HOST="$1" MUSTER_FILES="$2/.muster"; shift 2; "$@"'

# on_host_fg N CMD...: runs CMD as host N and waits for it.
on_host_fg() {
  local n=$1
  shift
  ip netns exec "${HOSTS_NS[$n]}" unshare --uts --pid --fork --kill-child --mount-proc \
    sh -c "$HOST_WRAPPER" sh "host$n" "$T/h$n" "$@"
}

# on_host N NAME ARGS...: starts `muster ARGS...` as host N in the
# background (start_bg NAME, so NAME.out, NAME.err and wait_bg work).
on_host() {
  local n=$1 name=$2
  shift 2
  start_bg "$name" ip netns exec "${HOSTS_NS[$n]}" \
    unshare --uts --pid --fork --kill-child --mount-proc \
    sh -c "$HOST_WRAPPER" sh "host$n" "$T/h$n" "$MUSTER_BIN" "$@"
}

# join_all ARGS...: `muster join ARGS...` on each host, as a1, a2, a3; their
# pids (of the host's wrapper) in AGENT[1..3].
join_all() {
  local n
  AGENT=()
  for n in 1 2 3; do
    on_host "$n" "a$n" join "$@"
    AGENT[n]=$BG_PID
  done
}

# agent_pid N: the pid (in this namespace) of host N's muster agent: the
# child of the host's process 1.
agent_pid() {
  local init
  init=$(pgrep -P "${AGENT[$1]}" | head -1)
  # pgrep matches the first 15 characters of the program's name.
  [[ -n $init ]] && pgrep -P "$init" -x "$(basename "$MUSTER_BIN" | cut -c1-15)"
}

# wait_agents SECONDS: waits for the three agents; their statuses in
# AGENT_STATUS[1..3].
wait_agents() {
  local n
  AGENT_STATUS=()
  for n in 1 2 3; do
    wait_bg "${AGENT[$n]}" "$1"
    AGENT_STATUS[n]=$BG_STATUS
  done
}

# cut_off N: host N's link goes down: it reaches nothing, and nothing it.
cut_off() {
  ip link set "${HOSTS_VETH[$1]}" down || fail "cannot take host $1's link down"
}

# host_processes N: the pids of what still runs on host N (nothing once its
# agent and every job it started are gone).
host_processes() {
  ip netns pids "${HOSTS_NS[$1]}" 2>/dev/null
}

host_is_empty() {
  [[ -z $(host_processes "$1") ]]
}

expect_no_host_process() {
  local n
  for n in 1 2 3; do
    wait_until 5 host_is_empty "$n" ||
      fail "processes left on host $n: $(ps -o pid,ppid,etime,args -p "$(host_processes "$n" | paste -sd,)" 2>&1)"
  done
}

# pg_owner CMD...: CMD as the server's owner.
pg_owner() {
  (cd / && runuser -u muster-pg -- "$@")
}

# ---------------------------------------------------------------------------
# Jobs that say when they ran.

# make_timed_job: $T/job.sh ID MS [MS_OFF_HOST3], a job that runs MS ms
# (MS_OFF_HOST3 on hosts other than host 3, if given) and writes to
# $T/m/ID.HOST.PID (PID: its own, on that host) `start T` when it starts,
# `alive T` every 100 ms and `end T` when it ends, T in epoch ms (the hosts
# share this machine's clock).
make_timed_job() {
  mkdir -p "$T/m"
  cat >"$T/job.sh" <<SH
#!/bin/bash
f=$T/m/\$1.\$MH_HOST.\$\$
ms() { local t=\${EPOCHREALTIME/[.,]/}; MS=\${t%???}; }
ms
echo "start \$MS" >>"\$f"
d=\$2
[[ -n \${3:-} && \$MH_HOST != host3 ]] && d=\$3
end=\$((MS + d))
while ms; ((MS < end)); do
  echo "alive \$MS" >>"\$f"
  sleep 0.1
done
echo "end \$MS" >>"\$f"
SH
  chmod +x "$T/job.sh"
}

# attempts_json: every attempt in $T/m as JSON: [{"job", "host", "pid",
# "start", "last", "ended"}], "last" the time of its last line.
attempts_json() {
  "$E2E_PYTHON" -I -S -c '
import json, os, sys
out = []
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    job, host, pid = name.split(".")
    lines = [l.split() for l in open(os.path.join(d, name)) if l.strip()]
    out.append({"job": job, "host": host, "pid": pid, "start": int(lines[0][1]),
                "last": int(lines[-1][1]), "ended": lines[-1][0] == "end"})
print(json.dumps(out))
' "$T/m"
}

# Overlapping attempts of one job (JOB:HOST1@LAST>HOST2@START ...), from
# attempts.json: an attempt's last line came after the next one started.
overlaps() {
  json_eval attempts.json '" ".join(
    "%s:%s@%d>%s@%d" % (a["job"], a["host"], a["last"], b["host"], b["start"])
    for job in sorted({x["job"] for x in j}, key=int)
    for a, b in zip(*(lambda s: (s, s[1:]))(sorted((x for x in j if x["job"] == job), key=lambda x: x["start"])))
    if a["last"] >= b["start"])'
}

# ---------------------------------------------------------------------------

test_three_hosts_run_every_job_once() {
  TEST "three hosts share a run of 20,000 jobs: each runs exactly once, and every host did work"
  hosts_up || return 0
  local n t0
  n=$(scaled 20000 2000)
  seq 1 "$n" >in.txt
  # Each job appends its id and its host to one file (O_APPEND): a record
  # of what ran that the store does not write.
  expect_exit 0 muster run --seed-only -q --name many -i in.txt -- sh -c "echo {} \$MH_HOST >>$T/ran"
  t0=$(now_ms)
  join_all many -j 4 -q --no-stdout
  wait_agents 400
  echo "  $n jobs on three hosts in $(($(now_ms) - t0)) ms" >&2
  for n in 1 2 3; do
    expect_eq "${AGENT_STATUS[$n]}" 0 "exit status of host $n's agent (stderr: $(head -c 2000 "a$n.err"))"
  done
  n=$(wc -l <in.txt)
  expect_eq "$(wc -l <ran)" "$n" "job runs in the ledger"
  expect_eq "$(awk '{print $1}' ran | sort -n | uniq -d | head -5 | paste -sd' ')" "" "jobs that ran more than once"
  expect_eq "$(awk '{print $1}' ran | sort -u | wc -l)" "$n" "distinct jobs that ran"
  expect_eq "$(awk '{print $2}' ran | sort -u | paste -sd' ')" "host1 host2 host3" "hosts in the ledger"
  muster_store jobs many --json >jobs.json || fail "muster jobs failed"
  expect_eq "$(json_eval jobs.json 'groups("state")')" "succeeded:$n" "the jobs' states"
  expect_eq "$(json_eval jobs.json 'sum(x["attempts"] for x in j)')" "$n" "attempts in the store"
  expect_eq "$(json_eval jobs.json '" ".join(sorted({x["host"] for x in j}))')" "host1 host2 host3" "hosts in the store"
  # The store and the ledger agree on where each job ran.
  expect_eq "$(json_eval jobs.json '"\n".join("%s %s" % (x["id"], x["host"]) for x in j)' | sort)" \
    "$(sort ran)" "each job's host, in the store against the ledger"
  expect_eq "$(run_state many)" completed "the run's state"
  expect_exit 0 muster check
}

# day_start_far_from_now: a --day-starts 12 hours from now in UTC, so that
# no day window opens during the test.
day_start_far_from_now() {
  date -u -d '+12 hours' +%H:00
}

test_limits_hold_across_hosts() {
  TEST "limits hold across three hosts: --per-key 1 lets no two jobs of a key run at once, --per-key-daily 3 starts a key 3 times"
  hosts_up || return 0
  local n
  make_timed_job
  # 4 keys, 5 jobs each, in turn (job 1 is a, 2 b, 3 c, 4 d, 5 a ...); one
  # slot a host, so that a key's next job goes to whichever host is free
  # first, not to the one whose commit freed the key.
  expect_exit 0 muster run --seed-only -q --name lim --key '{2}' --per-key 1 --per-key-daily 3 \
    --timezone UTC --day-starts "$(day_start_far_from_now)" -- "$T/job.sh" '{job}' 400 ::: 1 2 3 4 5 ::: a b c d
  join_all lim -j 1 -q --no-stdout --no-wait --heartbeat 1s
  wait_agents 120
  # Every job left waits for the next day: --no-wait is exit 4.
  for n in 1 2 3; do
    expect_eq "${AGENT_STATUS[$n]}" 4 "exit status of host $n's agent (stderr: $(head -c 2000 "a$n.err"))"
  done
  attempts_json >attempts.json
  muster_store jobs lim --json >jobs.json || fail "muster jobs failed"
  # The jobs' own record: each key started 3 times, and its runs never
  # overlapped, whichever hosts ran them.
  local by_key='{x["id"]: x["key"] for x in __import__("json").load(open("jobs.json"))}'
  expect_eq "$(json_eval attempts.json "(lambda k: ' '.join('%s:%d' % (key, sum(1 for x in j if k[x['job']] == key)) for key in 'abcd'))($by_key)" 2>&1)" \
    "a:3 b:3 c:3 d:3" "starts per key (from the jobs' own markers)"
  local overlapping
  overlapping=$(json_eval attempts.json "(lambda k: ' '.join(
      '%s:%s@%s-%s/%s@%s-%s' % (key, a['host'], a['start'], a['last'], b['host'], b['start'], b['last'])
      for key in 'abcd'
      for s in [sorted((x for x in j if k[x['job']] == key), key=lambda x: x['start'])]
      for a, b in zip(s, s[1:]) if a['last'] >= b['start']))($by_key)" 2>&1)
  expect_eq "$overlapping" "" "jobs of one key that ran at once (key:host@start-end/host@start-end)"
  # Not one host's affair: each key ran on more than one host.
  local spread
  spread=$(json_eval attempts.json "(lambda k: ' '.join('%s:%d' % (key, len({x['host'] for x in j if k[x['job']] == key})) for key in 'abcd'))($by_key)")
  echo "  hosts per key: $spread" >&2
  [[ $spread != *:1* ]] || fail "a key ran on one host only (key:hosts): $spread"
  expect_eq "$(json_eval jobs.json 'groups("key", "state")')" \
    "a:succeeded:3 a:waiting:2 b:succeeded:3 b:waiting:2 c:succeeded:3 c:waiting:2 d:succeeded:3 d:waiting:2" \
    "the jobs' states per key in the store"
  # Why each of the rest waits, as `muster why` sees it now.
  local v key
  for v in $(json_eval jobs.json "' '.join(x['id'] for x in j if x['state'] == 'waiting')"); do
    key=$(json_eval jobs.json "job('$v')['key']")
    expect_exit 0 muster why lim "$v"
    expect_contains "$STDOUT" "key $key at daily cap 3/3 until" "muster why lim $v"
  done
  expect_eq "$(json_eval jobs.json 'len({x["host"] for x in j if x["host"]})')" 3 "hosts that ran jobs"
  expect_exit 0 muster check
}

# cut_mid_run ON_INTERRUPT [heal]: 9 jobs on three hosts of 3 slots each
# (one wave: each host runs 3), heartbeat 1s; host 3's run 3 s, the
# others' 1 s, so that the survivors are idle when they recover host 3's
# jobs (test_recovery_kills_nothing_on_the_recovering_host has them busy).
# Once host 3 runs its 3 jobs, its link goes down (CUT_AT, epoch ms); the
# agents run to their end. With `heal`, the link comes up again once the
# survivors have ended. Leaves attempts.json, jobs.json, AGENT_STATUS and
# DONE_AT (when the last survivor ended).
cut_mid_run() {
  make_timed_job
  expect_exit 0 muster run --seed-only -q --name cut --on-interrupt "$1" -- "$T/job.sh" '{job}' 3000 1000 ::: 1 2 3 4 5 6 7 8 9
  join_all cut -j 3 --no-stdout --heartbeat 1s
  wait_until 20 eval '[[ $(ls m 2>/dev/null | grep -c "\.host3\.") -ge 3 ]]' ||
    fail "host 3 did not start 3 jobs: $(ls m)"
  # A moment after its jobs' claims were committed, between two of its
  # heartbeats.
  sleep 0.3
  cut_off 3
  CUT_AT=$(now_ms)
  wait_bg "${AGENT[1]}" 60
  AGENT_STATUS[1]=$BG_STATUS
  wait_bg "${AGENT[2]}" 60
  AGENT_STATUS[2]=$BG_STATUS
  DONE_AT=$(now_ms)
  if [[ ${2:-} == heal ]]; then
    ip link set "${HOSTS_VETH[3]}" up || fail "cannot bring host 3's link up again"
  fi
  wait_bg "${AGENT[3]}" 60
  AGENT_STATUS[3]=$BG_STATUS
  echo "  from the cut: the others done in $((DONE_AT - CUT_AT)) ms, host 3's agent ended in $(($(now_ms) - CUT_AT)) ms" >&2
  attempts_json >attempts.json
  muster_store jobs cut --json >jobs.json || fail "muster jobs failed"
}

# The jobs host 3 ran when it was cut off (started before, not ended
# before), from attempts.json.
cut_jobs() {
  json_eval attempts.json "' '.join(sorted((x['job'] for x in j if x['host'] == 'host3' and x['start'] < $CUT_AT and not (x['ended'] and x['last'] < $CUT_AT)), key=int))"
}

# The cut-off agent stopped by itself, and nothing of host 3 runs on.
expect_host3_fenced_itself() {
  expect_eq "${AGENT_STATUS[3]}" 5 "exit status of the cut-off agent (stderr: $(head -c 2000 a3.err))"
  expect_contains "$(cat a3.err)" "every job was stopped before its lease ran out, so that none runs twice" "the cut-off agent's stderr"
  expect_host3_stopped_in_time
}

# Nothing of host 3 runs on, and its jobs stopped before their lease ran out.
expect_host3_stopped_in_time() {
  expect_no_host_process 3
  # Its jobs died within their lease: 3 heartbeats from the last one that
  # got through, which was before the cut. (The other agents' recovery
  # cannot have stopped them: host 3's processes are out of their reach.)
  expect_eq "$(json_eval attempts.json "' '.join('%s@%d' % (x['job'], x['last'] - $CUT_AT) for x in j if x['host'] == 'host3' and x['last'] >= $CUT_AT + 3000)")" "" \
    "host 3's jobs that wrote later than 3000 ms after the cut (job@ms after the cut)"
}

# expect_cut_and_survivors STATUS: host 3 ran 3 jobs at the cut (in
# CUT_JOBS), and the agents of hosts 1 and 2 exited STATUS.
expect_cut_and_survivors() {
  local n
  CUT_JOBS=$(cut_jobs)
  expect_eq "$(wc -w <<<"$CUT_JOBS")" 3 "jobs host 3 ran at the cut ($CUT_JOBS)"
  for n in 1 2; do
    expect_eq "${AGENT_STATUS[$n]}" "$1" "exit status of host $n's agent (stderr: $(head -c 2000 "a$n.err"))"
  done
}

test_a_host_cut_off_under_requeue() {
  TEST "a host cut off mid-run: it stops its jobs before their lease ends, the others run them again, none runs twice at once"
  hosts_up || return 0
  cut_mid_run requeue
  expect_cut_and_survivors 0
  local fenced=$CUT_JOBS
  # Recovery: the lease (3 heartbeats) runs out, a survivor's next heartbeat
  # (1) requeues the jobs, and they run (1 s): 5 s from the cut, and 2.5 s
  # for a loaded machine.
  expect_lt "$((DONE_AT - CUT_AT))" 7500 "ms from the cut to the end of the run on the other hosts"
  expect_host3_fenced_itself
  expect_eq "$(json_eval jobs.json 'groups("state")')" "succeeded:9" "the jobs' states"
  # The only jobs that ran twice are those host 3 ran at the cut, and each
  # of them ran again, on another host, after host 3's attempt had died.
  expect_eq "$(json_eval attempts.json "' '.join(sorted({x['job'] for x in j if sum(1 for y in j if y['job'] == x['job']) > 1}, key=int))")" \
    "$fenced" "jobs that started twice"
  expect_eq "$(overlaps)" "" "attempts of one job that overlapped (job:host@last>host@start)"
  local v
  for v in $fenced; do
    # attempts counts the interrupted one.
    expect_eq "$(json_eval jobs.json "cat(job('$v'), 'state', 'attempts', 'interrupts')")" "succeeded:2:1" "job $v (state:attempts:interrupts)"
    expect_ne "$(json_eval jobs.json "job('$v')['host']")" host3 "the host that finished job $v"
    expect_eq "$(json_eval attempts.json "' '.join(x['host'] for x in j if x['job'] == '$v' and x['ended'])")" \
      "$(json_eval jobs.json "job('$v')['host']")" "the host whose attempt of job $v ran to its end"
  done
  expect_contains "$(cat a1.err a2.err)" "job(s) of an agent that is gone" "the survivors' stderr"
  expect_no_host_process 1
  expect_no_host_process 2
  expect_exit 0 muster check
}

test_a_host_cut_off_under_hold() {
  TEST "a host cut off mid-run under --on-interrupt hold: its jobs are held as interrupted, none starts twice"
  hosts_up || return 0
  # The link comes back once the others are done: what host 3 then says
  # of its jobs changes none of them.
  cut_mid_run hold heal
  # The survivors end 1: held jobs are left.
  expect_cut_and_survivors 1
  local fenced=$CUT_JOBS
  expect_host3_stopped_in_time
  # Back in reach, host 3's agent finds it was taken for gone (or it had
  # fenced itself before): its jobs were stopped, so its exit is not 0,
  # and not 2, which says that nothing was changed (and which the cluster
  # files take for a run that has ended, and start no new agent).
  expect_match "$(cat a3.err)" "another agent found this one gone and took over its jobs|every job was stopped before its lease ran out" "the healed agent's stderr"
  [[ ${AGENT_STATUS[3]} != 0 && ${AGENT_STATUS[3]} != 2 ]] ||
    fail "the agent whose jobs were taken over exited ${AGENT_STATUS[3]} (stderr: $(cat a3.err))"
  expect_eq "$(json_eval jobs.json "' '.join(sorted((x['id'] for x in j if x['state'] == 'interrupted'), key=int))")" \
    "$fenced" "interrupted jobs (host 3's at the cut)"
  expect_eq "$(json_eval jobs.json 'groups("state")')" "interrupted:3 succeeded:6" "the jobs' states"
  expect_eq "$(json_eval attempts.json 'groups("job")')" \
    "1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1" "starts of each job (job:starts)"
  expect_eq "$(run_state cut)" paused "the run's state"
  expect_exit 0 muster check
}

# crash_host N: host N dies at once, as a node that loses power: every
# process on it is killed (SIGKILL, each by its pid).
crash_host() {
  local p
  for p in $(host_processes "$1"); do
    kill -9 "$p" 2>/dev/null
  done
  wait_until 5 host_is_empty "$1" || fail "host $1's processes outlived SIGKILL: $(host_processes "$1")"
}

test_recovery_kills_nothing_on_the_recovering_host() {
  TEST "the jobs of a dead host are recovered by busy hosts: none of their own jobs is killed for it"
  hosts_up || return 0
  local n
  make_timed_job
  # Host 3 takes 3 jobs first; the other two (4 slots each, so each runs 2
  # at least) take the other 6 and are still running them (6 s) when one of
  # them recovers host 3's. Each host has process ids of its own, as real
  # hosts and containers do: their first jobs' process groups have the
  # same numbers as host 3's, and only host 3's may be killed for them.
  expect_exit 0 muster run --seed-only -q --name dead -- "$T/job.sh" '{job}' 6000 ::: 1 2 3 4 5 6 7 8 9
  on_host 3 a3 join dead -j 3 --no-stdout --heartbeat 1s
  AGENT[3]=$BG_PID
  wait_until 20 eval '[[ $(ls m 2>/dev/null | grep -c "\.host3\.") -ge 3 ]]' ||
    fail "host 3 did not start 3 jobs: $(ls m)"
  on_host 1 a1 join dead -j 4 --no-stdout --heartbeat 1s
  AGENT[1]=$BG_PID
  on_host 2 a2 join dead -j 4 --no-stdout --heartbeat 1s
  AGENT[2]=$BG_PID
  wait_until 20 eval '[[ $(ls m | wc -l) -ge 9 ]]' || fail "hosts 1 and 2 did not start the other 6 jobs: $(ls m)"
  crash_host 3
  wait_bg "${AGENT[1]}" 60
  AGENT_STATUS[1]=$BG_STATUS
  wait_bg "${AGENT[2]}" 60
  AGENT_STATUS[2]=$BG_STATUS
  attempts_json >attempts.json
  muster_store jobs dead --json >jobs.json || fail "muster jobs failed"
  local killed
  killed=$(json_eval jobs.json "' '.join('%s@%s:%s' % (x['id'], x['host'], x['error']) for x in j if x['state'] != 'succeeded')")
  expect_eq "$killed" "" "jobs of the recovering hosts that did not succeed (job@host:error)"
  for n in 1 2; do
    expect_eq "${AGENT_STATUS[$n]}" 0 "exit status of host $n's agent (stderr: $(head -c 2000 "a$n.err"))"
  done
  expect_contains "$(cat a1.err a2.err)" "recovered 3 job(s) of an agent that is gone" "the survivors' stderr"
  # Hosts 1 and 2 ran each of their own jobs once, to its end; host 3's ran
  # again there.
  expect_eq "$(json_eval attempts.json "' '.join(sorted((x['job'] for x in j if x['host'] != 'host3' and x['ended']), key=int))")" \
    "1 2 3 4 5 6 7 8 9" "jobs that hosts 1 and 2 ran to their end"
  expect_eq "$(json_eval attempts.json 'groups("job")')" \
    "1:2 2:2 3:2 4:1 5:1 6:1 7:1 8:1 9:1" "starts of each job (job:starts)"
  expect_no_host_process 1
  expect_no_host_process 2
}

test_a_frozen_agent_records_nothing_it_lost() {
  TEST "an agent frozen (SIGSTOP) past its lease: another takes its jobs over, and once thawed it records none of them"
  hosts_up || return 0
  local n
  make_timed_job
  # One wave of 1.5 s jobs: host 3's end while its agent is frozen, so it
  # has their results in hand when it thaws.
  expect_exit 0 muster run --seed-only -q --name frz -- "$T/job.sh" '{job}' 1500 ::: 1 2 3 4 5 6 7 8 9
  join_all frz -j 3 --no-stdout --heartbeat 1s
  wait_until 20 eval '[[ $(ls m 2>/dev/null | grep -c "\.host3\.") -ge 3 ]]' ||
    fail "host 3 did not start 3 jobs: $(ls m)"
  local pid lost
  pid=$(agent_pid 3)
  [[ -n $pid ]] || fail "no agent process on host 3"
  kill -STOP "$pid"
  local frozen_at
  frozen_at=$(now_ms)
  lost=$(ls m | sed -n 's/^\([0-9]*\)\.host3\..*/\1/p' | sort -n | paste -sd' ')
  # Another host runs each of them again, to its end.
  taken_over() {
    muster_store jobs frz --json >jobs.json 2>/dev/null &&
      [[ $(json_eval jobs.json "' '.join(x['id'] for x in j if x['id'] in '$lost'.split() and x['state'] == 'succeeded' and x['host'] != 'host3')") == "$lost" ]]
  }
  wait_until 30 taken_over || fail "jobs $lost of the frozen agent were not taken over in 30 s: $(json_eval jobs.json 'each("id", "state", "host")')"
  echo "  taken over and run again $(($(now_ms) - frozen_at)) ms after the freeze" >&2
  kill -CONT "$pid"
  wait_agents 60
  for n in 1 2; do
    expect_eq "${AGENT_STATUS[$n]}" 0 "exit status of host $n's agent (stderr: $(head -c 2000 "a$n.err"))"
  done
  [[ ${AGENT_STATUS[3]} != 0 ]] || fail "the thawed agent, whose jobs were taken over, exited 0 (stderr: $(cat a3.err))"
  echo "  the thawed agent exited ${AGENT_STATUS[3]}: $(tr '\n' ' ' <a3.err)" >&2
  muster_store jobs frz --json >jobs.json || fail "muster jobs failed"
  local v
  for v in $lost; do
    expect_eq "$(json_eval jobs.json "cat(job('$v'), 'state', 'attempts', 'interrupts')")" "succeeded:2:1" "job $v (state:attempts:interrupts)"
    expect_ne "$(json_eval jobs.json "job('$v')['host']")" host3 "the host of job $v's recorded result"
    expect_ne "$(json_eval jobs.json "job('$v')['worker_id']" | cut -d: -f1)" host3 "the worker of job $v's recorded result"
  done
  expect_eq "$(json_eval jobs.json 'groups("state")')" "succeeded:9" "the jobs' states"
  # A result the thawed agent sent came after its lease: the store
  # ignored it, and says so, naming the job.
  muster_store events frz --json >events.json || fail "muster events failed"
  local ignored
  ignored=$(json_eval events.json "' '.join(sorted(re.match(r'job (\S+):', x['detail']).group(1) for x in j if x['action'] == 'result ignored'))")
  echo "  results the store ignored: ${ignored:-none}" >&2
  for v in $ignored; do
    [[ " $lost " == *" $v "* ]] || fail "a result of job $v, which host 3 did not lose, was ignored: $(cat events.json)"
  done
  if [[ -n $ignored ]]; then
    expect_match "$(json_eval events.json "' '.join(x['detail'] for x in j if x['action'] == 'result ignored')")" \
      "^job [0-9]+: the succeeded result of agent [0-9]+ came after its lease was taken over, and it is succeeded now" \
      "the detail of a 'result ignored' event"
    expect_eq "$(json_eval events.json "' '.join(sorted({x['host'] for x in j if x['action'] == 'result ignored'}))")" host3 \
      "the host of the 'result ignored' events"
  fi
  expect_no_host_process 3
  expect_exit 0 muster check
}

test_every_host_reconnects_after_a_server_restart() {
  TEST "the server restarts mid-run: the agents of all three hosts reconnect, and every job runs once"
  hosts_up || return 0
  local n
  seq 1 120 >in.txt
  expect_exit 0 muster run --seed-only -q --name rs -i in.txt -- sh -c "echo {} \$MH_HOST >>$T/ran; sleep 0.2"
  join_all rs -j 2 --no-stdout --heartbeat 2s
  wait_until 30 eval '[[ $(awk "{print \$2}" ran 2>/dev/null | sort -u | wc -l) -eq 3 && $(wc -l <ran) -ge 15 ]]' ||
    fail "not every host ran jobs before the restart: $(awk '{print $2}' ran 2>/dev/null | sort | uniq -c)"
  local bin before
  before=$(wc -l <ran)
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_owner "$bin/pg_ctl" -D "$PG_PRIVATE/data" -m fast -w restart -l "$PG_PRIVATE/server.log" >/dev/null ||
    fail "pg_ctl restart failed: $(tail -5 "$PG_PRIVATE/server.log")"
  (($(wc -l <ran) < 120)) || fail "the run ended before the restart ($before jobs had run at its start)"
  wait_agents 120
  for n in 1 2 3; do
    expect_eq "${AGENT_STATUS[$n]}" 0 "exit status of host $n's agent across the restart (stderr: $(head -c 2000 "a$n.err"))"
    expect_contains "$(cat "a$n.err")" "the store answers again" "host $n's agent's stderr"
  done
  expect_eq "$(awk '{print $1}' ran | sort -n | uniq -d | paste -sd' ')" "" "jobs that ran twice"
  expect_eq "$(awk '{print $1}' ran | sort -u | wc -l)" 120 "jobs that ran"
  muster_store jobs rs --json >jobs.json || fail "muster jobs failed"
  expect_eq "$(json_eval jobs.json 'groups("state", "attempts", "interrupts")')" "succeeded:1:0:120" "the jobs (state:attempts:interrupts:count)"
  expect_eq "$(json_eval jobs.json '" ".join(sorted({x["host"] for x in j}))')" "host1 host2 host3" "hosts in the store"
  expect_no_host_process 1
  expect_no_host_process 2
  expect_no_host_process 3
  expect_exit 0 muster check
}

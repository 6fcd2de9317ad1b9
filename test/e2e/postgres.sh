# End to end: the PostgreSQL store's own behaviour — bad URLs, unreachable
# servers, wrong passwords, a newer schema, masked passwords, migrations
# that race — on the server of `scripts/postgres.sh run`
# (MUSTER_TEST_POSTGRES). The suites that run on both stores are registered
# a second time as e2e.pg.* (CMakeLists.txt).

if [[ -z ${MUSTER_TEST_POSTGRES:-} ]]; then
  echo "e2e postgres: MUSTER_TEST_POSTGRES is not set (run it under scripts/postgres.sh run)" >&2
  exit 2
fi
PG_ADMIN=$MUSTER_TEST_POSTGRES
PG_PORT=$(cat "${MUSTER_TEST_POSTGRES_DIR:?set by scripts/postgres.sh run}/port")
PG_PASSWORD=muster-test-pw

# pg SQL: runs SQL as the database's owner and prints the rows.
pg() {
  psql "$PG_ADMIN" -qAt -v ON_ERROR_STOP=1 -c "$1"
}

# password_store: a fresh schema that the role muster_pw owns, and the TCP
# URL (no password in it) whose search_path is that schema.
password_store() {
  local schema="pw_$$_${E2E_SEQ}_$(date +%s%N)"
  pg "CREATE SCHEMA $schema AUTHORIZATION muster_pw" >/dev/null || fail "cannot create schema $schema"
  echo "postgres://muster_pw@127.0.0.1:$PG_PORT/muster?options=-c%20search_path%3D$schema"
}

test_malformed_url() {
  TEST "a malformed URL is exit 2, names --store, masks the password and writes nothing"
  unset MUSTER_STORE
  expect_exit 2 muster run --store 'postgres://alice:s3cret-pw@[::1' -- true ::: a
  expect_contains "$STDERR" "--store postgres://alice:***@[::1: not a PostgreSQL URL"
  expect_contains "$STDERR" "expected postgres://USER@HOST[:PORT]/DATABASE"
  [[ $STDERR != *s3cret-pw* ]] || fail "the password is in the message: $STDERR"
  expect_exit 2 muster list --store 'postgres://h/db?no_such_parameter=1'
  expect_contains "$STDERR" 'invalid URI query parameter: "no_such_parameter"'
  expect_no_file .muster
}

test_unreachable_server() {
  TEST "an unreachable server is exit 5, and the message names the host and the port"
  unset MUSTER_STORE
  # Port 1 on loopback: nothing listens there, so the connection is refused.
  expect_exit 5 muster run --store 'postgres://muster@127.0.0.1:1/muster' -- true ::: a
  expect_contains "$STDERR" 'connection to server at "127.0.0.1", port 1 failed'
  expect_contains "$STDERR" "check that the server runs"
  expect_exit 5 muster status --store 'postgres://muster@127.0.0.1:1/muster'
  expect_no_file .muster
}

test_wrong_password() {
  TEST "a wrong password is exit 5, and no message prints it"
  local url
  url=$(password_store)
  local bad=${url/muster_pw@/muster_pw:hunter2-wrong@}
  unset MUSTER_STORE
  expect_exit 5 muster run --store "$bad" -- true ::: a
  expect_contains "$STDERR" 'password authentication failed for user "muster_pw"'
  expect_contains "$STDERR" "muster_pw:***@127.0.0.1"
  [[ $STDERR != *hunter2-wrong* ]] || fail "the password is in the message: $STDERR"
  PGPASSWORD=hunter2-wrong expect_exit 5 muster run --store "$url" -- true ::: a
  [[ $STDERR != *hunter2-wrong* ]] || fail "PGPASSWORD is in the message: $STDERR"
  expect_no_file .muster
  # The right one, from PGPASSWORD, as libpq finds it.
  PGPASSWORD=$PG_PASSWORD expect_exit 0 muster run -q --store "$url" -- true ::: a b
  PGPASSWORD=$PG_PASSWORD expect_exit 0 muster list --store "$url" --json
  expect_eq "$(json_eval .last.out 'j[0]["total"]')" 2 "jobs of the run made with PGPASSWORD"
  # And from a password file (~/.pgpass's format, through PGPASSFILE).
  printf '127.0.0.1:%s:muster:muster_pw:%s\n' "$PG_PORT" "$PG_PASSWORD" >pgpass
  chmod 600 pgpass
  PGPASSFILE=$T/pgpass expect_exit 0 muster list --store "$url"
}

test_password_is_masked_everywhere() {
  TEST "a password in the URL is masked in status, status --json, events and errors"
  local url
  url=$(password_store)
  url=${url/muster_pw@/muster_pw:$PG_PASSWORD@}
  export MUSTER_STORE=$url
  expect_exit 0 muster run -q --seed-only --name masked -- true ::: a
  expect_exit 0 muster status masked
  expect_contains "$STDOUT" "store:   postgres://muster_pw:***@127.0.0.1:$PG_PORT/muster"
  expect_exit 0 muster status masked --json
  expect_json "run_json masked" 'j["store"]' "postgres://muster_pw:***@127.0.0.1:$PG_PORT/muster?options=-c%20search_path%3D${url##*%3D}" "store in status --json"
  expect_exit 0 muster pause masked
  expect_exit 0 muster events masked
  expect_contains "$STDOUT" "pause"
  expect_exit 2 muster status nosuch
  local all
  all=$(cat .last.err; muster status masked; muster status masked --json; muster events masked --json; muster list --json 2>&1)
  [[ $all != *"$PG_PASSWORD"* ]] || fail "the password is shown: $all"
}

test_check_finds_jobs_of_no_run() {
  TEST "muster check on PostgreSQL: a sound store is ok, and jobs that belong to no run are a problem (exit 5)"
  expect_exit 0 muster run -q --name sound -- true ::: a b
  expect_exit 0 muster check
  expect_contains "$STDOUT" ": ok"
  # The schema has no foreign key from jobs to runs: check looks instead.
  store_sql "INSERT INTO jobs (rid, seq, id, fields, state, max_attempts) VALUES (424242, 1, 'stray', '[]', 'pending', 1)" >/dev/null
  expect_exit 5 muster check
  expect_contains "$STDOUT" "1 job(s) belong to no run"
  expect_contains "$STDERR" "DELETE FROM jobs WHERE rid NOT IN"
}

test_newer_schema_is_refused() {
  TEST "a database whose schema a newer muster wrote is refused (exit 2), and nothing is written"
  expect_exit 0 muster run -q --name first -- true ::: a
  store_sql "UPDATE muster_schema SET version = 99" >/dev/null
  expect_exit 2 muster run -q --name second -- true ::: b
  expect_contains "$STDERR" "has schema version 99, which a newer muster wrote"
  expect_contains "$STDERR" "this muster knows versions up to 4"
  expect_exit 2 muster list
  expect_exit 2 muster join first
  expect_eq "$(store_sql "SELECT count(*) FROM runs")" 1 "runs"
  expect_eq "$(store_sql "SELECT version FROM muster_schema")" 99 "the schema's version"
}

test_agents_starting_at_once_migrate_once() {
  TEST "agents that start at once on an empty database create the schema once"
  local i pids=()
  for i in 1 2 3 4 5 6; do
    muster run -q --seed-only --name "r$i" -- true ::: a >"seed$i.out" 2>"seed$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "seed $((i + 1)) failed: $(cat "seed$((i + 1)).err")"
  done
  expect_eq "$(store_sql "SELECT count(*) FROM muster_schema")" 1 "rows of muster_schema"
  expect_eq "$(store_sql "SELECT count(*) FROM runs")" 6 "runs"
}

test_store_from_muster_toml() {
  TEST "muster.toml's store selects the PostgreSQL store when neither --store nor MUSTER_STORE does"
  local url=$MUSTER_STORE
  unset MUSTER_STORE
  printf 'store = "%s"\n' "$url" >muster.toml
  expect_exit 0 muster run -q --name from-toml -- true ::: a
  expect_exit 0 muster status from-toml
  expect_no_file .muster/muster.db
  MUSTER_STORE=$url expect_exit 0 muster status from-toml
  # --store wins over muster.toml.
  expect_exit 2 muster status from-toml --store "$T/other"
}

# A server of the test's own, in $T/pg, for tests that stop or restart it
# (the shared one serves the other suites meanwhile); MUSTER_STORE is its
# URL. Stopped and removed however the test ends.
PG_SCRIPT=$E2E_DIR/../../scripts/postgres.sh
private_server() {
  # Under /tmp, not the test's directory: the server's user must reach it.
  PG_PRIVATE=$(mktemp -d /tmp/muster-pg.XXXXXX)
  MUSTER_STORE=$(bash "$PG_SCRIPT" start "$PG_PRIVATE") || fail "cannot start a PostgreSQL server in $PG_PRIVATE"
  export MUSTER_STORE
  trap 'kill -CONT $(server_pids) 2>/dev/null; bash "$PG_SCRIPT" stop "$PG_PRIVATE"; e2e_cleanup_test' EXIT
}

# server_pids: the private server's postmaster and its children.
server_pids() {
  local pm
  pm=$(head -1 "$PG_PRIVATE/data/postmaster.pid" 2>/dev/null) || return 0
  echo "$pm" $(pgrep -P "$pm")
}

pg_owner() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u muster-pg -- "$@"); else "$@"; fi
}

succeeded_count() {
  json jobs_json 'count("succeeded")' 2>/dev/null
}

test_agent_rides_out_a_server_restart() {
  TEST "the database restarts mid-run: the agent reconnects, goes on, and every job runs once"
  private_server
  seq 1 40 >in.txt
  start_bg a muster run -j 4 --name rs -i in.txt -- sh -c 'echo {} >>ledger; sleep 0.2'
  local agent=$BG_PID
  wait_until 30 eval '(( $(succeeded_count || echo 0) >= 4 ))' || fail "no job finished before the restart"
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_owner "$bin/pg_ctl" -D "$PG_PRIVATE/data" -m fast -w restart -l "$PG_PRIVATE/server.log" >/dev/null ||
    fail "pg_ctl restart failed: $(tail -5 "$PG_PRIVATE/server.log")"
  wait_bg "$agent" 120
  expect_eq "$BG_STATUS" 0 "exit status of the agent across the restart (stderr: $(cat a.err))"
  expect_eq "$(sort -n ledger | uniq -d | wc -l)" 0 "jobs that ran twice"
  expect_eq "$(sort -n ledger | uniq | wc -l)" 40 "jobs that ran"
  expect_json jobs_json 'count("succeeded")' 40 "succeeded jobs"
  expect_contains "$(cat a.err)" "the store answers again"
}

test_fencing_when_the_server_stops_answering() {
  TEST "a server that stops answering: the agent kills its jobs before their leases run out"
  local m
  private_server
  m=$(marker 30)
  start_bg a muster run -j 2 --heartbeat 1s --name fz --on-interrupt requeue \
    -- sh -c "sleep $m; touch done-{}" ::: 1 2
  local agent=$BG_PID
  wait_until 20 marker_count_is "$m" 2 || fail "the jobs did not start"
  # Frozen, the server keeps its connections (the kernel answers TCP) but
  # answers no query: the agent's calls block, and only its timer fences.
  local frozen_at
  kill -STOP $(server_pids)
  frozen_at=$(now_ms)
  wait_until 10 marker_gone "$m" || fail "the jobs outlived the frozen store"
  local took=$(($(now_ms) - frozen_at))
  # --heartbeat 1s: a lease of 3 s from the last beat, fenced 0.5 s before.
  expect_lt "$took" 3000 "ms from the freeze to the jobs' death (the lease is 3000)"
  kill -CONT $(server_pids)
  wait_bg "$agent" 60
  expect_eq "$BG_STATUS" 5 "exit status of the fenced agent (stderr: $(cat a.err))"
  expect_contains "$(cat a.err)" "every job was stopped before its lease ran out"
  expect_no_file done-1
  expect_no_file done-2
  # Both are held as interrupted (their attempt does not count); under
  # requeue the next resume runs them again.
  expect_json jobs_json 'each("state", "attempts")' "interrupted:1 interrupted:1"
}

# agents_of RUN: how many agents have slots in the run.
agents_of() {
  json "workers_json $1" 'len({w["agent"] for w in j})' 2>/dev/null
}

test_agents_use_the_servers_clock() {
  TEST "an agent whose clock is an hour ahead shares the run without taking anyone's jobs"
  command -v faketime >/dev/null || fail "faketime is missing (scripts/install-deps.sh installs it)"
  seq 1 30 >in.txt
  # The jobs wait for `go`, which comes once both agents run: then they
  # share the run whatever the time each took to start (faketime and a
  # sanitized build are slow to).
  start_bg a muster run -j 2 --heartbeat 1s --name sk -i in.txt -- \
    sh -c 'while [ ! -e go ]; do sleep 0.05; done; echo {} >>ledger; sleep 0.3'
  local first=$BG_PID
  wait_until 20 eval '[[ $(agents_of sk) == 1 ]]' || fail "the first agent did not start"
  # libfaketime is preloaded ahead of ASan's runtime in a sanitized build;
  # ASan lets it be when told.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    FAKETIME_DONT_FAKE_MONOTONIC=1 start_bg b faketime -f +3600s "$MUSTER_BIN" join sk -j 2
  local second=$BG_PID
  wait_until 60 eval '[[ $(agents_of sk) == 2 ]]' ||
    fail "the second agent did not join (stderr: $(cat b.err))"
  touch go
  wait_bg "$first" 120
  expect_eq "$BG_STATUS" 0 "first agent (stderr: $(cat a.err))"
  wait_bg "$second" 60
  expect_eq "$BG_STATUS" 0 "second agent, an hour ahead (stderr: $(cat b.err))"
  expect_eq "$(sort -n ledger | uniq -d | wc -l)" 0 "jobs that ran twice"
  expect_json jobs_json 'count("succeeded")' 30 "succeeded jobs"
  expect_json jobs_json 'sum(x["interrupts"] for x in j)' 0 "interrupted attempts"
  [[ $(cat a.err b.err) != *"recovered"* ]] || fail "an agent recovered another's jobs: $(cat a.err b.err)"
}

test_copy_a_run_from_sqlite_to_postgres() {
  TEST "muster copy moves a run's record from SQLite to PostgreSQL, and it goes on there"
  local pg=$MUSTER_STORE lite=$T/lite
  unset MUSTER_STORE
  expect_exit 1 muster --store "$lite" run -q --name mv -- sh -c 'echo {} >>ledger; test {} != b' ::: a b c d
  expect_exit 0 muster --store "$lite" copy mv --to "$pg" --json
  expect_eq "$(json_eval .last.out 'j["jobs"]')" 4 "jobs copied"
  [[ $STDOUT != *"$PG_PASSWORD"* ]] || fail "a password is shown"
  export MUSTER_STORE=$pg
  expect_json jobs_json 'each("state", "attempts")' "succeeded:1 failed:1 succeeded:1 succeeded:1" "states on PostgreSQL"
  expect_exit 0 muster export mv --format jsonl
  local there
  there=$(python3 -c 'import json,sys; print([(r["id"], r["state"], r["exit_code"], r["input"]) for r in map(json.loads, open(sys.argv[1]))])' .last.out)
  expect_exit 0 muster --store "$lite" export mv --format jsonl
  local here
  here=$(python3 -c 'import json,sys; print([(r["id"], r["state"], r["exit_code"], r["input"]) for r in map(json.loads, open(sys.argv[1]))])' .last.out)
  expect_eq "$there" "$here" "the exported jobs of both stores"
  expect_exit 0 muster events mv
  expect_contains "$STDOUT" "copy"
  expect_contains "$STDOUT" "from $lite"
  # It goes on on PostgreSQL: the failed job runs again, and only it.
  expect_exit 0 muster retry mv --failed
  expect_exit 1 muster resume mv -q
  expect_eq "$(grep -c . ledger)" 5 "lines in the ledger (4 runs, then b again)"
  expect_eq "$(grep -c '^b$' ledger)" 2 "runs of b"
  # Once is enough: the other store has it.
  expect_exit 2 muster --store "$lite" copy mv --to "$pg"
  expect_contains "$STDERR" "already; nothing was copied"
}

test_copy_carries_output_tails() {
  TEST "muster copy from SQLite gives PostgreSQL the output's tails, so logs works on another host"
  command -v unshare >/dev/null && unshare --uts true 2>/dev/null ||
    { echo "  (skipped: unshare --uts needs root)" >&2; return 0; }
  local pg=$MUSTER_STORE lite=$T/lite
  unset MUSTER_STORE
  cat >muster.toml <<'TOML'
[slots]
setup = "echo set up slot {slot}"
TOML
  expect_exit 0 muster --store "$lite" run -q -j 1 --name out --config muster.toml -- \
    sh -c 'echo said {}; echo warned {} >&2' ::: a b
  expect_exit 0 muster --store "$lite" copy out --to "$pg"
  export MUSTER_STORE=$pg
  # Another host, with none of this host's files.
  local far=(env MUSTER_FILES="$T/elsewhere" unshare --uts sh -c 'hostname far-host; exec "$0" "$@"' "$MUSTER_BIN")
  expect_exit 0 "${far[@]}" logs out 2
  expect_eq "$STDOUT" "said b" "job 2's stdout, on another host"
  expect_contains "$STDERR" "warned b"
  expect_contains "$STDERR" "as the store keeps it"
  expect_exit 0 "${far[@]}" logs out --slot 0
  expect_contains "$STDOUT" "set up slot 0"
  expect_contains "$STDOUT" "job 2 attempt 1 succeeded"
}

test_copy_refuses_a_live_run() {
  TEST "muster copy refuses a run that a live agent runs (exit 3), and copies nothing"
  local pg=$MUSTER_STORE m
  unset MUSTER_STORE
  m=$(marker 30)
  start_bg a muster --store "$T/lite" run --name live -- sleep "$m" ::: 1
  wait_until 20 marker_count_is "$m" 1 || fail "the job did not start"
  expect_exit 3 muster --store "$T/lite" copy live --to "$pg"
  expect_contains "$STDERR" "is running"
  MUSTER_STORE=$pg expect_exit 2 muster status live
}

# started_at N: when job N wrote its start (epoch ms), or nothing yet.
started_at() {
  cat "started-$1" 2>/dev/null
}

test_agents_hear_of_changes_at_once() {
  TEST "LISTEN/NOTIFY: a scale and an added job reach a busy agent well before its 2 s poll"
  # -j 1: job 1 holds the only slot, jobs 2 and 3 wait for one. Each wrote
  # when it started; a change's delay is from just before its command.
  printf '%s\n' 1 2 3 >in.txt
  start_bg a muster run -j 1 --name nt -i in.txt -- sh -c 'date +%s%3N >started-{}; sleep 30'
  local agent=$BG_PID t0 t1 delays=() after=() n
  wait_until 20 test -s started-1 || fail "job 1 did not start (stderr: $(cat a.err))"
  for n in 2 3; do
    sleep 0.5 # the agent is idle in its wait, between its fallback polls
    t0=$(now_ms)
    expect_exit 0 muster scale nt -j "$n"
    t1=$(now_ms)
    wait_until 10 test -s "started-$n" || fail "scale to $n did not start job $n"
    delays+=($(($(started_at "$n") - t0)))
    after+=($(($(started_at "$n") - t1)))
  done
  # A slot is free and nothing is pending: the added job starts at once.
  expect_exit 0 muster scale nt -j 4
  sleep 0.5
  echo 4 >more.txt
  t0=$(now_ms)
  expect_exit 0 muster add nt -i more.txt
  t1=$(now_ms)
  wait_until 10 test -s started-4 || fail "the added job did not start"
  delays+=($(($(started_at 4) - t0)))
  after+=($(($(started_at 4) - t1)))
  echo "ms from the command to the job's start: ${delays[*]}; from its exit: ${after[*]}" >&2
  # Polling alone would take up to 2000 ms from the commit, and 1000 ms on
  # average. A command takes ~50 ms to start and commit, but a sanitized one
  # on a loaded machine can take most of a second, so there only the time
  # from its exit (its change is committed and notified by then) counts.
  for n in "${after[@]}"; do
    expect_lt "$n" 700 "ms from a control command's exit to its effect (all: ${after[*]})"
  done
  if [ "$E2E_SANITIZED" = 0 ]; then
    for n in "${delays[@]}"; do
      expect_lt "$n" 700 "ms from a control command to its effect (all: ${delays[*]})"
    done
  fi
  expect_exit 0 muster cancel nt --force
  wait_bg "$agent" 30
}

test_logs_from_another_host() {
  TEST "muster logs shows a job's output tail from the store when the job ran on another host"
  command -v unshare >/dev/null && unshare --uts true 2>/dev/null ||
    { echo "  (skipped: unshare --uts needs root)" >&2; return 0; }
  # The agent runs as host "far-host" with files of its own, which this
  # host does not see; its jobs print text, bytes that are not UTF-8, and
  # more than the 64 KiB the store keeps.
  mkdir -p far
  expect_exit 0 env MUSTER_FILES="$T/far" unshare --uts sh -c 'hostname far-host; exec "$0" "$@"' \
    "$MUSTER_BIN" run --name lg -- sh -c 'case {} in
      small) echo "hello from {}"; printf "bad \377 byte\n" >&2 ;;
      big) seq 1 20000; echo the-end ;;
    esac' ::: small big
  expect_exit 0 muster logs lg 1
  expect_eq "$STDOUT" "hello from small" "stdout of the small job"
  expect_contains "$STDERR" "bad "
  expect_contains "$STDERR" "byte"
  expect_contains "$STDERR" "ran on far-host"
  expect_exit 0 muster logs lg 2
  expect_eq "$(tail -1 <<<"$STDOUT")" "the-end" "the big job's last line"
  expect_lt "$(wc -c <<<"$STDOUT")" 65538 "bytes of the big job's tail"
  expect_contains "$STDERR" "stdout: the last 64.0KiB of 106.3KiB"
  # The same command on the host that ran it reads its own files.
  expect_exit 0 env MUSTER_FILES="$T/far" unshare --uts sh -c 'hostname far-host; exec "$0" "$@"' \
    "$MUSTER_BIN" logs lg 2
  expect_eq "$(head -1 <<<"$STDOUT")" "1" "first line of the whole output, on its own host"
}

test_slot_logs_from_another_host() {
  TEST "muster logs --slot shows a slot's log from the store when the slot was on another host"
  command -v unshare >/dev/null && unshare --uts true 2>/dev/null ||
    { echo "  (skipped: unshare --uts needs root)" >&2; return 0; }
  # Slot 0 of host far-host has a setup hook that prints, and logs its jobs.
  cat >muster.toml <<'TOML'
[slots]
setup = "echo set up slot {slot} on $(hostname)"
TOML
  mkdir -p far
  expect_exit 0 env MUSTER_FILES="$T/far" unshare --uts sh -c 'hostname far-host; exec "$0" "$@"' \
    "$MUSTER_BIN" run -j 1 --name sl --config muster.toml -- true ::: a b
  expect_exit 0 muster logs sl --slot 0
  expect_contains "$STDOUT" "set up slot 0 on far-host"
  expect_contains "$STDOUT" "job 2"
  expect_contains "$STDERR" "slot 0 ran on far-host"
  expect_exit 0 muster logs sl --slot 0 --host far-host
  expect_contains "$STDOUT" "set up slot 0 on far-host"
  expect_exit 2 muster logs sl --slot 0 --host other-host
  expect_contains "$STDERR" "no log of slot 0 on host other-host"
  expect_exit 2 muster logs sl --slot 1
  expect_exit 2 muster logs sl 1 --host far-host
  expect_contains "$STDERR" "--host goes with --slot"
  # Slot 0 of a second host: which one is meant must be said.
  echo c >more.txt
  expect_exit 0 env MUSTER_FILES="$T/far2" unshare --uts sh -c 'hostname near-host; exec "$0" "$@"' \
    "$MUSTER_BIN" add sl -i more.txt
  expect_exit 0 env MUSTER_FILES="$T/far2" unshare --uts sh -c 'hostname near-host; exec "$0" "$@"' \
    "$MUSTER_BIN" resume sl
  expect_exit 2 muster logs sl --slot 0
  expect_contains "$STDERR" "ran on far-host, near-host; say which with --host"
  expect_exit 0 muster logs sl --slot 0 --host near-host
  expect_contains "$STDOUT" "set up slot 0 on near-host"
}

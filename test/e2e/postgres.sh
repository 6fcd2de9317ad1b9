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

test_newer_schema_is_refused() {
  TEST "a database whose schema a newer muster wrote is refused (exit 2), and nothing is written"
  expect_exit 0 muster run -q --name first -- true ::: a
  store_sql "UPDATE muster_schema SET version = 99" >/dev/null
  expect_exit 2 muster run -q --name second -- true ::: b
  expect_contains "$STDERR" "has schema version 99, which a newer muster wrote"
  expect_contains "$STDERR" "this muster knows versions up to 1"
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

#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's postgresql
# package: a cluster in a temporary directory, a socket there, fsync off.
#
#   scripts/postgres.sh start DIR   starts it; prints the URL of its database
#   scripts/postgres.sh stop DIR    stops it and removes DIR
#   scripts/postgres.sh run CMD...  starts one, runs CMD with MUSTER_TEST_POSTGRES
#                                   set to its URL, then stops and removes it
#                                   (also when CMD fails); exits with CMD's status
#
# initdb refuses root, so as root the cluster belongs to the user
# muster-pg (created when missing). The database `muster` is owned by that
# user, who may connect over the socket without a password; over TCP on
# 127.0.0.1 the role `muster_pw` must give the password `muster-test-pw`
# (the tests of a wrong password use it).
set -euo pipefail

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [[ ! -x $bin/initdb ]]; then
  echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql (install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # From /, which the server's user may enter, unlike the caller's directory.
    (cd / && runuser -u muster-pg -- "$@")
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    id muster-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin muster-pg
    chown muster-pg "$dir"
    chmod 0755 "$dir"
  fi
  local owner
  owner=$(as_owner id -un)
  local port
  port=$(free_port)
  as_owner "$bin/initdb" -D "$dir/data" -U "$owner" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '${PG_LISTEN:-127.0.0.1}'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
CONF
  if [[ -n ${PG_HBA_EXTRA:-} ]]; then
    echo "$PG_HBA_EXTRA" >>"$dir/data/pg_hba.conf"
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bin/psql" -h "$dir" -p "$port" -d postgres -qAt -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE muster" \
    -c "CREATE ROLE muster_pw LOGIN PASSWORD 'muster-test-pw'" \
    -c "GRANT ALL ON DATABASE muster TO muster_pw" >/dev/null
  as_owner "$bin/psql" -h "$dir" -p "$port" -d muster -qAt -v ON_ERROR_STOP=1 \
    -c "GRANT ALL ON SCHEMA public TO muster_pw" >/dev/null
  echo "$port" >"$dir/port"
  echo "postgresql:///muster?host=$dir&port=$port&user=$owner"
}

stop() {
  local dir=$1
  if [[ -d $dir/data ]]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case ${1:-} in
  start) start "$2" ;;
  stop) stop "$2" ;;
  run)
    shift
    dir=$(mktemp -d /tmp/muster-pg.XXXXXX)
    trap 'stop "$dir"' EXIT
    MUSTER_TEST_POSTGRES=$(start "$dir")
    export MUSTER_TEST_POSTGRES
    export MUSTER_TEST_POSTGRES_DIR=$dir
    status=0
    "$@" || status=$?
    exit $status
    ;;
  *)
    echo "usage: postgres.sh start DIR | stop DIR | run CMD..." >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The PostgreSQL store against the embedded one, in one run, on this machine:
#
#   bash bench/postgres.sh path/to/muster
#
#  1. Throughput: COUNT `true N` jobs at 2 and 8 slots, for the like-for-like
#     spawn ceiling (bench/spawn_ceiling.c with SPAWN_CEILING_ARG=1), xargs,
#     muster on SQLite and muster on PostgreSQL (one host, one agent). Each is
#     timed by hyperfine, RUNS repetitions, medians reported, on a fresh store
#     each time (a fresh schema for PostgreSQL).
#  2. Creating a BIG-row run with --seed-only on each store.
#  3. The store alone: claims plus results per second of INSTANT jobs with
#     1, 2 and 4 agents (`muster join -j 64` each) and MUSTER_BENCH_INSTANT_JOBS=1,
#     the benchmark mode in which a job starts no process and succeeds at
#     once; beside it, pgbench running a bare `FOR UPDATE SKIP LOCKED` claim
#     of 32-row batches with 4 clients, the floor of any PostgreSQL queue.
#
# The server is a throwaway one from scripts/postgres.sh (fsync off, as in
# the tests: this measures muster's work, not the disk's). COUNT (default
# 5000), RUNS (3), BIG (100000) and INSTANT (20000) come from the environment.
set -euo pipefail
muster=$(realpath "${1:?usage: bash bench/postgres.sh path/to/muster}")
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5000}
RUNS=${RUNS:-3}
BIG=${BIG:-100000}
INSTANT=${INSTANT:-20000}
out=bench/out/postgres
mkdir -p "$out"
cc -O2 -o "$out/spawn_ceiling" bench/spawn_ceiling.c

if [[ -z ${MUSTER_TEST_POSTGRES:-} ]]; then
  exec bash scripts/postgres.sh run bash "$0" "$muster"
fi
base=$MUSTER_TEST_POSTGRES
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# $tmp/fresh NAME: an empty schema, and its store URL in $tmp/NAME.url (a
# script, as hyperfine's --prepare runs it through sh).
cat >"$tmp/fresh" <<EOF
#!/bin/sh
psql '$base' -qAt -c "DROP SCHEMA IF EXISTS \$1 CASCADE; CREATE SCHEMA \$1" >/dev/null 2>&1
echo '$base&options=-c%20search_path%3D'"\$1" >"$tmp/\$1.url"
EOF
chmod +x "$tmp/fresh"
fresh_schema() { "$tmp/fresh" "$1"; }

median() { # hyperfine JSON → median seconds
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

seq "$COUNT" >"$tmp/in.txt"
declare -A rate
for n in 2 8; do
  hyperfine -N -r "$RUNS" --export-json "$out/ceiling-$n.json" \
    "env SPAWN_CEILING_ARG=1 $out/spawn_ceiling $n $COUNT" >/dev/null
  hyperfine -r "$RUNS" --export-json "$out/xargs-$n.json" \
    "xargs -P $n -n 1 true <$tmp/in.txt" >/dev/null
  hyperfine -r "$RUNS" --prepare "rm -rf $tmp/lite" --export-json "$out/sqlite-$n.json" \
    "$muster run -q -j $n --store $tmp/lite -i $tmp/in.txt -- true" >/dev/null
  hyperfine -r "$RUNS" --prepare "$tmp/fresh b$n" --export-json "$out/postgres-$n.json" \
    "sh -c '$muster run -q -j $n --store \"\$(cat $tmp/b$n.url)\" -i $tmp/in.txt -- true'" >/dev/null
  for tool in ceiling xargs sqlite postgres; do
    rate[$tool-$n]=$(python3 -c "print(round($COUNT / $(median "$out/$tool-$n.json")))")
  done
done

seq "$BIG" | sed 's/^/row-/' >"$tmp/big.txt"
/usr/bin/time -f %e -o "$tmp/t-lite" "$muster" run -q --seed-only --store "$tmp/big-lite" -i "$tmp/big.txt" -- true >/dev/null
fresh_schema big
/usr/bin/time -f %e -o "$tmp/t-pg" "$muster" run -q --seed-only --store "$(cat "$tmp/big.url")" -i "$tmp/big.txt" -- true >/dev/null

# 3. Claims plus results per second, no process started.
seq "$INSTANT" >"$tmp/instant.txt"
declare -A instant
for agents in 1 2 4; do
  fresh_schema i$agents
  url=$(cat "$tmp/i$agents.url")
  MUSTER_FILES=$tmp/if "$muster" run -q --seed-only --name inst --store "$url" -i "$tmp/instant.txt" -- true >/dev/null
  start=$(date +%s%N)
  for a in $(seq "$agents"); do
    MUSTER_BENCH_INSTANT_JOBS=1 MUSTER_FILES=$tmp/if$a "$muster" join -q inst -j 64 --store "$url" 2>/dev/null &
  done
  wait
  instant[$agents]=$(python3 -c "print(round($INSTANT / (($(date +%s%N) - $start) / 1e9)))")
done
psql "$base" -qAt >/dev/null <<'SQL'
DROP TABLE IF EXISTS bench_queue;
CREATE TABLE bench_queue (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, owner INT);
INSERT INTO bench_queue (state) SELECT 'pending' FROM generate_series(1, 2000000);
CREATE INDEX bench_queue_pending ON bench_queue(id) WHERE state = 'pending';
SQL
cat >"$tmp/claim.sql" <<'SQL'
UPDATE bench_queue SET state = 'running', owner = :client_id WHERE id IN (SELECT id FROM bench_queue WHERE state = 'pending' ORDER BY id LIMIT 32 FOR UPDATE SKIP LOCKED);
SQL
tps=$(pgbench -n -c 4 -j 2 -T 5 -f "$tmp/claim.sql" "$base" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
psql "$base" -qAt -c "DROP TABLE bench_queue" >/dev/null

{
  printf '| jobs/s (%d `true N` jobs, median of %d) | 2 slots | 8 slots |\n|---|---:|---:|\n' "$COUNT" "$RUNS"
  for tool in ceiling xargs sqlite postgres; do
    printf '| %s | %s | %s |\n' "$tool" "${rate[$tool-2]}" "${rate[$tool-8]}"
  done
  for n in 2 8; do
    python3 -c "print('postgres / ceiling at $n slots: %.2f; postgres / sqlite: %.2f; postgres / xargs: %.2f' % (${rate[postgres-$n]} / ${rate[ceiling-$n]}, ${rate[postgres-$n]} / ${rate[sqlite-$n]}, ${rate[postgres-$n]} / ${rate[xargs-$n]}))"
  done
  echo "creating a $BIG-row run (--seed-only): sqlite $(cat "$tmp/t-lite") s, postgres $(cat "$tmp/t-pg") s"
  echo "jobs/s, $INSTANT instant jobs (a claim and a result each, so claims+results/s are twice these), agents of -j 64: 1 agent ${instant[1]}, 2 agents ${instant[2]}, 4 agents ${instant[4]}"
  python3 -c "print('pgbench SKIP LOCKED claims of 32 rows, 4 clients: %d rows/s (claims only, no results)' % round(float('${tps:-0}') * 32))"
} | tee "$out/summary.md"

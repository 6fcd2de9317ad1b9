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
#
# The server is a throwaway one from scripts/postgres.sh (fsync off, as in
# the tests: this measures muster's work, not the disk's). COUNT (default
# 5000), RUNS (3) and BIG (100000) come from the environment.
set -euo pipefail
muster=$(realpath "${1:?usage: bash bench/postgres.sh path/to/muster}")
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5000}
RUNS=${RUNS:-3}
BIG=${BIG:-100000}
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

{
  printf '| jobs/s (%d `true N` jobs, median of %d) | 2 slots | 8 slots |\n|---|---:|---:|\n' "$COUNT" "$RUNS"
  for tool in ceiling xargs sqlite postgres; do
    printf '| %s | %s | %s |\n' "$tool" "${rate[$tool-2]}" "${rate[$tool-8]}"
  done
  for n in 2 8; do
    python3 -c "print('postgres / ceiling at $n slots: %.2f; postgres / sqlite: %.2f; postgres / xargs: %.2f' % (${rate[postgres-$n]} / ${rate[ceiling-$n]}, ${rate[postgres-$n]} / ${rate[sqlite-$n]}, ${rate[postgres-$n]} / ${rate[xargs-$n]}))"
  done
  echo "creating a $BIG-row run (--seed-only): sqlite $(cat "$tmp/t-lite") s, postgres $(cat "$tmp/t-pg") s"
} | tee "$out/summary.md"

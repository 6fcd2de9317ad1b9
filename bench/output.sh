#!/usr/bin/env bash
# Output-mode benchmark: muster's output modes against xargs and GNU parallel
# on the same one-liners, and peak RSS under -k with a slow first job.
#
#   bash bench/output.sh path/to/muster
#
#  1. Throughput: COUNT jobs that each print one line (`echo N`), at 8 slots,
#     stdout to /dev/null, timed by hyperfine, the tools taking turns:
#       xargs -P 8 -n 1 echo, parallel -j 8 echo (its default, grouped, and -k),
#       muster run -j 8 with no flag (grouped), -k, --line-buffer, -u and --tag.
#  2. Peak RSS of `muster run -k -j 8` over BIG jobs whose first one waits
#     until all the others have finished, so that -k holds every later
#     output back (target: under 32 MB). Measured with GNU time.
#
# Environment: MUSTER_BENCH_COUNT (default 10000), MUSTER_BENCH_BIG (default
# 100000; 0 skips part 2), MUSTER_BENCH_RUNS (default 3), MUSTER_BENCH_WARMUP
# (default 1).
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: bash bench/output.sh path/to/muster" >&2; exit 2; }
muster=$(realpath "$1")
count=${MUSTER_BENCH_COUNT:-10000}
big=${MUSTER_BENCH_BIG:-100000}
runs=${MUSTER_BENCH_RUNS:-3}
for tool in hyperfine parallel /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make bench installs it)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/muster-bench-output.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
seq "$count" >in.txt

echo "== throughput: $count jobs that print a line, 8 slots =="
hyperfine -N -w "${MUSTER_BENCH_WARMUP:-1}" -r "$runs" -p 'rm -rf s' --export-json throughput.json \
  -n xargs "sh -c 'xargs -P 8 -n 1 echo < in.txt'" \
  -n parallel "sh -c 'parallel --will-cite -j 8 echo < in.txt'" \
  -n 'parallel -k' "sh -c 'parallel --will-cite -k -j 8 echo < in.txt'" \
  -n muster "$muster --store s run -q -j 8 -i in.txt -- echo" \
  -n 'muster -k' "$muster --store s run -q -j 8 -k -i in.txt -- echo" \
  -n 'muster --line-buffer' "$muster --store s run -q -j 8 --line-buffer -i in.txt -- echo" \
  -n 'muster -u' "$muster --store s run -q -j 8 -u -i in.txt -- echo" \
  -n 'muster --tag' "$muster --store s run -q -j 8 --tag -i in.txt -- echo"
python3 - throughput.json <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
print(f"{'command':24} {'median s':>9} {'jobs/s':>8} {'vs xargs':>9} {'vs parallel':>12}")
for name, x in r.items():
    med = x["median"]
    print(f"{name:24} {med:9.2f} {len(open('in.txt').read().split()) / med:8.0f}"
          f" {r['xargs']['median'] / med:9.2f} {r['parallel']['median'] / med:12.2f}")
PY

[[ $big -gt 0 ]] || exit 0
echo
echo "== peak RSS: -k, $big jobs, the first one waits for all the others =="
python3 - "$big" >big.csv <<'PY'
import sys
print("word,arg")
print('wait,1')
for i in range(2, int(sys.argv[1]) + 1):
    print(f"echo,{i}")
PY
cat >wait <<'SH'
#!/bin/sh
until [ -e release ]; do sleep 0.1; done
echo 1
SH
chmod +x wait
rm -rf s release
PATH=$PWD:$PATH /usr/bin/time -v -o rss.txt "$muster" --store s run -q -j 8 -k -i big.csv -- {word} {arg} >big.out &
pid=$!
until [[ $("$muster" --store s status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["succeeded"])' 2>/dev/null || echo 0) -ge $((big - 1)) ]]; do
  sleep 2
done
touch release
wait "$pid"
rss_kb=$(awk -F': ' '/Maximum resident/ {print $2}' rss.txt)
echo "peak RSS: $((rss_kb / 1024)) MB (target < 32 MB); lines out: $(wc -l <big.out) of $big"
cmp -s big.out <(seq "$big") && echo "order: the input's" || echo "order: NOT the input's"

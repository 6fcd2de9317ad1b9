#!/usr/bin/env bash
# muster benchmark suite.
#
#   bash bench/run.sh path/to/muster        (what `make bench` runs)
#
# Measures, in one run, on this machine:
#
#  1. Throughput: COUNT `/bin/true` jobs at 2 and at 8 slots, for
#       ceiling   bench/spawn_ceiling.c: a bare posix_spawn + waitpid(-1) loop
#                 of `true` with no argument (the figure the issue names)
#       ceiling-arg the same loop running `true N`, the argv every tool below
#                 runs (coreutils' true loads the locale when given one
#                 argument, so this ceiling is lower: it is the like-for-like one)
#       xargs     seq COUNT | xargs -P N -n 1 true
#       parallel  seq COUNT | parallel --will-cite -j N true
#       muster    seq COUNT | muster run -q -j N --store DIR -- true
#                 (durable SQLite store, a fresh DIR for every repetition)
#     Each run is timed with hyperfine. The tools take turns, repetition by
#     repetition. The median of a tool's repetitions is reported, with the
#     ratios muster/ceiling, muster/xargs and muster/parallel.
#
#  2. Scale, at 8 slots, each on a fresh store, from a CSV (id,account,video_path):
#       - per-job cost: `muster run --seed-only` then `muster resume` of 10k and
#         100k-row runs (execution timed apart from creation, peak RSS kept);
#       - creating a run from a 1,000,000-row CSV with --seed-only (target < 10 s);
#       - executing that 1M-job run under /usr/bin/time -v (peak RSS target
#         < 100 MB). By default it is executed for MUSTER_BENCH_PARTIAL_SECS
#         seconds only and then stopped with SIGINT: the peak RSS and the rate
#         are those of the first part of the run. With MUSTER_BENCH_FULL=1 the
#         whole million is executed (about 8 minutes at ~2k jobs/s) and its rate
#         gives the 1M point of the per-job cost ratio (1M vs 10k).
#
# Environment:
#   MUSTER_BENCH_QUICK=1         2,000 jobs for the throughput and the smallest
#                                scale run, 20,000 instead of 100,000, one
#                                repetition of GNU parallel, 10 s of the 1M run.
#   MUSTER_BENCH_FULL=1          execute the whole 1M-job run (see above).
#   MUSTER_BENCH_RUNS=N          repetitions per throughput measurement (default 3).
#   MUSTER_BENCH_PARTIAL_SECS=S  how long the 1M run executes when not FULL
#                                (default 30, or 10 when QUICK).
#   MUSTER_BENCH_BIG=N           rows of the big run (default 1000000).
#
# Output: a summary on stdout, bench/out/results.json, the exact commands in
# bench/out/commands.sh, and raw logs (hyperfine JSON, time -v) in bench/out/logs/.
# Exits non-zero when a tool is missing or any measured command fails. Missed
# performance targets are reported, not treated as errors.
set -euo pipefail

die() { echo "bench: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: bash bench/run.sh path/to/muster" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
[[ -e $1 ]] || die "muster binary not found: $1 (build it with: make build)"
[[ -x $1 && -f $1 ]] || die "not an executable file: $1"
muster_abs=$(realpath "$1")
cd "$root"
# Show the binary relative to the project when it lives in it (build/muster).
if [[ $muster_abs == "$root"/* ]]; then MUSTER=${muster_abs#"$root"/}; else MUSTER=$muster_abs; fi

QUICK=${MUSTER_BENCH_QUICK:-0}
FULL=${MUSTER_BENCH_FULL:-0}
RUNS=${MUSTER_BENCH_RUNS:-3}
if [[ $QUICK == 1 ]]; then
  COUNT=2000; PAR_RUNS=1; SCALE_SIZES=(2000 20000); PARTIAL_SECS=${MUSTER_BENCH_PARTIAL_SECS:-10}
else
  COUNT=10000; PAR_RUNS=$RUNS; SCALE_SIZES=(10000 100000); PARTIAL_SECS=${MUSTER_BENCH_PARTIAL_SECS:-30}
fi
SLOTS=(2 8)
SCALE_SLOTS=8
BIG=${MUSTER_BENCH_BIG:-1000000}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "MUSTER_BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ $PARTIAL_SECS =~ ^[1-9][0-9]*$ ]] || die "MUSTER_BENCH_PARTIAL_SECS must be a positive integer"
[[ $BIG =~ ^[1-9][0-9]*$ ]] || die "MUSTER_BENCH_BIG must be a positive integer"

# ---- tools -------------------------------------------------------------------
missing=()
for t in cc hyperfine parallel xargs seq awk head python3 timeout realpath; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (package: time)")
if [[ ${#missing[@]} -gt 0 ]]; then
  die "missing tools: ${missing[*]}
  install them with: apt-get install -y parallel hyperfine time findutils build-essential python3
  (or run: make bench)"
fi
/usr/bin/time -v true 2>/dev/null || die "/usr/bin/time is not GNU time (need -v)"
"$MUSTER" run --help >/dev/null 2>&1 || die "'$MUSTER run --help' failed: is this a working muster binary?"

out=bench/out
logs=$out/logs
rm -rf "$logs" "$out"/store-* "$out/results.json" "$out/records.jsonl" "$out/commands.sh"
mkdir -p "$logs"
records=$out/records.jsonl
cmdlog=$out/commands.sh
: >"$records"
printf '#!/usr/bin/env bash\n# Commands run by bench/run.sh, in order (from %s).\n' "$root" >"$cmdlog"

# Quote one word for display only when it needs it.
q() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%{}-]+$ ]]; then printf '%s' "$1"
  else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
# Print a command exactly as it is run, and keep it in commands.sh.
show() {
  local line="" w
  for w in "$@"; do line+="$(q "$w") "; done
  line=${line% }
  echo "  \$ $line"
  echo "$line" >>"$cmdlog"
}
# show_redirect FILE CMD...: the same, for `CMD... >FILE`.
show_redirect() {
  local file=$1 line="" w; shift
  for w in "$@"; do line+="$(q "$w") "; done
  line+=">$(q "$file")"
  echo "  \$ $line"
  echo "$line" >>"$cmdlog"
}
# record key=value ...: one JSON object per line in records.jsonl.
record() { python3 "$here/report.py" record "$records" "$@"; }
section() { echo; echo "== $* =="; }

# ---- build the ceiling ---------------------------------------------------------
section "setup"
show cc -O2 -o "$out/spawn_ceiling" bench/spawn_ceiling.c
cc -O2 -o "$out/spawn_ceiling" bench/spawn_ceiling.c

echo "  muster:   $MUSTER"
echo "  mode:     $( [[ $QUICK == 1 ]] && echo quick || echo default )$( [[ $FULL == 1 ]] && echo ', full 1M execution' )"
echo "  cpus:     $(nproc)"
meta_args=(
  "muster=$MUSTER"
  "muster_version=$("$MUSTER" --version 2>/dev/null | head -n1 || true)"
  "quick=$QUICK" "full=$FULL" "runs=$RUNS" "parallel_runs=$PAR_RUNS" "count=$COUNT"
  "nproc=$(nproc)" "kernel=$(uname -sr)"
  "cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
  "hyperfine=$(hyperfine --version | head -n1)"
  "gnu_parallel=$(parallel --will-cite --version | head -n1)"
  "xargs=$(xargs --version | head -n1)"
  "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
)
busy_before=$(python3 "$here/report.py" cpubusy 2)
echo "  cpu busy: ${busy_before}% before starting (should be near 0)"

# ---- 1. throughput -----------------------------------------------------------
# hyperfine LABEL RUNS PREPARE COMMAND
bench_hf() {
  local label=$1 runs=$2 prepare=$3 cmd=$4
  local args=(--runs "$runs" --style basic --export-json "$logs/$label.json")
  [[ -n $prepare ]] && args+=(--prepare "$prepare")
  show hyperfine "${args[@]}" "$cmd"
  if ! hyperfine "${args[@]}" "$cmd" >"$logs/$label.txt" 2>"$logs/$label.err"; then
    cat "$logs/$label.err" >&2
    die "command failed: $cmd (run it by hand to see its output)"
  fi
}

# muster_check STORE EXPECTED LABEL: the store must hold one run with EXPECTED
# succeeded jobs. Best effort: a warning if `muster list --json` can't tell.
muster_check() {
  local store=$1 expected=$2 label=$3 listing
  if listing=$("$MUSTER" list --json --store "$store" 2>/dev/null); then
    python3 "$here/report.py" check "$expected" "$label" <<<"$listing" ||
      die "$label: muster did not record $expected succeeded jobs (see: $MUSTER list --store $store)"
  else
    echo "  warning: '$MUSTER list --json --store $store' failed; could not verify job counts" >&2
  fi
}

section "throughput: $COUNT x true"
# The tools take turns: repetition r of every tool runs before repetition r+1
# of any, so a burst of load from elsewhere does not fall on one tool only.
tools=(ceiling ceiling-arg xargs parallel muster)
for n in "${SLOTS[@]}"; do
  echo "-- $n slots"
  declare -A hf_files=()
  store=$out/store-tp-j$n
  for ((r = 1; r <= RUNS; r++)); do
    for tool in "${tools[@]}"; do
      label="$tool-j$n-r$r"
      case $tool in
        ceiling) bench_hf "$label" 1 "" "$out/spawn_ceiling $n $COUNT" ;;
        ceiling-arg) bench_hf "$label" 1 "" "SPAWN_CEILING_ARG=1 $out/spawn_ceiling $n $COUNT" ;;
        xargs) bench_hf "$label" 1 "" "seq $COUNT | xargs -P $n -n 1 true" ;;
        parallel)
          ((r <= PAR_RUNS)) || continue
          bench_hf "$label" 1 "" "seq $COUNT | parallel --will-cite -j $n true" ;;
        muster)
          bench_hf "$label" 1 "rm -rf $store" "seq $COUNT | $MUSTER run -q -j $n --store $store -- true"
          muster_check "$store" "$COUNT" "muster -j $n"
          rm -rf "$store" ;;
      esac
      hf_files[$tool]+="${hf_files[$tool]:+,}$logs/$label.json"
    done
  done
  for tool in "${tools[@]}"; do
    record kind=throughput tool="$tool" slots="$n" jobs="$COUNT" hf="${hf_files[$tool]}"
  done
  unset hf_files
done

# ---- 2. scale ----------------------------------------------------------------
# timed LABEL OKCODES CMD...: run CMD under /usr/bin/time -v, its stdout kept
# in logs/LABEL.out; OKCODES is a space-separated list of accepted exit codes.
timed() {
  local label=$1 ok=$2; shift 2
  show /usr/bin/time -v -o "$logs/$label.time" "$@"
  local rc=0
  /usr/bin/time -v -o "$logs/$label.time" "$@" >"$logs/$label.out" || rc=$?
  [[ " $ok " == *" $rc "* ]] || die "command failed with exit $rc: $* (see $logs/$label.time)"
}

# count_state STORE STATE: number of jobs in STATE for the store's only run.
count_state() {
  "$MUSTER" list --json --store "$1" 2>/dev/null | python3 "$here/report.py" count "$2" 2>/dev/null || echo ""
}

section "scale: CSV input"
big_csv=$out/big.csv
if [[ ! -s $big_csv || $(wc -l <"$big_csv") -ne $((BIG + 1)) ]]; then
  gen="BEGIN{print \"id,account,video_path\"; for(i=1;i<=$BIG;i++) printf \"%d,acct%03d,/videos/v%07d.mp4\\n\", i, i%500, i}"
  show_redirect "$big_csv" awk "$gen"
  awk "$gen" >"$big_csv"
fi

# Per-job cost at growing sizes: seed, then execute, on a fresh store.
for size in "${SCALE_SIZES[@]}"; do
  csv=$out/rows-$size.csv
  show_redirect "$csv" head -n $((size + 1)) "$big_csv"
  head -n $((size + 1)) "$big_csv" >"$csv"
  reps=1; [[ $size -le 10000 ]] && reps=$RUNS
  echo "-- $size jobs ($reps run(s))"
  for ((r = 1; r <= reps; r++)); do
    store=$out/store-scale-$size
    show rm -rf "$store"
    rm -rf "$store"
    timed "seed-$size-r$r" 0 "$MUSTER" run --seed-only --name "s$size" --store "$store" --input "$csv" -- true "{id}"
    timed "exec-$size-r$r" 0 "$MUSTER" resume "s$size" --store "$store" -q -j "$SCALE_SLOTS"
    muster_check "$store" "$size" "scale $size"
    record kind=scale jobs="$size" rep="$r" slots="$SCALE_SLOTS" partial=0 \
      seed_time="$logs/seed-$size-r$r.time" exec_time="$logs/exec-$size-r$r.time"
    rm -rf "$store"
  done
done

echo "-- $BIG jobs"
store=$out/store-big
show rm -rf "$store"
rm -rf "$store"
timed seed-big 0 "$MUSTER" run --seed-only --name big --store "$store" --input "$big_csv" -- true "{id}"
pending=$(count_state "$store" pending)
if [[ -n $pending && $pending != "$BIG" ]]; then
  die "seeding $BIG rows left $pending pending jobs"
fi
if [[ $FULL == 1 ]]; then
  timed exec-big 0 "$MUSTER" resume big --store "$store" -q -j "$SCALE_SLOTS"
  muster_check "$store" "$BIG" "scale $BIG"
  done_jobs=$BIG
  partial=0
else
  # Executed for PARTIAL_SECS only, then SIGINT: muster drains and exits
  # (timeout itself exits 124). /usr/bin/time reports muster's peak RSS.
  timed exec-big "0 124 130" timeout -s INT -k 60 "$PARTIAL_SECS" \
    "$MUSTER" resume big --store "$store" -q -j "$SCALE_SLOTS"
  done_jobs=$(count_state "$store" succeeded)
  partial=1
fi
record kind=scale jobs="$BIG" rep=1 slots="$SCALE_SLOTS" partial="$partial" done="$done_jobs" \
  seed_time="$logs/seed-big.time" exec_time="$logs/exec-big.time" \
  db_bytes="$(du -sb "$store" | cut -f1)"
rm -rf "$store"

record kind=meta "${meta_args[@]}" cpu_busy_pct_before="$busy_before" \
  cpu_busy_pct_after="$(python3 "$here/report.py" cpubusy 2)"

# ---- 3. report -----------------------------------------------------------------
section "summary"
python3 "$here/report.py" report "$records" "$out/results.json" "$cmdlog"
echo
echo "results: $out/results.json   commands: $cmdlog   logs: $logs/"

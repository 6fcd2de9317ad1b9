#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (test/fuzz/) and runs each for a
# short time, seeded with its corpus in test/fuzz/corpus/. New inputs that
# libFuzzer finds go to a scratch directory, not into the corpus; a crash
# leaves its input in the build directory and fails the script.
#
#   scripts/fuzz.sh [SECONDS]     (default: $FUZZ_SECONDS, else 10, per target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-10}}
build=${FUZZ_BUILD:-build-fuzz}

MUSTER_FUZZ_DEPS=1 bash scripts/install-deps.sh
targets=(csv tsv jsonl json lines template)
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DMUSTER_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "fuzz: $t for ${seconds}s" >&2
  # Seeds longer than -max_len (the deeply nested ones) are cut for mutation;
  # the corpus test reads them whole.
  (cd "$build" && UBSAN_OPTIONS=print_stacktrace=1 "./fuzz_$t" -max_total_time="$seconds" \
    -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$scratch/$t" "../test/fuzz/corpus/$t" 2>"$scratch/$t.log") || {
    tail -50 "$scratch/$t.log" >&2
    echo "fuzz: $t failed; its input is in $build/" >&2
    exit 1
  }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$scratch/$t.log" |
    sed "s/^/fuzz: $t: /" >&2
done

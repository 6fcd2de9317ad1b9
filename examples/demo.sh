#!/usr/bin/env bash
# `make demo`: posts 40 videos from a CSV through 4 slots on the embedded store,
# then shows what the store recorded.
set -euo pipefail
muster=$(realpath "${1:-build/muster}")
here=$(cd "$(dirname "$0")" && pwd)
store=$(mktemp -d /tmp/muster-demo.XXXXXX)
trap 'rm -rf "$store"' EXIT
export MUSTER_STORE=$store

run() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; "$@"; }

cd "$here"
set +e
run "$muster" run -j 4 --name demo --input posts.csv --id-column id --key '{account}' \
  --retries 3 --backoff 300ms --no-stdout \
  -- ./post.sh --account '{account}' --video '{video}'
rc=$?
set -e
echo "(exit code $rc)" >&2
run "$muster" status demo
run "$muster" jobs demo --limit 8
run "$muster" logs demo post-007
run "$muster" export demo --format csv -o "$store/demo.csv"
head -4 "$store/demo.csv"

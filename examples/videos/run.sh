#!/bin/sh
# Makes 100 fake videos with 10 slots, on a store of its own. Job v030 meets a
# rate limit, which halts the run for 3s; with --no-wait this first muster
# exits 3 instead of waiting. Then `muster resume` goes on with 4 slots: it
# waits out what is left of the cooldown, and makes the rest.
set -eu
cd "$(dirname "$0")"
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-videos.XXXXXX)
trap 'rm -rf "$store"' EXIT
rm -rf out
mkdir out

rc=0
"$muster" --store "$store" run --name gen-june --no-stdout --no-wait || rc=$?
echo "muster run exited $rc"
[ "$rc" -eq 3 ]
"$muster" --store "$store" status gen-june
"$muster" --store "$store" why gen-june v030

"$muster" --store "$store" resume gen-june -j 4 --no-stdout
"$muster" --store "$store" status gen-june
echo "videos in out/: $(ls out | grep -c '\.mp4$')"

#!/bin/sh
# Runs the example on a store of its own; prints the posts as they go out.
#
# @cats_daily has 4 posts and a cap of 3 a day, so its 4th waits for tomorrow.
# With --no-wait, muster then exits 4 instead of sleeping until midnight
# (Berlin time). With a store that stays, `muster resume posts` would post it
# the next day. @city_nights is suspended on its 2nd post: that post fails at
# once, and its 3rd is skipped. Exits 0 when all of that happened.
set -eu
cd "$(dirname "$0")"
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-phones.XXXXXX)
trap 'rm -rf "$store"' EXIT
"$muster" --store "$store" validate
"$muster" --store "$store" show-config
rc=0
"$muster" --store "$store" run --name posts --no-wait || rc=$?
echo "muster run exited $rc"
echo "phones still on after the run: $(ls phones 2>/dev/null | wc -l)"
"$muster" --store "$store" jobs posts
"$muster" --store "$store" why posts p16
[ "$rc" -eq 4 ]

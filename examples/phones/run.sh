#!/bin/sh
# Runs the example on a store of its own; prints the posts as they go out.
#
# @cats_daily has 4 posts and a cap of 3 a day, so its 4th waits for tomorrow.
# With --no-wait, muster then exits 4 instead of sleeping until midnight
# (Berlin time). With a store that stays, `muster resume posts` would post it
# the next day. @city_nights is suspended on its 2nd post: that post fails at
# once, and its 3rd is skipped. Exits 0 when all of that happened.
#
# Each slot's Appium is a real one when install-appium.sh has installed it in
# .appium/ (Appium 2 and its fake driver, from npm), else a stand-in.
set -eu
cd "$(dirname "$0")"
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-phones.XXXXXX)
trap 'rm -rf "$store"' EXIT
# With Appium installed this needs no network: it checks that Appium finds
# its driver where .appium is now (and reinstalls, or removes, a broken one).
[ ! -f .appium/installed ] || sh install-appium.sh || true
if [ -f .appium/installed ]; then
  echo "Appium: $(cat .appium/installed) in .appium"
else
  echo "Appium: the stand-in fake_appium.py (sh install-appium.sh installs a real one)"
fi
"$muster" --store "$store" validate
"$muster" --store "$store" show-config
rc=0
"$muster" --store "$store" run --name posts --no-wait || rc=$?
echo "muster run exited $rc"
echo "phones still on after the run: $(ls phones 2>/dev/null | wc -l)"
# Which server each slot's sidecar was, and where it listened (its log says).
for slot in 0 1 2 3 4; do
  log=$("$muster" --store "$store" logs posts --slot "$slot")
  version=$(printf '%s\n' "$log" | sed -nE 's/.*Welcome to Appium (v[^ ]+).*/\1/p' | head -n 1)
  url=$(printf '%s\n' "$log" | sed -nE 's/.*(listener started on|stand-in listening on) (http[^ ]+).*/\2/p' | head -n 1)
  echo "slot $slot's sidecar: ${version:+Appium }${version:-the stand-in} on ${url:-?}"
done
"$muster" --store "$store" jobs posts
"$muster" --store "$store" why posts p16
[ "$rc" -eq 4 ]

#!/bin/sh
# post.sh --appium URL --system-port N --account A --video V --caption C:
# posts one video through this slot's Appium server.
set -eu
while [ $# -gt 0 ]; do
  case $1 in
    --appium) appium=$2 ;;
    --system-port) system_port=$2 ;;
    --account) account=$2 ;;
    --video) video=$2 ;;
    --caption) caption=$2 ;;
    *) echo "post.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
# Stand-ins for what a real post meets, always for the same posts so the run
# is the same every time: @city_nights is suspended from its second post on (a
# permanent error), and p07's first attempt times out (a transient one; 75 is
# EX_TEMPFAIL).
if [ "$account" = @city_nights ] && [ "$video" != videos/city1.mp4 ]; then
  echo "error: account $account suspended" >&2
  exit 1
fi
if [ "$MUSTER_JOB_ID" = p07 ] && [ "$MUSTER_ATTEMPT" = 1 ]; then
  echo "error: upload timed out" >&2
  exit 75
fi
python3 - "$appium" "$account" "$video" "$caption" <<'PY'
import json, sys, urllib.request
url, account, video, caption = sys.argv[1:]
req = urllib.request.Request(url + "/post", data=json.dumps(
    {"account": account, "video": video, "caption": caption}).encode(),
    headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=30)))
PY
echo "posted $video to $account (slot $MUSTER_SLOT, systemPort $system_port, attempt $MUSTER_ATTEMPT)"

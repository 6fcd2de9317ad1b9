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
# One post is one Appium session, with only W3C WebDriver calls: open a
# session on the app, type the caption, tap Post, close the session. The
# capabilities are the fake driver's (@appium/fake-driver, which needs no
# phone) with app.xml as its app; for a real phone, see docs/examples.md.
app=$(cd "$(dirname "$0")" && pwd)/app.xml
python3 - "$appium" "$system_port" "$app" "$account" "$video" "$caption" <<'PY'
import json, sys, urllib.error, urllib.request
url, system_port, app, account, video, caption = sys.argv[1:]

def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)["value"]
    except urllib.error.HTTPError as e:
        try:
            err = json.load(e)["value"]
            detail = f"{err.get('error')}: {err.get('message')}"
        except ValueError:
            detail = e.reason
        sys.exit(f"error: {method} {path}: HTTP {e.code} {detail}")

version = call("GET", "/status").get("build", {}).get("version", "?")
caps = {
    "platformName": "Fake",
    "appium:automationName": "Fake",
    "appium:app": app,
    "appium:systemPort": int(system_port),
    "appium:newCommandTimeout": 60,
}
sid = call("POST", "/session", {"capabilities": {"alwaysMatch": caps, "firstMatch": [{}]}})["sessionId"]
try:
    def element(id):
        el = call("POST", f"/session/{sid}/element", {"using": "accessibility id", "value": id})
        return el["element-6066-11e4-a52e-4f735466cecf"]
    field = element("caption")
    call("POST", f"/session/{sid}/element/{field}/value", {"text": caption, "value": list(caption)})
    typed = call("GET", f"/session/{sid}/element/{field}/text")
    if typed != caption:
        sys.exit(f"error: the caption field holds {typed!r}, not {caption!r}")
    call("POST", f"/session/{sid}/element/{element('post')}/click", {})
finally:
    call("DELETE", f"/session/{sid}")
print(f"appium {version} at {url}: session {sid} posted {video} for {account}")
PY
echo "posted $video to $account (slot $MUSTER_SLOT, systemPort $system_port, attempt $MUSTER_ATTEMPT)"

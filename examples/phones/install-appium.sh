#!/bin/sh
# install-appium.sh: installs Appium 2 and its fake driver (@appium/fake-driver,
# a driver that needs no phone) with npm into .appium/ next to this script, so
# that appium.sh runs a real Appium. Needs node and npm (Debian: nodejs npm)
# and the npm registry. Does nothing when those versions are installed; quiet
# unless it fails (then it prints npm's output and exits non-zero: 3 when it
# cannot install here, without npm or a reachable registry, else 1).
set -eu
APPIUM_VERSION=2.19.0
FAKE_DRIVER_VERSION=5.7.3   # its peerDependencies: appium ^2.4.1 || ^3
here=$(cd "$(dirname "$0")" && pwd -P)
dir=$here/.appium
# Its real path (.appium may be a link): Appium keeps its drivers' paths.
[ -d "$dir" ] && dir=$(cd "$dir" && pwd -P)
stamp="$dir/installed"
want="appium@$APPIUM_VERSION @appium/fake-driver@$FAKE_DRIVER_VERSION"
manifest="$dir/node_modules/.cache/appium/extensions.yaml"

# drivers_ok: Appium lists the fake driver where it is now. Appium keeps the
# paths of its drivers in a manifest and rereads the driver packages only
# when its home's package.json changes, so after a move of .appium it would
# look for the driver where it was: then it is made to reread them.
drivers_ok() {
  grep -qF "installPath: $dir/node_modules/@appium/fake-driver" "$manifest" 2>/dev/null && return 0
  rm -f "$dir/node_modules/.cache/appium/package.hash"
  APPIUM_HOME=$dir "$dir/node_modules/.bin/appium" driver list --installed --json >"$dir/drivers.json" 2>>"$dir/npm.log" &&
    grep -qF "installPath: $dir/node_modules/@appium/fake-driver" "$manifest"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/node_modules/.bin/appium" ] && drivers_ok; then
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-appium: needs $tool (Debian: apt-get install nodejs npm)" >&2
    exit 3
  fi
done
# A registry that does not answer would keep npm retrying for minutes.
if ! timeout 30 npm ping --fetch-retries=0 --fetch-timeout=20000 >/dev/null 2>&1; then
  echo "install-appium: the npm registry ($(npm config get registry)) does not answer" >&2
  exit 3
fi
rm -rf "$dir"
mkdir -p "$dir"
log="$dir/npm.log"
# .appium is Appium's home (APPIUM_HOME) too: Appium finds the drivers that
# its home's package.json depends on, so installing the driver there with npm,
# as `appium driver install` itself does, is all it takes.
echo '{"name": "muster-phones-appium", "private": true}' >"$dir/package.json"
if ! (cd "$dir" && npm install --no-audit --no-fund --save-exact \
  "appium@$APPIUM_VERSION" "@appium/fake-driver@$FAKE_DRIVER_VERSION") >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-appium: npm install failed (is the npm registry reachable?)" >&2
  rm -rf "$dir"
  exit 1
fi
# Appium must list the driver, or it would start with none.
if ! drivers_ok; then
  cat "$log" "$dir/drivers.json" >&2
  echo "install-appium: Appium does not list the fake driver" >&2
  rm -rf "$dir"
  exit 1
fi
echo "$want" >"$stamp"

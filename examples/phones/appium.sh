#!/bin/sh
# appium.sh PORT: this slot's Appium server on 127.0.0.1:PORT. A real Appium
# with its fake driver when install-appium.sh has installed them in .appium/,
# else a stand-in (fake_appium.py) that answers the same W3C WebDriver calls.
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/.appium/node_modules/.bin/appium" ] && [ -f "$here/.appium/installed" ]; then
  # Appium's home is .appium, by its real path (install-appium.sh syncs
  # Appium's list of drivers to it): its drivers are the ones installed there.
  APPIUM_HOME=$(cd "$here/.appium" && pwd -P)
  export APPIUM_HOME
  exec "$here/.appium/node_modules/.bin/appium" --address 127.0.0.1 --port "$1" \
    --base-path / --log-level info --log-no-colors --log-timestamp
fi
exec python3 "$here/fake_appium.py" "$1"

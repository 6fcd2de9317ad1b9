#!/bin/sh
# appium.sh PORT: a real Appium server when one is installed (npm install -g
# appium), else a stand-in that answers /status like Appium does.
if command -v appium >/dev/null 2>&1; then
  exec appium --address 127.0.0.1 --port "$1"
fi
exec python3 "$(dirname "$0")/fake_appium.py" "$1"

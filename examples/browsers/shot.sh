#!/bin/sh
# shot.sh PROFILE PAGE OUT: a screenshot of a local page, taken by a headless
# Chromium that uses this slot's own profile directory.
set -eu
profile=$1 page=$2 out=$3
mkdir -p "$(dirname "$out")"
exec chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=800,600 \
  --screenshot="$PWD/$out" "file://$PWD/$page"

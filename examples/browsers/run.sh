#!/bin/sh
# Screenshots of six local pages through three slots, each with its own copy
# of the browser profile. Needs Debian's chromium (apt-get install chromium).
set -eu
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null 2>&1; then
  echo "examples/browsers: chromium is not installed (apt-get install chromium); skipping"
  exit 0
fi
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-browsers.XXXXXX)
trap 'rm -rf "$store"' EXIT
rm -rf shots
(cd pages && ls) | "$muster" --store "$store" run --name shots
ls shots

#!/bin/sh
# Runs the example on a store of its own; prints the posts as they go out.
set -eu
cd "$(dirname "$0")"
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-phones.XXXXXX)
trap 'rm -rf "$store"' EXIT
"$muster" --store "$store" validate
"$muster" --store "$store" show-config
"$muster" --store "$store" run --name posts
echo "phones still on after the run: $(ls phones 2>/dev/null | wc -l)"

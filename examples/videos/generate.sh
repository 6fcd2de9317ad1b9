#!/bin/sh
# generate.sh PROFILE PROMPT OUT: stands in for a browser script that makes one
# video on a website while logged in with PROFILE. It takes 0.1 to 0.4 s and
# writes OUT. Job v030 meets the site's "rate limit" once (.rate-limited next
# to OUT marks that it did); a prompt with "forbidden" in it meets the site's
# content policy. Each video made, and the rate limit, add a line to
# generated.log next to OUT.
set -eu
profile=$1 prompt=$2 out=$3

# A browser refuses a profile that another browser has open. The profile copy
# of each slot leaves out SingletonLock, so this never fires here.
lock=$profile/SingletonLock
if [ -e "$lock" ]; then
  echo "profile $profile is in use by $(cat "$lock")" >&2
  exit 1
fi
echo "slot $MUSTER_SLOT, pid $$" >"$lock"
trap 'rm -f "$lock"' EXIT
trap 'exit 143' TERM INT

dir=$(dirname "$out")
mkdir -p "$dir"
sleep "0.$(awk -v seed=$$ 'BEGIN { srand(seed); printf "%d", 1 + rand() * 4 }')"

case $prompt in
  *forbidden*) echo "error: this prompt violates our content policy" >&2; exit 1 ;;
esac
if [ "$MUSTER_JOB_ID" = v030 ] && mkdir "$dir/.rate-limited" 2>/dev/null; then
  echo "$MUSTER_JOB_ID rate limit" >>"$dir/generated.log"
  echo "error: rate limit reached, try again later" >&2
  exit 1
fi

printf 'fake video\nprompt: %s\nprofile: %s\n' "$prompt" "$profile" >"$out.tmp"
mv "$out.tmp" "$out"
echo "$MUSTER_JOB_ID made" >>"$dir/generated.log"
echo "$MUSTER_JOB_ID: $out (slot $MUSTER_SLOT, attempt $MUSTER_ATTEMPT)"

#!/bin/sh
# A stand-in for a job that posts a video to an account: it takes a moment,
# and now and then fails the way a flaky network does (exit 75), so muster's
# retries show.
account=""
video=""
while [ $# -gt 0 ]; do
  case "$1" in
    --account) account=$2; shift 2 ;;
    --video) video=$2; shift 2 ;;
    *) echo "post.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# 0.2 to 0.8 seconds of "upload".
sleep "0.$(( (MUSTER_SLOT + ${#video} * 7 + $$) % 7 + 2 ))"
if [ "$MUSTER_ATTEMPT" = 1 ] && [ $(( $$ % 6 )) -eq 0 ]; then
  echo "upload of $video for $account: connection reset" >&2
  exit 75
fi
echo "posted $video to $account (slot $MUSTER_SLOT, attempt $MUSTER_ATTEMPT)"

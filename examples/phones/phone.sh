#!/bin/sh
# phone.sh start|stop SLOT: stands in for a cloud-phone API. It records the
# phone's state in phones/SLOT so that a leaked phone is easy to see.
set -eu
mkdir -p phones
case $1 in
  start) echo "on since $(date +%T)" > "phones/$2"; echo "phone $2 started" ;;
  stop) rm -f "phones/$2"; echo "phone $2 stopped" ;;
  *) echo "usage: phone.sh start|stop SLOT" >&2; exit 2 ;;
esac

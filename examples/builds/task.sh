#!/bin/sh
# task.sh SESSION TARGET SECONDS: a fake build step. It logs its start (with
# the pid of the muster agent that runs it), sleeps, then logs its end. While
# out/hold-SESSION exists it waits before it ends: run.sh holds a session's
# tasks so that the session is still running while it shows it.
log=${BUILD_LOG:-out/build.log}
echo "start $1 $2 agent=$PPID" >>"$log"
sleep "$3"
while [ -e "${log%/*}/hold-$1" ]; do sleep 0.1; done
echo "done $1 $2" >>"$log"

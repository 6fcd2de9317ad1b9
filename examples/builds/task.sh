#!/bin/sh
# task.sh SESSION TARGET SECONDS: a fake build step. It logs its start (with
# the pid of the muster agent that runs it), sleeps, then logs its end.
log=${BUILD_LOG:-out/build.log}
echo "start $1 $2 agent=$PPID" >>"$log"
sleep "$3"
echo "done $1 $2" >>"$log"

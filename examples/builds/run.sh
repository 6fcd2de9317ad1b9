#!/bin/sh
# Build sessions on a store of their own, in about 15 seconds. The build tasks
# are fake (task.sh sleeps and writes to out/build.log).
#
# 1. Two sessions run at once: "frontend" (its locks are in frontend.toml) and
#    "backend" (--lock flags). They lock different files, so both run. Their
#    tasks wait while out/hold-SESSION exists (see task.sh), so both are still
#    running, however slow the machine, until the script lets them end.
# 2. A third session, "hotfix", needs src/utils.py, which frontend holds.
#    muster refuses it with exit 3 and names the holder.
# 3. `muster pause backend` from "another terminal" (this script): its running
#    tasks are let end, and nothing new starts until `muster resume backend`.
# 4. Session "release" runs on two agents: `muster run`, then `muster join`.
#    The joined agent is killed with kill -9 while it runs tasks. The first
#    agent recovers them, runs them again and completes the run.
#
# Exits 0 when all of that happened.
set -eu
cd "$(dirname "$0")"
muster=${MUSTER:-../../build/muster}
store=$(mktemp -d /tmp/muster-builds.XXXXXX)
pids=
cleanup() {
  # Only if the script stopped half-way: agents it started and did not wait for.
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$store"
}
trap cleanup EXIT
rm -rf out
mkdir out
BUILD_LOG=$PWD/out/build.log
export BUILD_LOG
: >"$BUILD_LOG"
touch out/hold-frontend out/hold-backend

m() { "$muster" --store "$store" "$@"; }
# say ARGS: print the command, then run it.
say() {
  printf '\n$ muster %s\n' "$*"
  m "$@"
}
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# wait_for SECONDS CMD...: run CMD every 0.1s until it succeeds.
wait_for() {
  n=$(($1 * 10))
  shift
  until "$@"; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || fail "timed out waiting for: $*"
    sleep 0.1
  done
}
# count WORD SESSION [TARGET]: lines of the build log for them.
count() {
  grep -c "^$1 $2 ${3:-}" "$BUILD_LOG" || true
}
# ended SESSION N: N of its tasks have ended.
ended() {
  [ "$(count done "$1")" -eq "$2" ]
}
is_paused() {
  m status "$1" | head -n 1 | grep -q ': paused$'
}

echo "== 1. two build sessions at once, locking different files"
"$muster" --store "$store" run --config frontend.toml 2>out/frontend.err &
fe=$!
pids=$fe
# The first run creates the store; start the second once the first one runs.
wait_for 10 grep -q '^start frontend ' "$BUILD_LOG"
"$muster" --store "$store" run -j 2 --name backend --lock src/api.py --lock src/db.py \
  --input backend.csv --id-column target -- ./task.sh backend {target} {secs} 2>out/backend.err &
be=$!
pids="$fe $be"
wait_for 10 grep -q '^start backend ' "$BUILD_LOG"
say list --status running
say locks

echo
echo "== 2. a session that needs a file another one holds is refused"
printf '\n$ muster run -j 1 --name hotfix --lock src/utils.py --input hotfix.csv --id-column target -- ./task.sh hotfix {target} {secs}\n'
rc=0
m run -j 1 --name hotfix --lock src/utils.py --input hotfix.csv --id-column target \
  -- ./task.sh hotfix {target} {secs} 2>out/hotfix.err || rc=$?
cat out/hotfix.err
echo "hotfix exited $rc"
[ "$rc" -eq 3 ] || fail "hotfix: expected exit 3, got $rc"
grep -q 'held by run .* "frontend"' out/hotfix.err || fail "the refusal does not name frontend"

echo
echo "== 3. pause and resume a session from another terminal"
say pause backend
wait_for 5 is_paused backend
before=$(count start backend)
# Its running tasks end now; their slots are free, and nothing new starts.
rm out/hold-backend
wait_for 10 ended backend "$before"
sleep 1.5
after=$(count start backend)
say status backend
[ "$after" -eq "$before" ] || fail "backend started $((after - before)) task(s) while paused"
echo "check: backend started no task while paused ($before started before the pause, $after after its tasks ended and 1.5s more)"
say resume backend
rm out/hold-frontend
rc_fe=0 rc_be=0
wait "$fe" || rc_fe=$?
wait "$be" || rc_be=$?
pids=
echo "frontend exited $rc_fe, backend exited $rc_be"
echo "-- the backend agent said:"
cat out/backend.err
[ "$rc_fe" -eq 0 ] && [ "$rc_be" -eq 0 ] || fail "a session did not succeed"
[ "$(count done frontend)" -eq 8 ] && [ "$(count done backend)" -eq 8 ] ||
  fail "not every target of frontend and backend was built"
# frontend is done, so src/utils.py is free, and hotfix runs now.
printf '\n$ muster run -q -j 1 --name hotfix --lock src/utils.py ...\n'
m run -q -j 1 --name hotfix --lock src/utils.py --input hotfix.csv --id-column target \
  -- ./task.sh hotfix {target} {secs}
echo "hotfix exited $?"

echo
echo "== 4. two agents on one session; one is killed, the other takes over"
"$muster" --store "$store" run -j 2 --name release --input release.csv --id-column target \
  -- ./task.sh release {target} {secs} 2>out/release-a.err &
a=$!
pids=$a
wait_for 10 grep -q '^start release ' "$BUILD_LOG"
printf '\n$ muster join release -j 2 &\n'
"$muster" --store "$store" join release -j 2 2>out/release-b.err &
b=$!
pids="$a $b"
wait_for 10 grep -q "^start release .* agent=$b\$" "$BUILD_LOG"
victims=$(awk -v who="agent=$b" '$1 == "start" && $4 == who { print $3 }' "$BUILD_LOG")
kill -9 "$b"
rc_b=0
wait "$b" 2>/dev/null || rc_b=$?
pids=$a
echo "killed the joined agent (pid $b, exit $rc_b) while it ran: $(echo $victims)"
# Slot details are as of each agent's last heartbeat (every 2s); by the next
# one, the first agent has also recovered the killed agent's tasks.
sleep 2.5
say workers release
say summary
rc_a=0
wait "$a" || rc_a=$?
pids=
echo
echo "the first agent (pid $a) exited $rc_a; it said:"
cat out/release-a.err
say events release
say workers release
say status release
say jobs release
[ "$rc_a" -eq 0 ] || fail "the first agent of release exited $rc_a"
m status release | grep -q '12 total: 12 succeeded' || fail "release did not complete"
echo
for t in $victims; do
  s=$(count start release "$t ")
  d=$(count done release "$t")
  echo "check: $t started $s times, built $d time(s)"
  [ "$d" -ge 1 ] || fail "$t of the killed agent was never built"
done
echo "all checks passed"

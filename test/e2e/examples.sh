# End to end: the bundled examples run as written.

# copy_phones: examples/phones in ./phones, without what a run or
# install-appium.sh left there (phones/, .appium/).
copy_phones() {
  PHONES_SRC=$(cd "$(dirname "$E2E_SUITE_FILE")/../../examples/phones" && pwd)
  mkdir phones
  cp -r "$PHONES_SRC"/* phones/
  rm -rf phones/phones
}

# check_phones_run SERVER: run.sh's output ($STDOUT, .last.out) shows the
# example's behaviour, every post made through its slot's own Appium, and
# each sidecar was SERVER ("Appium v2.19.0" or "the stand-in").
check_phones_run() {
  local server=$1
  expect_contains "$STDOUT" "muster run exited 4" "exit code with --no-wait"
  expect_contains "$STDERR" "13 succeeded, 1 failed, 1 left" "summary"
  expect_contains "$STDOUT" "phones still on after the run: 0" "phones left on"
  expect_eq "$(grep -c '^posted ' .last.out)" 13 "posts"
  # @cats_daily posted 3 times; its 4th post waits for the next day in Berlin.
  expect_eq "$(grep -c '^posted .* to @cats_daily ' .last.out)" 3 "posts of @cats_daily"
  expect_match "$STDOUT" "p16 +waiting .*key @cats_daily at daily cap 3/3 until [0-9-]+ 00:00 Europe/Berlin" "p16"
  # @city_nights was suspended on its 2nd post: no retry, and its 3rd is skipped.
  expect_match "$STDOUT" "p09 +failed +1/3 .*matched 'suspended'" "p09"
  expect_match "$STDOUT" "p14 +skipped .*key @city_nights blocked" "p14"
  # p07 timed out once (exit 75) and was retried.
  expect_match "$STDOUT" "p07 +succeeded +2/3 " "p07"
  # Each slot's sidecar was SERVER, listening on the slot's port.
  local slot
  for slot in 0 1 2 3 4; do
    expect_contains "$STDOUT" "slot $slot's sidecar: $server on http://127.0.0.1:$((4723 + 2 * slot))" "sidecar of slot $slot"
  done
  # Each post was a session of its own on the Appium of the slot that made
  # it, whose GET /status gave SERVER's version.
  local version=${server#Appium v}
  [[ $server == "the stand-in" ]] && version=stand-in
  local line port sessions=()
  while read -r line; do
    [[ $line == "appium "* ]] || continue
    expect_match "$line" "^appium $version at http://127\.0\.0\.1:([0-9]+): session ([0-9a-f-]{36}) posted " "a post's session"
    port=${BASH_REMATCH[1]}
    sessions+=("${BASH_REMATCH[2]}")
    read -r line
    slot=$(printf '%s' "$line" | sed -n 's/.*(slot \([0-9]*\),.*/\1/p')
    expect_eq "$port" $((4723 + 2 * slot)) "Appium port of slot $slot"
  done <.last.out
  expect_eq "$(printf '%s\n' "${sessions[@]}" | sort -u | wc -l)" 13 "distinct sessions"
  # No sidecar outlived the run.
  if pgrep -f "$T/phones/" >/dev/null; then
    fail "processes of the example still running: $(pgrep -af "$T/phones/")"
  fi
}

test_phones_example() {
  TEST "examples/phones posts through each slot's stand-in Appium, keeps the daily cap and blocks a suspended account"
  copy_phones
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh phones/run.sh
  expect_contains "$STDOUT" "Appium: the stand-in fake_appium.py" "the server"
  check_phones_run "the stand-in"
}

test_phones_example_appium() {
  TEST "examples/phones runs with a real Appium and its fake driver, installed from npm"
  copy_phones
  # install-appium.sh installs Appium in the source tree's examples/phones
  # once (about 40 s); later runs find it there.
  # Exit 3: no npm, or no registry that answers.
  local rc=0
  timeout 300 sh "$PHONES_SRC/install-appium.sh" >install.out 2>&1 || rc=$?
  if [[ $rc == 3 ]]; then
    echo "  note: $E2E_CURRENT: $(tail -n 1 install.out); examples/phones ran with the stand-in only"
    return
  fi
  [[ $rc == 0 ]] || fail "install-appium.sh exited $rc: $(tail -n 20 install.out)"
  ln -s "$PHONES_SRC/.appium" phones/.appium
  local installed
  installed=$(cat phones/.appium/installed)
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh phones/run.sh
  expect_contains "$STDOUT" "Appium: $installed in .appium" "the server"
  local version=${installed#appium@}
  check_phones_run "Appium v${version%% *}"
}

test_videos_example() {
  TEST "examples/videos halts on a rate limit, then a resume with 4 slots makes the other videos, each once"
  cp -r "$(dirname "$E2E_SUITE_FILE")/../../examples/videos" .
  rm -rf videos/out
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh videos/run.sh
  # The first muster stopped on the halt (exit 3 with --no-wait), and the run
  # was halted until the cooldown's end.
  expect_contains "$STDOUT" "muster run exited 3" "exit code with --no-wait"
  expect_match "$STDOUT" "\(gen-june\): halted" "status after the halt"
  expect_contains "$STDOUT" "matched 'rate limit'" "the halt's reason"
  expect_eq "$(grep -c ' halted until ' .last.err)" 1 "halts"
  expect_eq "$(grep -c 'rate limit' videos/out/generated.log)" 1 "rate limits met"
  # The resume completed the run.
  expect_match "$STDOUT" "\(gen-june\): completed" "status at the end"
  expect_contains "$STDOUT" "100 total: 100 succeeded" "counts at the end"
  expect_contains "$STDERR" "100 succeeded" "the resume's summary"
  # Every video exists, and each was made once.
  local n
  for n in $(seq 1 100); do
    expect_file_exists "videos/out/$(printf 'v%03d' "$n").mp4"
  done
  expect_eq "$(ls videos/out | grep -c '\.mp4$')" 100 "videos"
  expect_eq "$(grep -c ' made$' videos/out/generated.log)" 100 "videos made"
  expect_eq "$(grep ' made$' videos/out/generated.log | sort -u | wc -l)" 100 "distinct videos made"
}

test_browsers_example() {
  TEST "examples/browsers screenshots local pages with a profile copy per slot, or says it cannot"
  cp -r "$(dirname "$E2E_SUITE_FILE")/../../examples/browsers" .
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh browsers/run.sh
  if ! command -v chromium >/dev/null 2>&1; then
    expect_contains "$STDOUT" "chromium is not installed" "the skip message"
    return
  fi
  local n
  for n in 1 2 3 4 5 6; do
    expect_file_exists "browsers/shots/page$n.html.png"
  done
}

test_builds_example() {
  TEST "examples/builds runs two locked sessions at once, refuses a clash, pauses one, and recovers a killed agent's tasks"
  cp -r "$(dirname "$E2E_SUITE_FILE")/../../examples/builds" .
  rm -rf builds/out
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh builds/run.sh
  expect_contains "$STDOUT" "all checks passed"
  local log=builds/out/build.log
  # frontend and backend ran at the same time: backend started before
  # frontend's last task ended, and both ended with 0.
  local first_be last_fe
  first_be=$(grep -n '^start backend ' "$log" | head -n 1 | cut -d: -f1)
  last_fe=$(grep -n '^done frontend ' "$log" | tail -n 1 | cut -d: -f1)
  expect_lt "$first_be" "$last_fe" "line of backend's first start against frontend's last end"
  expect_contains "$STDOUT" "frontend exited 0, backend exited 0"
  expect_eq "$(grep -c '^done frontend ' "$log")" 8 "frontend tasks built"
  expect_eq "$(grep -c '^done backend ' "$log")" 8 "backend tasks built"
  # The clashing session was refused with exit 3, and the message names the holder.
  expect_contains "$STDOUT" "hotfix exited 3"
  expect_match "$STDOUT" 'lock src/utils\.py held by run [0-9a-f]+ "frontend"' "the refusal"
  # Paused, backend started nothing.
  expect_match "$STDOUT" "check: backend started no task while paused \(([0-9]+) started before the pause, \1 after" "the pause"
  # The killed agent's tasks were built: each at least once, and at least one
  # again by the first agent (requeued). Every other task was built once.
  local a b victims v t requeued=0
  b=$(sed -n 's/^killed the joined agent (pid \([0-9]*\), exit 137).*/\1/p' .last.out)
  a=$(sed -n 's/^the first agent (pid \([0-9]*\)) exited 0.*/\1/p' .last.out)
  [[ -n $a && -n $b ]] || fail "no pids of the two release agents in the output"
  victims=$(awk -v who="agent=$b" '$1 == "start" && $2 == "release" && $4 == who { print $3 }' "$log")
  [[ -n $victims ]] || fail "the killed agent ran no task"
  for v in $victims; do
    expect_ge "$(grep -c "^done release $v\$" "$log")" 1 "builds of $v (a task of the killed agent)"
    if grep -q "^start release $v agent=$a\$" "$log"; then
      requeued=$((requeued + 1))
    fi
  done
  expect_ge "$requeued" 1 "tasks of the killed agent run again by the first agent"
  for t in $(tail -n +2 builds/release.csv | cut -d, -f1); do
    [[ " $(echo $victims) " == *" $t "* ]] && continue
    expect_eq "$(grep -c "^start release $t " "$log")" 1 "starts of $t"
    expect_eq "$(grep -c "^done release $t\$" "$log")" 1 "builds of $t"
  done
  expect_match "$STDOUT" "recovered [0-9]+ job\(s\) of an agent that is gone" "the first agent's notice"
  expect_match "$STDOUT" "[0-9a-f]{6} +[^ ]+ +$b +[^ ]+ +offline" "the killed agent in muster workers"
  expect_match "$STDOUT" "\(release\): completed" "release's state"
  expect_contains "$STDOUT" "12 total: 12 succeeded" "release's counts"
  expect_match "$STDOUT" "join +-j 2 +[^ ]+ pid $b" "the join in muster events"
}

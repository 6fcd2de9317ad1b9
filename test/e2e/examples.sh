# End to end: the bundled examples run as written.

test_phones_example() {
  TEST "examples/phones posts through each slot's Appium, keeps the daily cap and blocks a suspended account"
  cp -r "$(dirname "$E2E_SUITE_FILE")/../../examples/phones" .
  rm -rf phones/phones
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh phones/run.sh
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
  # Each post went through the Appium server of the slot that made it.
  local line slot port
  while read -r line; do
    port=$(printf '%s' "$line" | sed -n "s/.*'port': \([0-9]*\).*/\1/p")
    [[ -n $port ]] || continue
    read -r line
    slot=$(printf '%s' "$line" | sed -n 's/.*(slot \([0-9]*\),.*/\1/p')
    expect_eq "$port" $((4723 + 2 * slot)) "Appium port of slot $slot"
  done <.last.out
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

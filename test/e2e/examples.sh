# End to end: the bundled examples run as written.

test_phones_example() {
  TEST "examples/phones posts every video through its slot's Appium and leaves no phone on"
  cp -r "$(dirname "$E2E_SUITE_FILE")/../../examples/phones" .
  rm -rf phones/phones
  expect_exit 0 env MUSTER="$MUSTER_BIN" sh phones/run.sh
  expect_contains "$STDERR" "10 succeeded" "summary"
  expect_contains "$STDOUT" "phones still on after the run: 0" "phones left on"
  expect_eq "$(grep -c '^posted ' .last.out)" 10 "posts"
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

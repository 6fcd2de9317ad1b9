# End to end: examples/cpp/hello.cpp, the example of docs/library.md, creates
# and runs a run through app/, and the CLI sees the same run in its store.
# CMake passes the example's path in MUSTER_EXAMPLE; without it, it is looked
# for next to the muster binary.

example_bin() {
  if [[ -n ${MUSTER_EXAMPLE:-} ]]; then
    printf '%s' "$MUSTER_EXAMPLE"
  else
    printf '%s' "$(dirname "$MUSTER_BIN")/muster_example"
  fi
}

test_example_runs_every_job() {
  TEST "the C++ example runs echo over three values and prints each job's state"
  expect_exit 0 "$(example_bin)" store
  expect_eq "$STDOUT" $'job 1: succeeded\njob 2: succeeded\njob 3: succeeded' "example output"
  expect_eq "$STDERR" "" "example stderr"
}

test_cli_sees_the_example_run() {
  TEST "the CLI reads the run the example made, with the jobs' output"
  expect_exit 0 "$(example_bin)" store
  expect_exit 0 muster --store store status --json
  expect_contains "$STDOUT" '"succeeded": 3'
  id=$(muster --store store status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  expect_exit 0 muster --store store logs "$id" 2
  expect_eq "$STDOUT" "banana" "job 2's output"
}

test_example_in_a_sqlite_location() {
  TEST "the example's store may be named sqlite:DIR"
  expect_exit 0 "$(example_bin)" sqlite:other
  expect_file_exists other/runs
  expect_exit 0 muster --store sqlite:other status
  expect_contains "$STDOUT" "completed"
}

test_docs_quote_the_example() {
  TEST "README.md and docs/library.md quote examples/cpp/hello.cpp verbatim"
  local root=$E2E_DIR/../.. doc
  for doc in README.md docs/library.md; do
    quoted=$(python3 - "$root/$doc" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```cpp\n(.*?)```", text, re.S)
print(blocks[0] if blocks else "", end="")
PY
)
    expect_eq "$quoted" "$(cat "$root/examples/cpp/hello.cpp")" "the C++ block of $doc"
  done
}

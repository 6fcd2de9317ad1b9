# End to end: malformed input and bad flags give exit 2, name the file and
# line, and create nothing (invariant 6: all or nothing on bad input).

# expect_rejected WHERE CMD...: CMD exits 2, stderr names WHERE (FILE:LINE,
# or "" for none), and no store appears where there was none.
expect_rejected() {
  local where=$1
  shift
  expect_no_file .muster
  expect_exit 2 "$@"
  if [[ -n $where ]]; then
    expect_match "$STDERR" "(^|[^A-Za-z0-9_./])${where//./\\.}([^0-9]|\$)" "stderr names $where"
  fi
  expect_no_file .muster
  expect_no_file touched
}

# With an existing store: CMD exits 2 and the store's runs and jobs are
# unchanged.
expect_rejected_in_store() {
  local where=$1
  shift
  expect_exit 0 muster list --json
  cp .last.out before.json
  local jobs_before
  jobs_before=$(json jobs_json 'len(j)')
  expect_exit 2 "$@"
  if [[ -n $where ]]; then
    expect_match "$STDERR" "(^|[^A-Za-z0-9_./])${where//./\\.}([^0-9]|\$)" "stderr names $where"
  fi
  local err=$STDERR
  expect_exit 0 muster list --json
  if ! cmp -s before.json .last.out; then
    fail "muster list --json changed after a rejected run: $(diff before.json .last.out | head -20)"
  fi
  expect_json jobs_json 'len(j)' "$jobs_before" "jobs in the store"
  expect_no_file touched
  STDERR=$err
}

make_store() {
  expect_exit 0 muster run -q --name existing -- true ::: 1 2
}

test_unterminated_quote() {
  TEST "CSV with an unterminated quote"
  printf 'id,name\n1,ok\n2,"never closed\n3,x\n' >in.csv
  expect_rejected in.csv:3 muster run -i in.csv -- touch touched
  expect_contains "$STDERR" "quot" "message"
  make_store
  expect_rejected_in_store in.csv:3 muster run -i in.csv -- touch touched
}

test_ragged_row() {
  TEST "CSV with a ragged row"
  printf 'id,name\n1,ok\n2,ok\n3,x,extra\n4,ok\n' >in.csv
  expect_rejected in.csv:4 muster run -i in.csv -- touch touched
  printf 'id,name\n1,ok\n2\n' >short.csv
  expect_rejected short.csv:3 muster run -i short.csv -- touch touched
  make_store
  expect_rejected_in_store in.csv:4 muster run -i in.csv -- touch touched
}

test_ragged_tsv() {
  TEST "TSV with a ragged row"
  printf 'a\tb\n1\t2\n3\t4\t5\n' >in.tsv
  expect_rejected in.tsv:3 muster run -i in.tsv -- touch touched
}

test_duplicate_id() {
  TEST "duplicate --id-column values"
  printf 'id,name\na,1\nb,2\nc,3\nb,4\n' >in.csv
  expect_rejected in.csv:5 muster run --id-column id -i in.csv -- touch touched
  expect_contains "$STDERR" "b" "message names the id"
  make_store
  expect_rejected_in_store in.csv:5 muster run --id-column id -i in.csv -- touch touched
}

test_duplicate_id_jsonl() {
  TEST "duplicate ids in JSON Lines"
  printf '{"id":"x"}\n{"id":"y"}\n{"id":"x"}\n' >in.jsonl
  expect_rejected in.jsonl:3 muster run --id-column id -i in.jsonl -- touch touched
}

test_invalid_json() {
  TEST "invalid JSON Lines"
  printf '{"a":1}\n{"a":2}\n{"a":}\n{"a":4}\n' >in.jsonl
  expect_rejected in.jsonl:3 muster run -i in.jsonl -- touch touched
  printf '{"a":1}\n[1,2]\n' >arr.jsonl
  expect_rejected arr.jsonl:2 muster run -i arr.jsonl -- touch touched
  printf '{"a":1}\n{"a":"unterminated\n' >str.jsonl
  expect_rejected str.jsonl:2 muster run -i str.jsonl -- touch touched
  make_store
  expect_rejected_in_store in.jsonl:3 muster run -i in.jsonl -- touch touched
}

test_unknown_placeholder() {
  TEST "unknown placeholders"
  printf 'id,name\n1,a\n' >in.csv
  expect_rejected "" muster run -i in.csv -- touch touched {nosuch}
  expect_contains "$STDERR" "nosuch" "message names the placeholder"
  expect_rejected "" muster run -- touch touched {nosuch} ::: a
  expect_contains "$STDERR" "nosuch" "message names the placeholder"
  expect_rejected "" muster run -- touch touched {3} ::: a ::: b
  expect_rejected "" muster run --key '{nokey}' -i in.csv -- touch touched
  expect_contains "$STDERR" "nokey" "message names the placeholder"
  # JSON Lines name their fields per row: the row without it is named.
  printf '{"name":"a"}\n{"name":"b"}\n{"other":"c"}\n' >in.jsonl
  expect_rejected in.jsonl:3 muster run -i in.jsonl -- touch touched {name}
  make_store
  expect_rejected_in_store "" muster run -i in.csv -- touch touched {nosuch}
  expect_rejected_in_store in.jsonl:3 muster run -i in.jsonl -- touch touched {name}
}

test_bad_rows_after_many_good() {
  TEST "a bad row after 5,000 good ones still creates nothing"
  {
    echo 'id,v'
    seq 5000 | sed 's/.*/&,x/'
    echo '5001,"oops'
  } >in.csv
  expect_rejected in.csv:5002 muster run -i in.csv -- touch touched
  make_store
  expect_rejected_in_store in.csv:5002 muster run -i in.csv -- touch touched
}

test_second_input_bad() {
  TEST "a bad second input file creates nothing"
  printf 'a,b\n1,2\n' >one.csv
  printf 'a,b\n3,4\n5\n' >two.csv
  expect_rejected two.csv:3 muster run -i one.csv -i two.csv -- touch touched
}

test_missing_input() {
  TEST "a missing input file"
  expect_rejected "" muster run -i nosuch.csv -- touch touched
  expect_contains "$STDERR" "nosuch.csv" "message"
}

test_bad_flags() {
  TEST "bad flags give exit 2 and create nothing"
  expect_rejected "" muster run --timeout abc -- touch touched ::: a
  expect_contains "$STDERR" "timeout" "message"
  expect_rejected "" muster run --retries 0 -- touch touched ::: a
  expect_rejected "" muster run --retries -1 -- touch touched ::: a
  expect_rejected "" muster run --backoff soon -- touch touched ::: a
  expect_rejected "" muster run --backoff-max 5x -- touch touched ::: a
  expect_rejected "" muster run --kill-grace abc -- touch touched ::: a
  expect_rejected "" muster run --grace -- touch touched ::: a
  expect_rejected "" muster run --max-output lots -- touch touched ::: a
  expect_rejected "" muster run --format xml -- touch touched ::: a
  expect_rejected "" muster run --on-interrupt maybe -- touch touched ::: a
  expect_rejected "" muster run -j 0 -- touch touched ::: a
  expect_rejected "" muster run -- ::: a
  expect_rejected "" muster nosuchcommand
  expect_rejected "" muster run --heartbeat 50ms -- touch touched ::: a
  expect_rejected "" muster run --rate 5/fortnight -- touch touched ::: a
  expect_rejected "" muster run --timezone Mars/Olympus -- touch touched ::: a
  expect_rejected "" muster run --per-key 1 -- touch touched ::: a
  make_store
  expect_rejected_in_store "" muster run --timeout abc -- touch touched ::: a
  expect_rejected_in_store "" muster run --retries 0 -- touch touched ::: a
  expect_rejected_in_store "" muster run --heartbeat 50ms -- touch touched ::: a
}

test_unknown_flag() {
  TEST "an unknown option before -- is a usage error, not the command"
  expect_rejected "" muster run --no-such-flag -- touch touched ::: a
  expect_rejected "" muster run -x -- touch touched ::: a
}

test_read_commands_create_nothing() {
  TEST "status, list and resume without a store create none"
  run_cmd muster list
  expect_no_file .muster
  run_cmd muster status
  expect_no_file .muster
  expect_exit 2 muster resume abc
  expect_no_file .muster
}

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

test_deep_json() {
  TEST "JSON nested 60,000 deep is a located error, not a crash"
  python3 -c 'print("{\"a\":" + "[" * 60000 + "]" * 60000 + "}")' >deep.jsonl
  python3 -c 'print("[\n" + "{\"a\":" * 60000 + "1" + "}" * 60000 + "]")' >deep.json
  # A small stack, so that any recursion over the nesting would crash.
  ulimit -S -s 1024
  expect_rejected deep.jsonl:1:517 muster run -i deep.jsonl -- touch touched
  expect_contains "$STDERR" "nested deeper than 512 levels" "message"
  expect_rejected deep.json:2:2556 muster run -i deep.json -- touch touched
  expect_rejected deep.jsonl:1:517 muster run --dry-run -i deep.jsonl -- touch touched
  make_store
  expect_rejected_in_store deep.jsonl:1:517 muster run -i deep.jsonl -- touch touched
}

test_nul_in_values() {
  TEST "a NUL in a value is a located error in every format"
  printf 'id,v\n1,a\0b\n' >in.csv
  expect_rejected in.csv:2:4 muster run -i in.csv -- touch touched {v}
  expect_contains "$STDERR" "NUL" "message"
  printf 'id\tv\n1\t\0\n' >in.tsv
  expect_rejected in.tsv:2:3 muster run -i in.tsv -- touch touched {v}
  printf 'a\nb\0\n' >in.txt
  expect_rejected in.txt:2:2 muster run -i in.txt -- touch touched
  printf '{"v":"a\\u0000b"}\n' >in.jsonl
  expect_rejected in.jsonl:1:8 muster run -i in.jsonl -- touch touched {v}
  printf '[{"v":"a"},\n {"v":"\\u0000"}]\n' >in.json
  expect_rejected in.json:2:8 muster run -i in.json -- touch touched {v}
  printf 'a\0b\n' >stdin.txt
  expect_rejected "<stdin>:1:2" muster run -- touch touched <stdin.txt
  make_store
  expect_rejected_in_store in.csv:2:4 muster run -i in.csv -- touch touched {v}
}

test_errors_print_no_control_bytes() {
  TEST "input errors name FILE:LINE:COLUMN and escape the control bytes they quote"
  printf 'id,a\n\e]0;x\a,1\n\e]0;x\a,2\n' >dup.csv
  expect_rejected dup.csv:3:1 muster run --id-column id -i dup.csv -- touch touched
  expect_contains "$STDERR" '\x1B]0;x\x07' "the id, escaped"
  printf '\e[2J,a,\e[2J\n1,2,3\n' >head.csv
  expect_rejected head.csv:1:8 muster run -i head.csv -- touch touched
  printf '{"v":"\e[2J"}\n' >ctl.jsonl
  expect_rejected ctl.jsonl:1:7 muster run -i ctl.jsonl -- touch touched
  printf 'p\nx\e[2J\n' >prio.csv
  expect_rejected prio.csv:2:1 muster run --priority '{p}' -i prio.csv -- touch touched
  printf 'name\n1\n' >in.csv
  expect_rejected in.csv:1:1 muster run -i in.csv -- touch touched {nosuch}
  expect_rejected in.csv:1:1 muster run --id-column nosuch -i in.csv -- touch touched
  printf '{"a":"1"}\n{"\\u001b[2J":"1"}\n' >keys.jsonl
  expect_rejected keys.jsonl:2:1 muster run -i keys.jsonl -- touch touched {a}
  printf '{"id":""}\n' >empty.jsonl
  expect_rejected empty.jsonl:1:1 muster run --id-column id -i empty.jsonl -- touch touched
  local f
  for f in dup.csv head.csv ctl.jsonl prio.csv keys.jsonl; do
    expect_exit 2 muster run -i "$f" --id-column id --priority '{p}' -- touch touched {a}
    if printf '%s' "$STDERR" | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
      fail "$f: stderr holds a raw control byte: $(printf '%s' "$STDERR" | od -c | head -5)"
    fi
  done
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

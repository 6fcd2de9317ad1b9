# End to end: inputs, placeholders, the store and the read-only commands.
# Run with: bash test/e2e/run test/e2e/basic.sh build/muster

test_many_jobs_each_once() {
  TEST "2,000 jobs with -j 8 each run exactly once"
  local n
  n=$(scaled 2000 500)
  seq "$n" >ids.txt
  expect_exit 0 muster run -q --no-stdout -j 8 -i ids.txt -- \
    sh -c 'echo "$1 $MUSTER_JOB_ID" >>"$0"' "$T/ledger" {}
  expect_eq "$(wc -l <ledger)" "$n" "ledger lines"
  # Each line is "{} MUSTER_JOB_ID"; with line input both are the row.
  expect_eq "$(awk '$1 != $2' ledger | head -3)" "" "lines whose {} and MUSTER_JOB_ID differ"
  expect_eq "$(cut -d' ' -f1 ledger | sort | uniq -d | head -5)" "" "ids run twice"
  expect_eq "$(cut -d' ' -f1 ledger | sort -n | cmp - ids.txt && echo same)" "same" "ids run"
  expect_json jobs_json 'sum(1 for x in j if x["state"] == "succeeded" and x["attempts"] == 1)' "$n"
  expect_json jobs_json 'len(j)' "$n"
  expect_sql "PRAGMA integrity_check" "ok"
}

test_csv_quoting() {
  TEST "CSV: quoted fields with commas, quotes and newlines reach the job as one argv entry"
  local w
  w=$(make_argv_writer)
  printf '%s\r\n' 'name,note,n' 'plain,simple,1' '"with, comma","say ""hi""",2' \
    '"multi' 'line","x,""y""",3' ',"",4' >in.csv
  expect_exit 0 muster run -q -j 2 -i in.csv -- "$w" {name} {note} {n}
  expect_json jobs_json 'each("id")' "1 2 3 4" \
    "job ids are the rows' positions"
  argv_of 1
  expect_eq "${#ARGV[@]}" 3 "argc of job 1"
  expect_eq "${ARGV[0]}|${ARGV[1]}|${ARGV[2]}" "plain|simple|1"
  argv_of 2
  expect_eq "${#ARGV[@]}" 3 "argc of job 2"
  expect_eq "${ARGV[0]}" "with, comma"
  expect_eq "${ARGV[1]}" 'say "hi"'
  argv_of 3
  expect_eq "${#ARGV[@]}" 3 "argc of job 3"
  expect_eq "${ARGV[0]}" $'multi\r\nline' "a quoted field keeps its line break"
  expect_eq "${ARGV[1]}" 'x,"y"'
  expect_eq "${ARGV[2]}" 3
  argv_of 4
  expect_eq "${#ARGV[@]}" 3 "argc of job 4 (empty fields stay separate arguments)"
  expect_eq "${ARGV[0]}|${ARGV[1]}|${ARGV[2]}" "||4"
}

test_csv_lf_newline_in_field() {
  TEST "CSV: a quoted LF newline stays inside the field"
  local w
  w=$(make_argv_writer)
  printf 'a,b\n"one\ntwo",three\n' >in.csv
  expect_exit 0 muster run -q -i in.csv -- "$w" {a} {b}
  expect_json jobs_json 'len(j)' 1
  argv_of 1
  expect_eq "${#ARGV[@]}" 2 "argc"
  expect_eq "${ARGV[0]}" $'one\ntwo'
  expect_eq "${ARGV[1]}" three
}

test_tsv() {
  TEST "TSV input: fields by column name and by position"
  local w
  w=$(make_argv_writer)
  printf 'host\tpath\n' >in.tsv
  printf 'a b\t/x y\n' >>in.tsv
  printf 'c,d\t"q"\n' >>in.tsv
  expect_exit 0 muster run -q -i in.tsv -- "$w" {host} {2}
  argv_of 1
  expect_eq "${#ARGV[@]}" 2 "argc"
  expect_eq "${ARGV[0]}|${ARGV[1]}" "a b|/x y"
  argv_of 2
  expect_eq "${ARGV[0]}|${ARGV[1]}" 'c,d|"q"'
}

test_jsonl() {
  TEST "JSON Lines input: string, number and escaped values"
  local w
  w=$(make_argv_writer)
  cat >in.jsonl <<'EOF'
{"name": "a b", "n": 1}
{"name": "q\"uote\nnl", "n": 22}
EOF
  expect_exit 0 muster run -q -i in.jsonl -- "$w" {name} {n}
  argv_of 1
  expect_eq "${#ARGV[@]}" 2 "argc"
  expect_eq "${ARGV[0]}|${ARGV[1]}" "a b|1"
  argv_of 2
  expect_eq "${ARGV[0]}" $'q"uote\nnl'
  expect_eq "${ARGV[1]}" 22
}

test_json_document() {
  TEST "JSON input: an array of objects, or the one at --json-path"
  local w
  w=$(make_argv_writer)
  cat >in.json <<'EOF'
[
  {"name": "a b", "n": 1},
  {"name": "q\"uote", "n": [2, {"x": null}]}
]
EOF
  expect_exit 0 muster run -q -j 1 -i in.json -- "$w" {name} {n}
  argv_of 1
  expect_eq "${ARGV[0]}|${ARGV[1]}" "a b|1"
  argv_of 2
  expect_eq "${ARGV[0]}|${ARGV[1]}" 'q"uote|[2,{"x":null}]'
  printf '{"data": {"count": 2, "jobs": [{"id": "x"}, {"id": "y"}]}}' >nested.data
  expect_exit 0 muster run -q -j 1 --format json --json-path data.jobs --id-column id \
    -i nested.data -- echo {id}
  expect_eq "$STDOUT" $'x\ny'
  local run
  run=$(last_run_id)
  expect_exit 2 muster add "$run" -i nested.data --format json --json-path data.nosuch
  expect_contains "$STDERR" "nested.data:1:10: --json-path data.nosuch" "missing key"
  printf '{"data": {"jobs": [{"id": "z"}]}}' >more.data
  expect_exit 0 muster add "$run" -q -i more.data --format json --json-path data.jobs
  expect_json "jobs_json $run" '[x["id"] for x in j]' '["x", "y", "z"]' "jobs after add"
}

test_format_flag() {
  TEST "--format overrides the extension"
  local w
  w=$(make_argv_writer)
  printf 'x,y\n1,2\n' >rows.txt
  expect_exit 0 muster run -q --format csv -i rows.txt -- "$w" {y} {x}
  expect_json jobs_json 'len(j)' 1 "jobs (the header is no row)"
  argv_of 1
  expect_eq "${ARGV[*]}" "2 1"
}

test_lines() {
  TEST "plain lines: {} is the whole line, spaces and all"
  local w
  w=$(make_argv_writer)
  printf '%s\n' 'one' 'two words' '  padded  ' 'a,b' >in.txt
  expect_exit 0 muster run -q -i in.txt -- "$w" {}
  expect_json jobs_json 'len(j)' 4
  argv_of 1
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|one"
  argv_of 2
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|two words"
  argv_of 3
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|  padded  "
  argv_of 4
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|a,b"
}

test_several_inputs() {
  TEST "several --input files make one run"
  printf '%s\n' a b >one.txt
  printf '%s\n' c >two.txt
  expect_exit 0 muster run -q -i one.txt -i two.txt -- echo {}
  expect_eq "$(sort <<<"$STDOUT" | paste -sd' ')" "a b c" "stdout"
  expect_json runs_json 'len(j)' 1
  expect_json jobs_json 'len({x["id"] for x in j})' 3 "distinct job ids"
}

test_args() {
  TEST "::: arguments, one job each"
  local w
  w=$(make_argv_writer)
  expect_exit 0 muster run -q -j 4 -- "$w" {} ::: a 'b c' ''
  expect_json jobs_json 'len(j)' 3
  argv_of 1
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|a"
  argv_of 2
  expect_eq "${#ARGV[@]}|${ARGV[0]}" "1|b c"
}

test_args_cartesian() {
  TEST "two ::: groups give the cartesian product"
  expect_exit 0 muster run -q -j 4 -- sh -c 'echo "$1-$2" >>"$0"' "$T/pairs" {1} {2} ::: a b ::: x y z
  expect_eq "$(sort pairs | paste -sd' ')" "a-x a-y a-z b-x b-y b-z" "pairs"
  expect_json jobs_json 'count("succeeded")' 6
}

test_stdin() {
  TEST "seq 100 | muster run -- echo {} reads rows from stdin"
  seq 100 | expect_exit 0 muster run -j 4 -- echo {}
  expect_eq "$(sort -n <<<"$STDOUT" | paste -sd,)" "$(seq 100 | paste -sd,)" "stdout"
  expect_json jobs_json 'count("succeeded")' 100
}

test_stdin_dash() {
  TEST "--input - reads stdin"
  printf '%s\n' x y | expect_exit 0 muster run -i - -- echo {}
  expect_eq "$(sort <<<"$STDOUT" | paste -sd,)" "x,y" "stdout"
}

test_no_placeholder_appends() {
  TEST "a command without placeholders gets the value appended"
  local w
  w=$(make_argv_writer)
  expect_exit 0 muster run -q -- "$w" first --flag ::: 'v 1'
  argv_of 1
  expect_eq "${#ARGV[@]}" 3 "argc"
  expect_eq "${ARGV[0]}|${ARGV[1]}|${ARGV[2]}" "first|--flag|v 1"
  printf 'line one\n' | expect_exit 0 muster run -- echo
  expect_eq "$STDOUT" "line one" "stdout of 'echo' with a line appended"
}

test_placeholders_and_env() {
  TEST "{job} {slot} {attempt} {run} and the MUSTER_* variables"
  cat >job.sh <<'EOF'
#!/bin/sh
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" \
  "$MUSTER_JOB_ID" "$MUSTER_SLOT" "$MUSTER_ATTEMPT" "$MUSTER_RUN_ID" "$6" >"$MUSTER_JOB_ID.info"
EOF
  chmod +x job.sh
  printf 'id,val\nk1,v1\nk2,v2\nk3,v3\n' >in.csv
  expect_exit 0 muster run -q -j 2 --id-column id -i in.csv -- ./job.sh {val} {job} {slot} {attempt} {run} '{1}'
  local run id
  run=$(last_run_id)
  expect_ne "$run" "" "run id"
  for id in k1 k2 k3; do
    expect_file_exists "$id.info"
    IFS='|' read -r val job slot attempt prun ejob eslot eattempt erun first <"$id.info"
    expect_eq "$val" "v${id#k}" "{val} of $id"
    expect_eq "$job" "$id" "{job} of $id"
    expect_eq "$ejob" "$id" "MUSTER_JOB_ID of $id"
    expect_match "$slot" '^[01]$' "{slot} of $id (slots are 0..j-1)"
    expect_eq "$eslot" "$slot" "MUSTER_SLOT of $id"
    expect_json jobs_json "job('$id')['slot']" "$slot" "recorded slot of $id"
    expect_eq "$attempt" 1 "{attempt} of $id"
    expect_eq "$eattempt" 1 "MUSTER_ATTEMPT of $id"
    expect_eq "$prun" "$run" "{run} of $id"
    expect_eq "$erun" "$run" "MUSTER_RUN_ID of $id"
    expect_eq "$first" "$id" "{1} of $id"
  done
}

test_whole_csv_row() {
  TEST "{} of a CSV row is the whole row"
  printf 'a,b\n1,two\n' >in.csv
  expect_exit 0 muster run -i in.csv -- echo {}
  expect_eq "$STDOUT" "1,two"
}

test_id_column() {
  TEST "--id-column gives jobs stable ids"
  printf 'sku,qty\nabc-1,3\nxyz-9,4\n' >in.csv
  expect_exit 0 muster run -q --id-column sku -i in.csv -- sh -c 'echo "$MUSTER_JOB_ID={qty}" >>ids'
  expect_json jobs_json 'each("id")' "abc-1 xyz-9"
  expect_eq "$(sort ids | paste -sd' ')" "abc-1=3 xyz-9=4" "MUSTER_JOB_ID of the jobs"
  expect_exit 0 muster logs "$(last_run_id)" abc-1
}

test_key_recorded() {
  TEST "--key is rendered per job and recorded"
  printf 'account,video\nalice,a.mp4\nbob,b.mp4\n' >in.csv
  expect_exit 0 muster run -q --key 'acct-{account}' -i in.csv -- true
  expect_json jobs_json 'each("key")' "acct-alice acct-bob"
  expect_exit 0 muster export "$(last_run_id)" --format csv
  expect_contains "$STDOUT" "acct-alice" "export"
}

test_stdin_is_dev_null() {
  TEST "a job's stdin is /dev/null, not muster's stdin"
  echo secret-input | expect_exit 0 muster run -q -j 2 -- sh -c 'cat >"got.$1"; readlink /proc/self/fd/0 >"fd0.$1"' sh {} ::: 1 2
  expect_file_content got.1 ""
  expect_file_content got.2 ""
  expect_file_content fd0.1 /dev/null
}

test_exit_codes() {
  TEST "exit 0 when all succeed, 1 when some fail"
  expect_exit 0 muster run -q -- sh -c 'exit "$0"' ::: 0 0
  expect_exit 1 muster run -q -- sh -c 'exit "$0"' ::: 0 1 0 5
  local run
  run=$(last_run_id)
  expect_json "jobs_json $run" 'each("state", "exit_code")' "succeeded:0 failed:1 succeeded:0 failed:5"
  expect_json "run_json $run" 'j["state"]' completed "run state"
  expect_exit 1 muster run -q -- /nonexistent/program ::: 1
  expect_json jobs_json 'j[-1]["state"]' failed "a command that cannot start"
}

test_failed_output_tail_shown() {
  TEST "a failed job's output is printed under a header naming it"
  expect_exit 1 muster run -- sh -c 'echo "out-$0"; echo "err-$0" >&2; [ "$0" != bad ]' ::: good bad
  expect_contains "$STDERR" "err-bad" "muster's stderr"
  expect_contains "$STDERR" "2" "muster's stderr names the failed job"
  expect_contains "$STDERR" "err-good" "muster's stderr (a succeeded job's stderr passes too)"
  expect_match "$STDERR" "failed: exited with code 1 .*"$'\n'"err-bad" "the failed job's stderr follows its header"
}

test_summary_and_quiet() {
  TEST "a summary line on stderr; -q silences it"
  expect_exit 0 muster run -- true ::: 1 2 3
  expect_match "$STDERR" "3" "summary"
  expect_ne "$STDERR" "" "stderr without -q"
  expect_exit 0 muster run -q -- true ::: 1 2 3
  expect_eq "$STDERR" "" "stderr with -q"
  expect_exit 0 muster run -q --no-stdout -- echo hello ::: 1
  expect_eq "$STDOUT" "" "stdout with --no-stdout"
}

test_output_files() {
  TEST "job output is kept under STORE/runs/RUN/out"
  expect_exit 0 muster run -q -- sh -c 'echo "o$0"; echo "e$0" >&2' ::: 1 2
  local run
  run=$(last_run_id)
  expect_file_content ".muster/runs/$run/out/1.out" o1
  expect_file_content ".muster/runs/$run/out/2.err" e2
  expect_exit 0 muster run -q -- true ::: 1
  expect_no_file ".muster/runs/$(last_run_id)/out/1.out"
}

test_store_location() {
  TEST "--store and MUSTER_STORE choose the store"
  expect_exit 0 muster --store st1 run -q -- true ::: 1
  expect_file_exists st1/muster.db
  expect_no_file .muster
  MUSTER_STORE=st2 expect_exit 0 muster run -q -- true ::: 1
  expect_file_exists st2/muster.db
  expect_no_file .muster
  MUSTER_STORE=st2 expect_exit 0 muster list --json
  expect_eq "$(json_eval .last.out 'len(j)')" 1 "runs in st2"
  expect_exit 0 muster --store st1 list --json
  expect_eq "$(json_eval .last.out 'len(j)')" 1 "runs in st1"
}

test_json_views() {
  TEST "status, list and jobs --json"
  printf 'a\nb\nc\n' >in.txt
  expect_exit 1 muster run -q --name views -i in.txt -- sh -c '[ "$0" != b ]'
  local run
  run=$(last_run_id)
  expect_exit 0 muster list --json
  cp .last.out list.json
  expect_eq "$(json_eval list.json 'type(j).__name__')" list "list --json is an array"
  expect_eq "$(json_eval list.json 'len(j)')" 1 "runs listed"
  expect_eq "$(json_eval list.json 'j[0]["id"]')" "$run" "id"
  expect_eq "$(json_eval list.json 'j[0]["name"]')" views "name"
  expect_eq "$(json_eval list.json 'j[0]["state"]')" completed "state"
  expect_eq "$(json_eval list.json 'j[0]["total"]')" 3 "total"
  expect_eq "$(json_eval list.json 'j[0]["counts"]["succeeded"]')" 2 "counts.succeeded"
  expect_eq "$(json_eval list.json 'j[0]["counts"]["failed"]')" 1 "counts.failed"
  expect_eq "$(json_eval list.json 'sorted(k for k, v in j[0]["counts"].items() if not isinstance(v, int))')" "[]" \
    "counts maps states to numbers"
  for r in "$run" views "${run:0:4}"; do
    expect_exit 0 muster status "$r" --json
    cp .last.out status.json
    expect_eq "$(json_eval status.json 'type(j).__name__')" dict "status --json is an object"
    expect_eq "$(json_eval status.json '[j["id"], j["name"], j["state"], j["total"], j["counts"]["succeeded"], j["counts"]["failed"]]')" \
      "[\"$run\", \"views\", \"completed\", 3, 2, 1]" "status --json of '$r'"
  done
  expect_exit 0 muster status --json
  expect_eq "$(json_eval .last.out 'j["id"]')" "$run" "status without RUN shows the latest run"
  expect_exit 0 muster status "$run"
  expect_contains "$STDOUT" "$run" "status text"
  expect_exit 0 muster jobs "$run" --json
  cp .last.out jobs.json
  expect_eq "$(json_eval jobs.json '[x["id"] for x in j]')" '["1", "2", "3"]' "jobs --json ids"
  expect_eq "$(json_eval jobs.json '[x["state"] for x in j]')" '["succeeded", "failed", "succeeded"]' "jobs --json states"
  expect_eq "$(json_eval jobs.json 'j[1]["exit_code"]')" 1 "exit_code of the failed job"
  expect_eq "$(json_eval jobs.json 'j[1]["attempts"]')" 1 "attempts"
  expect_exit 0 muster jobs "$run" --state failed --json
  expect_eq "$(json_eval .last.out '[x["id"] for x in j]')" '["2"]' "jobs --state failed"
  expect_exit 0 muster jobs "$run"
  expect_contains "$STDOUT" "failed" "jobs table"
  expect_exit 0 muster list
  expect_contains "$STDOUT" "$run" "list table"
}

test_unknown_run() {
  TEST "an unknown run is an error"
  expect_exit 0 muster run -q -- true ::: 1
  expect_exit 2 muster status nosuchrun
  expect_exit 2 muster resume nosuchrun
}

test_logs() {
  TEST "muster logs prints a job's output"
  expect_exit 0 muster run -q --no-stdout -- sh -c 'printf "line1\nline2-%s\n" "$0"; echo "to-stderr-$0" >&2' ::: a b
  local run
  run=$(last_run_id)
  expect_exit 0 muster logs "$run" 2 --stdout
  expect_eq "$STDOUT" $'line1\nline2-b' "logs --stdout of job 2"
  expect_exit 0 muster logs "$run" 2 --stderr
  expect_contains "$STDOUT$STDERR" "to-stderr-b" "logs --stderr of job 2"
  expect_not_contains "$STDOUT$STDERR" "line1" "logs --stderr of job 2"
  expect_exit 0 muster logs "$run" 1
  expect_contains "$STDOUT" "line2-a" "logs of job 1"
  expect_contains "$STDOUT$STDERR" "to-stderr-a" "logs of job 1"
  expect_exit 2 muster logs "$run" 99
}

test_export_csv() {
  TEST "export csv: the input columns, then the job's, named as in jobs --json"
  printf 'account,video\nalice,"a,1.mp4"\nbob,b.mp4\n' >in.csv
  expect_exit 1 muster run -q --key '{account}' -i in.csv -- sh -c '[ "$0" = alice ]' {account}
  local run
  run=$(last_run_id)
  expect_exit 0 muster export "$run" --format csv -o out.csv
  expect_eq "$(head -1 out.csv | tr -d '\r')" \
    "account,video,id,key,state,attempts,max_attempts,exit_code,signal,error_type,error,slot,started_at,finished_at,retry_at" \
    "header"
  expect_eq "$(wc -l <out.csv)" 3 "lines"
  python3 - out.csv >parsed.txt <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for r in rows:
    print("|".join([r["account"], r["video"], r["id"], r["key"], r["state"], r["attempts"], r["max_attempts"], r["exit_code"]]))
EOF
  expect_eq "$(cat parsed.txt)" $'alice|a,1.mp4|1|alice|succeeded|1|1|0\nbob|b.mp4|2|bob|failed|1|1|1' "rows"
  expect_exit 0 muster export "$run" --columns video,state,exit_code
  expect_eq "$STDOUT" $'video,state,exit_code\n"a,1.mp4",succeeded,0\nb.mp4,failed,1' "--columns"
  expect_exit 2 muster export "$run" --columns account,nope
  expect_contains "$STDERR" "--columns: no column 'nope'" "an unknown column"
  # An input field named like a job column keeps its place as input.NAME.
  printf 'id,job_id\nx1,j1\n' >seed.csv
  expect_exit 0 muster run -q --name seed -i seed.csv -- true {job_id}
  expect_exit 0 muster export seed
  expect_eq "$(head -1 <<<"$STDOUT")" "input.id,job_id,id,key,state,attempts,max_attempts,exit_code,signal,error_type,error,slot,started_at,finished_at,retry_at" "no two columns share a name"
  expect_exit 0 muster export "$run" --format jsonl
  expect_eq "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] + ":" + json.loads(l)["state"] for l in sys.stdin))' <.last.out)" \
    "1:succeeded 2:failed" "jsonl export"
}

test_export_joblog() {
  TEST "export joblog has GNU parallel's header"
  expect_exit 1 muster run -q -- sh -c 'echo hi; exit "$0"' ::: 0 3
  expect_exit 0 muster export "$(last_run_id)" --format joblog
  expect_eq "$(head -1 .last.out)" $'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand' "header"
  expect_eq "$(wc -l <.last.out)" 3 "lines"
  expect_eq "$(awk -F'\t' 'NR > 1 { print $1 ":" $7 ":" $8 }' .last.out | paste -sd' ')" "1:0:0 2:3:0" "Seq:Exitval:Signal"
}

test_seed_only_then_resume() {
  TEST "--seed-only creates the run and runs nothing; resume runs it"
  expect_exit 0 muster run --seed-only -- touch {} ::: a b c
  local run=$STDOUT
  expect_match "$run" '^[0-9a-z]+$' "printed run id"
  expect_json "jobs_json $run" 'count("pending")' 3
  expect_no_file a
  expect_exit 0 muster resume "$run" -q
  expect_file_exists a
  expect_file_exists c
  expect_json jobs_json 'count("succeeded")' 3
  expect_exit 0 muster resume "$run" -q
  expect_json jobs_json 'sum(x["attempts"] for x in j)' 3 "a completed run's jobs do not run again"
}

test_name_reruns_resume() {
  TEST "muster run --name N on an existing run resumes it"
  expect_exit 0 muster run --seed-only --name nightly -- touch {} ::: a b
  expect_no_file a
  expect_exit 0 muster run -q --name nightly -- touch {} ::: a b
  expect_file_exists a
  expect_file_exists b
  expect_json runs_json 'len(j)' 1
  expect_exit 2 muster run -q --name nightly -- rm {} ::: a b
  expect_file_exists a
}

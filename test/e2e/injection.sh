# End to end: values reach jobs literally; no shell injection (invariant 4).

# The hostile values, one per line (and as ::: arguments).
hostile_values() {
  printf '%s\n' \
    '; touch pwned' \
    '$(touch pwned)' \
    '`touch pwned`' \
    "'; touch pwned; '" \
    '"; touch pwned; "' \
    '| touch pwned' \
    '&& touch pwned' \
    '$((1+1)) ${HOME} $MUSTER_JOB_ID * ?' \
    '\$(touch pwned)\'
}

# check_literal: job i's first argv entry is line i of values.txt, alone.
check_literal() {
  check_literal_in "" ""
  expect_eq "$(wc -l <values.txt)" "$(hostile_values | wc -l)" "values checked"
}

test_plain_lines() {
  TEST "hostile values from a lines file reach the job literally (no --shell)"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 -i values.txt -- "$w" {}
  check_literal
}

test_plain_args() {
  TEST "hostile ::: values reach the job literally (no --shell)"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  local -a vals
  mapfile -t vals <values.txt
  expect_exit 0 muster run -q -j 4 -- "$w" {} ::: "${vals[@]}"
  check_literal
}

test_plain_appended() {
  TEST "hostile values appended to a command without placeholders (no --shell)"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 -i values.txt -- "$w"
  check_literal
}

test_plain_csv_field() {
  TEST "hostile CSV fields, embedded in a longer word (no --shell)"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  python3 - <<'EOF'
import csv
with open("values.txt") as f, open("in.csv", "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["v"])
    for line in f:
        w.writerow([line.rstrip("\n")])
EOF
  expect_exit 0 muster run -q -j 4 -i in.csv -- "$w" "x={v}="
  local i=0 v
  while IFS= read -r v; do
    i=$((i + 1))
    argv_of "$i"
    expect_eq "${#ARGV[@]}" 1 "argc of job $i"
    expect_eq "${ARGV[0]}" "x=$v=" "argv of job $i"
  done <values.txt
  expect_no_file pwned
}

test_shell_lines() {
  TEST "hostile values are quoted for sh with --shell"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 --shell -i values.txt -- "$w" {}
  check_literal
}

test_shell_script_word() {
  TEST "--shell with a one-word script: values stay one word"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 --shell -i values.txt -- "$w {} && true"
  check_literal
}

test_shell_args() {
  TEST "--shell with hostile ::: values"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  local -a vals
  mapfile -t vals <values.txt
  expect_exit 0 muster run -q -j 4 --shell -- "$w" {} ::: "${vals[@]}"
  check_literal
}

test_shell_appended() {
  TEST "--shell, no placeholder: the appended value is quoted"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 --shell -i values.txt -- "$w"
  check_literal
}

test_shell_jsonl() {
  TEST "--shell with hostile JSON Lines fields"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  python3 -c '
import json
with open("values.txt") as f, open("in.jsonl", "w") as out:
    for line in f:
        out.write(json.dumps({"v": line.rstrip("\n")}) + "\n")
'
  expect_exit 0 muster run -q -j 4 --shell -i in.jsonl -- "$w" {v}
  check_literal
}

# check_literal_in PRE POST: job i's only argv entry is PRE, line i, POST.
check_literal_in() {
  local i=0 v
  while IFS= read -r v; do
    i=$((i + 1))
    argv_of "$i"
    expect_eq "${#ARGV[@]}" 1 "argc of job $i (value: $v)"
    expect_eq "${ARGV[0]}" "$1$v$2" "argv of job $i"
  done <values.txt
  expect_no_file pwned
  expect_eq "$(find "$T" -name pwned)" "" "files named pwned"
}

test_shell_placeholders_inside_quotes() {
  TEST "--shell: a placeholder inside '...', \"...\" or \$(...) is quoted for where it sits"
  local w
  w=$(make_argv_writer)
  hostile_values >values.txt
  expect_exit 0 muster run -q -j 4 --name dq --shell -i values.txt -- "$w \"{}\""
  check_literal_in "" ""
  expect_exit 0 muster run -q -j 4 --name dq2 --shell -i values.txt -- "$w \"<{} \$HOME-free>\""
  check_literal_in "<" " $HOME-free>"
  expect_exit 0 muster run -q -j 4 --name sq --shell -i values.txt -- "$w 'a {} b'"
  check_literal_in "a " " b"
  expect_exit 0 muster run -q -j 4 --name sub --shell -i values.txt -- "$w \"\$(printf %s {})\""
  check_literal_in "" ""
}

test_shell_placeholders_that_cannot_be_quoted_are_refused() {
  TEST "--shell: a placeholder in backquotes or \${...} is refused before anything runs, with the fix"
  expect_exit 2 muster run -q --shell -- 'echo `echo {}`' ::: '$(touch pwned)'
  expect_contains "$STDERR" 'v={}; ... "$v"' "the fix"
  expect_exit 2 muster run -q --shell -- 'echo "{}' ::: x
  expect_contains "$STDERR" "not closed" "an open quote"
  expect_no_file pwned
  expect_no_file .muster
}

test_shell_is_a_shell() {
  TEST "--shell does run the command through sh"
  expect_exit 0 muster run -q --shell -- 'echo {} >out.$MUSTER_JOB_ID; test -n "$MUSTER_RUN_ID"' ::: 'a b'
  expect_file_content out.1 "a b"
  expect_exit 1 muster run -q -- 'echo {} >out2' ::: x
  expect_no_file out2
}

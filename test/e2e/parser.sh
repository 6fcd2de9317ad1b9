# End to end: the command line as a GNU parallel or xargs user types it.

test_repeated_options_do_not_eat_the_command() {
  TEST "-i FILE and --lock NAME take one value each and leave the command"
  seq 3 >in.txt
  expect_exit 0 muster run -q -j1 -i in.txt echo {}
  expect_eq "$STDOUT" $'1\n2\n3' "run -i in.txt echo {}"
  expect_exit 0 muster run -q --lock L1 echo hi ::: x
  expect_eq "$STDOUT" "hi x" "run --lock L1 echo hi ::: x"
  seq 4 5 >more.txt
  expect_exit 0 muster run -q -j1 -i in.txt -i more.txt echo {}
  expect_eq "$STDOUT" $'1\n2\n3\n4\n5' "two -i"
}

test_options_are_read_only_before_the_command() {
  TEST "no word of the command or of its ::: values is read as muster's option (--store, -h, --version, --help)"
  expect_exit 0 muster run -q -j1 -- echo {} ::: a --store other b
  expect_eq "$STDOUT" $'a\n--store\nother\nb' "a ::: value that looks like --store"
  expect_no_file other
  expect_json jobs_json 'len(j)' 4 "jobs, all in this directory's store"
  printf 'foo\n' >f1
  expect_exit 0 muster run -q -- grep -h foo {} ::: f1
  expect_eq "$STDOUT" "foo" "grep -h in the command"
  expect_exit 0 muster run -q -- echo --version ::: x
  expect_eq "$STDOUT" "--version x" "--version in the command"
  expect_exit 0 muster run -q echo --store=X {} ::: y
  expect_eq "$STDOUT" "--store=X y" "--store=X in the command, with no --"
  expect_no_file X
  expect_exit 0 muster run -q echo --help ::: z
  expect_eq "$STDOUT" "--help z" "--help in the command"
  expect_exit 0 muster validate -q -- echo -h {} ::: a
  # Options before the command still count, clustered or with their value.
  expect_exit 0 muster run -qj1 -i f1 -- echo -j {}
  expect_eq "$STDOUT" "-j foo" "-qj1 before the command"
  expect_exit 0 muster run -q --lock L1 --name locked echo hi ::: a
  expect_eq "$STDOUT" "hi a" "--lock with its value, then the command with no --"
  expect_exit 0 muster --store s2 run -q --name=n -j 1 -- echo {} ::: c
  expect_file_exists s2
  expect_exit 2 muster run -q --bogus -- echo {} ::: a
  expect_contains "$STDERR" "--bogus" "an unknown option before the command"
}

test_help_and_unknown_subcommands() {
  TEST "muster help CMD shows its help; an unknown subcommand gets a suggestion"
  expect_exit 0 muster help run
  expect_contains "$STDOUT" "Usage: muster run" "help run"
  expect_no_file .muster
  expect_exit 2 muster stats
  expect_contains "$STDERR" "unknown command 'stats'; did you mean 'status'?" "stats"
  expect_exit 2 muster --stor x list
  expect_contains "$STDERR" "did you mean '--store'?" "--stor"
  expect_exit 2 muster list --limt 3
  expect_contains "$STDERR" "did you mean '--limit'?" "list --limt"
}

test_parallel_input_groups() {
  TEST ":::: FILE reads a group from a file; :::+ links a group to the one before"
  printf 'a\nb\n' >vals.txt
  expect_exit 0 muster run -q -j1 -- echo {} :::: vals.txt
  expect_eq "$STDOUT" $'a\nb' ":::: vals.txt"
  expect_exit 0 muster run -q -j1 -- echo {1} {2} ::: x y :::+ 1 2
  expect_eq "$STDOUT" $'x 1\ny 2' ":::+"
  expect_exit 0 muster run -q -j1 -- echo {1} {2} ::: x y :::: vals.txt
  expect_eq "$STDOUT" $'x a\nx b\ny a\ny b' "::: crossed with ::::"
  expect_exit 2 muster run -q -- echo {} :::: missing.txt
  expect_contains "$STDERR" "missing.txt" "a missing :::: file is named"
  expect_exit 2 muster run ::: a b -- echo {}
  expect_contains "$STDERR" "the command goes first" "values before the command"
}

test_parallel_and_xargs_habits_get_hints() {
  TEST "-P, --joblog and --resume say what to use instead"
  expect_exit 2 muster run -P 2 echo ::: a
  expect_contains "$STDERR" "use -j" "-P"
  expect_exit 2 muster run --joblog j.txt echo ::: a
  expect_contains "$STDERR" "muster export RUN --format joblog" "--joblog"
  expect_exit 2 muster run --resume echo ::: a
  expect_contains "$STDERR" "muster resume" "--resume"
  expect_exit 2 muster run --retri 2 echo ::: a
  expect_contains "$STDERR" "did you mean --retries?" "--retri"
  expect_no_file .muster
}

test_dry_run_prints_the_commands_and_creates_nothing() {
  TEST "--dry-run prints each argv (shell-quoted, or JSON) and writes nothing"
  expect_exit 0 muster run --dry-run -- echo {} ::: "a b" "it's"
  expect_eq "$STDOUT" "echo 'a b'"$'\n'"echo 'it'\\''s'" "--dry-run"
  expect_exit 0 muster run --dry-run --json -- sh -c 'x' ::: "a b"
  expect_eq "$STDOUT" '["sh","-c","x","a b"]' "--dry-run --json"
  expect_no_file .muster
}

test_parallel_replacement_strings_and_relative_slots() {
  TEST "{.} {/} {//} {/.} {#} {%} and -j +1, -j -1, -j 50%"
  expect_exit 0 muster run -q -j 1 -- echo {.} {/} {//} {/.} {#} {%} ::: in/a.b.mp4 c.txt
  expect_eq "$STDOUT" $'in/a.b a.b.mp4 in a.b 1 1\nc c.txt . c 2 1' "replacement strings"
  local cpus
  cpus=$(nproc)
  expect_exit 0 muster run -q -j +1 --json -- true ::: a
  expect_eq "$(json_eval .last.out 'j["slots"]')" $((cpus + 1)) "-j +1"
  expect_exit 0 muster run -q -j 50% -- true ::: a
  expect_exit 2 muster run -q -j x% -- true ::: a
  expect_contains "$STDERR" "expected N, +N, -N or N%" "a bad -j"
  expect_exit 0 muster help run
  expect_contains "$STDOUT" "Usage: muster run [OPTIONS] [--] COMMAND [ARG...] [::: VALUES...]" "run --help usage"
  expect_contains "$STDOUT" "{#}" "run --help lists the placeholders"
}

test_bash_completion_and_man_page() {
  TEST "the bash completion completes a subcommand, a flag and a run name; man -l renders muster(1)"
  muster completions bash >muster.bash || fail "completions bash failed"
  expect_exit 0 muster run -q --name nightly -- true ::: a
  local got
  got=$(bash -c '
    source ./muster.bash
    muster() { "$MUSTER_BIN" "$@"; }
    complete -p muster
    COMP_WORDS=(muster sta); COMP_CWORD=1; _muster; echo "sub: ${COMPREPLY[*]}"
    COMP_WORDS=(muster run --no-std); COMP_CWORD=2; _muster; echo "flag: ${COMPREPLY[*]}"
    COMP_WORDS=(muster status nig); COMP_CWORD=2; _muster; echo "run: ${COMPREPLY[*]}"
    COMP_WORDS=(muster logs nightly ""); COMP_CWORD=3; _muster; echo "job: ${COMPREPLY[*]}"
  ' 2>&1)
  expect_contains "$got" "complete -F _muster muster" "complete -p"
  expect_contains "$got" "sub: status" "a subcommand"
  expect_contains "$got" "flag: --no-stdout --no-stderr" "a flag"
  expect_contains "$got" "run: nightly" "a run name"
  expect_contains "$got" "job: 1" "a job id"
  muster completions fish >muster.fish || fail "completions fish failed"
  expect_contains "$(cat muster.fish)" "complete -c muster" "the fish script"
  muster man >muster.1 || fail "muster man failed"
  if command -v man >/dev/null; then
    local page
    page=$(MANWIDTH=100 man -l muster.1 2>&1)
    expect_contains "$page" "run batches of jobs" "man -l muster.1"
    expect_contains "$page" "--keep-order" "the page lists run's flags"
    expect_contains "$page" "EXIT STATUS" "the page has the exit codes"
  else
    expect_contains "$(cat muster.1)" ".TH MUSTER 1" "the roff page"
  fi
}

test_exit_code_count_and_rerun_messages() {
  TEST "--exit-code count gives the failed count; run --name again says what runs and refuses changed settings"
  expect_exit 2 muster run -q --name e --exit-code count -- sh -c 'exit $1' sh ::: 0 1 2
  expect_exit 0 muster run -q --exit-code count -- true ::: a
  expect_exit 1 muster run --name r -- sh -c '[ $1 != 2 ]' sh ::: 1 2
  expect_exit 1 muster run --name r -- sh -c '[ $1 != 2 ]' sh ::: 1 2
  expect_contains "$STDERR" "1 that failed or were interrupted will not (\`muster retry r\` runs them again)" "what a re-run says"
  expect_exit 2 muster run --name r --on-interrupt hold -- sh -c '[ $1 != 2 ]' sh ::: 1 2
  expect_contains "$STDERR" "--on-interrupt hold (was requeue)" "a setting that is not safe to change is refused"
}

test_rerun_applies_new_retries_and_timeout() {
  TEST "run --name again with new --retries or --timeout applies them to what runs next, and retry uses the new budget"
  # --retries: the job left pending gets the new budget.
  expect_exit 0 muster run -q --seed-only --name r -- sh -c 'echo x >>"tries-$1"; exit 1' sh ::: a
  expect_exit 1 muster run --name r --retries 3 --backoff 10ms -- sh -c 'echo x >>"tries-$1"; exit 1' sh ::: a
  expect_contains "$STDERR" "takes the new --backoff 10ms (was 1.0s), --retries 3 (was 1) from its next job" "what a re-run applies"
  expect_eq "$(wc -l <tries-a)" 3 "attempts under the new --retries"
  expect_json 'jobs_json r' 'j[0]["max_attempts"]' 3 "the job's budget"
  # A failed job stays failed on a re-run; `retry` then gives it the run's new budget.
  expect_exit 1 muster run -q --name r --retries 2 --backoff 10ms -- sh -c 'echo x >>"tries-$1"; exit 1' sh ::: a
  expect_eq "$(wc -l <tries-a)" 3 "a failed job does not run on a re-run"
  expect_exit 0 muster retry -q r
  expect_eq "$STDOUT" "" "retry -q says nothing"
  expect_exit 1 muster resume -q r
  expect_eq "$(wc -l <tries-a)" 5 "attempts after retry under the new --retries 2"
  # --timeout: a job that would run 30 s is stopped after the new timeout.
  local m
  m=$(marker 30)
  expect_exit 0 muster run -q --seed-only --name t -- sleep "$m" ::: 1
  expect_exit 1 muster run -q --name t --timeout 300ms --kill-grace 100ms -- sleep "$m" ::: 1
  expect_json 'jobs_json t' 'j[0]["error"]' "timed out after 0.3s" "the new timeout stopped the job"
  # --seed-only applies them at once, and `resume` runs with them.
  expect_exit 0 muster run -q --seed-only --name s -- sleep "$m" ::: 1
  expect_exit 0 muster run -q --seed-only --name s --timeout 200ms -- sleep "$m" ::: 1
  expect_exit 1 muster resume -q s
  expect_json 'jobs_json s' 'j[0]["error"]' "timed out after 0.2s" "resume used the new timeout"
}

test_names_that_would_mislead_are_refused() {
  TEST "an empty --name, or one that is another run's id, is refused"
  expect_exit 2 muster run -q --name '' -- true ::: a
  expect_contains "$STDERR" "--name: expected a name" "an empty name"
  expect_exit 0 muster run -q -- true ::: a
  local id
  id=$(last_run_id)
  expect_exit 2 muster run -q --name "$id" -- true ::: b
  expect_contains "$STDERR" "that is the id of run $id" "a name that is another run's id"
  expect_json runs_json 'len(j)' 1 "runs"
  expect_exit 0 muster run -q --name "${id:0:1}" -- true ::: c
  expect_json runs_json 'len(j)' 2 "runs (a short name that starts an id is fine)"
}

test_notices_on_a_terminal() {
  TEST "on a terminal: the new store, an appended {}, a picked-up muster.toml and rows read from the terminal are announced"
  command -v script >/dev/null || return 0
  printf 'retries = 2\n' >muster.toml
  local out
  out=$(script -qec "'$MUSTER_BIN' run -- true ::: a" /dev/null 2>&1)
  expect_contains "$out" "created the store in .muster" "the first store"
  expect_contains "$out" "the command has no placeholder" "the appended {}"
  expect_contains "$out" "using muster.toml from this directory" "the config file"
  out=$(script -qec "'$MUSTER_BIN' run -- true {} </dev/null" /dev/null 2>&1 </dev/null)
  expect_not_contains "$out" "created the store" "the second run"
  out=$(printf '' | script -qec "timeout 5 '$MUSTER_BIN' validate -- echo {}" /dev/null 2>&1)
  expect_contains "$out" "reading rows from the terminal" "rows from the terminal"
  expect_exit 0 muster run -- true ::: a
  expect_not_contains "$STDERR" "has no placeholder" "no notice off a terminal"
}

test_parser_messages_name_the_flag_and_what_was_expected() {
  TEST "CLI11's own words never reach the user: each message names the flag and what it expects"
  expect_exit 2 muster run --jobs abc -- echo ::: a
  expect_eq "$STDERR" "muster run: --jobs: expected a whole number from 1 to 100000 (got 'abc') (see muster run --help)" "--jobs abc"
  expect_exit 2 muster logs
  expect_eq "$STDERR" "muster logs: missing RUN: run id, id prefix or name (see muster logs --help)" "logs with no run"
  expect_exit 2 muster export x --format yaml
  expect_contains "$STDERR" "--format: expected one of csv, jsonl, joblog (got 'yaml')" "export --format yaml"
  expect_exit 2 muster run --jobs
  expect_contains "$STDERR" "--jobs: expected a value after it" "--jobs with no value"
  expect_not_contains "$STDERR" "Run with --help" "CLI11's hint"
  expect_no_file .muster
}

test_each_help_lists_its_own_exit_codes() {
  TEST "list --help shows no run codes; cancel --help explains 1; validate --help has no --seed-only"
  expect_exit 0 muster list --help
  expect_contains "$STDOUT" "Exit codes:" "list --help"
  expect_not_contains "$STDOUT" "  3    " "list cannot return 3"
  expect_not_contains "$STDOUT" "  141  " "list cannot return 141"
  expect_exit 0 muster run --help
  expect_contains "$STDOUT" "  141  " "run returns 141"
  expect_exit 0 muster cancel --help
  expect_contains "$STDOUT" "you answered no at the prompt" "cancel's 1"
  expect_exit 0 muster validate --help
  expect_not_contains "$STDOUT" "--seed-only" "validate --help"
  expect_exit 0 muster run -q -- true ::: a
  expect_exit 0 muster stop-all
  expect_contains "$STDERR" "nothing to stop" "stop-all with nothing to stop"
}

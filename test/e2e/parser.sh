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

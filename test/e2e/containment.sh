# End to end: nothing a job starts outlives it, even a process that leaves
# its group (setsid) or daemonises (a double fork): in a cgroup of its own
# where this host allows it, else by process groups and the subreaper.

# The modes to test: cgroup where this host allows it, process groups always.
containment_modes() {
  if "$MUSTER_BIN" doctor --json | grep -q '"containment": "cgroup"'; then
    echo cgroup
  else
    echo "  note: no cgroup mode here: $("$MUSTER_BIN" doctor)" >&2
  fi
  echo process
}

# escaping MARKER REST: a --shell script that leaves two sleeps behind, one in
# a session of its own and one daemonised by a double fork, then runs REST.
escaping() {
  echo "setsid sleep $1 & (setsid sh -c 'sleep $1' &); $2"
}

# expect_gone MARKER WHAT: no `sleep MARKER` runs (within 3 s).
expect_gone() {
  wait_until 3 marker_gone "$1" ||
    fail "$2: $(marker_pids "$1" | wc -l) process(es) escaped: $(marker_pids "$1" | tr '\n' ' ')"
}

# expect_started MARKER: both sleeps of `escaping MARKER` run (within 5 s).
expect_started() {
  wait_until 5 sh -c "[ \$(pgrep -fc '^sleep $1\$') -ge 2 ]" ||
    fail "the job's two sleeps did not start: $(pgrep -fc "^sleep $1\$") of 2"
}

test_doctor_says_which_mode_is_in_force() {
  TEST "muster doctor says whether jobs run in cgroups, and why not when they do not"
  expect_exit 0 env MUSTER_CONTAINMENT=process "$MUSTER_BIN" doctor
  expect_contains "$STDOUT" "process groups (weaker): MUSTER_CONTAINMENT=process" "the weaker mode"
  expect_exit 0 muster doctor --json
  expect_json 'muster_store doctor --json' '"ok" if j["containment"] in ("cgroup", "process-group") else j' ok "the mode"
}

test_nothing_escapes_when_a_job_ends() {
  TEST "a job's setsid and double-forked children die when it exits"
  local mode m
  for mode in $(containment_modes); do
    m=$(marker 300)
    MUSTER_CONTAINMENT=$mode expect_exit 0 muster run -q --name "end-$mode" --shell -- "$(escaping "$m" 'sleep 0.3')" ::: 1 2
    expect_gone "$m" "mode $mode, after a normal end"
  done
}

test_nothing_escapes_a_timeout() {
  TEST "a job's setsid and double-forked children die with it on a timeout"
  local mode m
  for mode in $(containment_modes); do
    m=$(marker 300)
    MUSTER_CONTAINMENT=$mode expect_exit 1 muster run -q --name "to-$mode" --timeout 1s --shell -- "$(escaping "$m" 'sleep 30')" ::: 1 2
    expect_gone "$m" "mode $mode, after a timeout"
  done
}

test_nothing_escapes_a_cancel() {
  TEST "a job's setsid and double-forked children die with it on a cancel"
  local mode m
  for mode in $(containment_modes); do
    m=$(marker 300)
    MUSTER_CONTAINMENT=$mode start_bg "c-$mode" muster run -q --name "c-$mode" --shell -- "$(escaping "$m" 'sleep 30')" ::: 1
    expect_started "$m"
    expect_exit 0 muster cancel "c-$mode" --force -q
    wait_bg "$BG_PID" 30
    expect_gone "$m" "mode $mode, after a cancel"
  done
}

test_nothing_escapes_when_muster_is_killed() {
  TEST "kill -9 of muster: the cgroup dies with it; without cgroups, resume kills what escaped"
  local mode m
  for mode in $(containment_modes); do
    m=$(marker 300)
    MUSTER_CONTAINMENT=$mode start_bg "k-$mode" muster run -q --name "k-$mode" --shell -- "$(escaping "$m" 'sleep 1')" ::: 1
    expect_started "$m"
    kill -9 "$BG_PID"
    wait_bg "$BG_PID" 10
    if [[ $mode == cgroup ]]; then
      expect_gone "$m" "mode cgroup, after kill -9 of muster"
      expect_eq "$(find /sys/fs/cgroup -maxdepth 3 -name "muster-$BG_PID" 2>/dev/null)" "" "the dead muster's cgroup"
    fi
    MUSTER_CONTAINMENT=$mode expect_exit 0 muster resume -q "k-$mode"
    expect_gone "$m" "mode $mode, after kill -9 of muster and a resume"
  done
}

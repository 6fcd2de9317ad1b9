# End to end: a store that cannot be used ends the command with exit 5 and a
# message that says what happened and what to do; bad flags still exit 2.
# The read-only and full-disk cases mount a tmpfs (can_mount, mount_tmpfs in
# run), so they need root.

# A store with one finished run in the test directory.
make_store() {
  expect_exit 0 muster run -q -- true ::: 1 2
}

test_corrupt_store() {
  TEST "a corrupt store: status and run exit 5 and say the file is damaged"
  make_store
  rm -f .muster/muster.db-wal .muster/muster.db-shm
  head -c 65536 /dev/urandom >.muster/muster.db
  expect_exit 5 muster status
  expect_contains "$STDERR" ".muster/muster.db" "message names the file"
  expect_contains "$STDERR" "damaged" "message says what happened"
  expect_contains "$STDERR" "backup" "message says what to do"
  expect_exit 5 muster run -q -- touch touched ::: 1
  expect_contains "$STDERR" "damaged" "message of run"
  expect_no_file touched
}

test_not_a_database() {
  TEST "a text file in place of the store: exit 5, not a usage error"
  mkdir .muster
  printf 'id,name\n1,a\n' >.muster/muster.db
  expect_exit 5 muster status
  expect_contains "$STDERR" "not a muster store" "message"
}

test_bad_flags_still_exit_2() {
  TEST "bad flags exit 2, with or without a usable store"
  expect_exit 2 muster run --jobs notanumber -- true ::: 1
  expect_no_file .muster
  expect_exit 2 muster run --no-such-flag -- true ::: 1
  expect_no_file .muster
  make_store
  rm -f .muster/muster.db-wal .muster/muster.db-shm
  head -c 65536 /dev/urandom >.muster/muster.db
  expect_exit 2 muster run --jobs notanumber -- true ::: 1
  expect_exit 2 muster status --no-such-flag
}

test_read_only_store() {
  TEST "a store on a read-only filesystem: run exits 5 and says it cannot be written"
  can_mount || return 0
  mount_tmpfs mnt 4m || return 0
  cd mnt || fail "cd mnt"
  make_store
  mount -o remount,ro "$E2E_MOUNT" || fail "remount read-only failed"
  expect_exit 5 muster run -q -- touch ../touched ::: 1
  expect_contains "$STDERR" "cannot be written" "message says what happened"
  expect_contains "$STDERR" "read-only" "message says why"
  expect_no_file ../touched
  run_cmd muster status
  if [[ $STATUS != 0 && $STATUS != 5 ]]; then
    fail "status of a read-only store: expected 0 (read) or 5, got $STATUS"
  fi
  cd .. || fail "cd .."
  unmount_tmpfs
}

test_store_directory_cannot_be_created() {
  TEST "the store directory cannot be created: exit 5 and the message says why"
  can_mount || return 0
  mount_tmpfs ro 1m || return 0
  mount -o remount,ro "$E2E_MOUNT" || fail "remount read-only failed"
  expect_exit 5 muster --store ro/store run -q -- touch touched ::: 1
  expect_contains "$STDERR" "ro/store" "message names the directory"
  expect_contains "$STDERR" "Read-only file system" "message says why"
  expect_no_file touched
  unmount_tmpfs
}

test_full_disk() {
  TEST "a full disk: run and add exit 5, say the disk is full, and change nothing"
  can_mount || return 0
  # Rows of 2 KB: 3000 of them do not fit in 2 MB.
  python3 -c '
pad = "x" * 2048
print("id,payload")
for i in range(3000):
    print(f"{i},{pad}")' >big.csv
  printf 'id,payload\ns1,a\ns2,b\n' >small.csv
  mount_tmpfs mnt 2m || return 0
  cd mnt || fail "cd mnt"
  expect_exit 0 muster run -q --name small -i ../small.csv -- true
  expect_exit 5 muster run -q -i ../big.csv -- touch ../touched
  expect_contains "$STDERR" "disk is full" "message says what happened"
  expect_contains "$STDERR" "free space" "message says what to do"
  expect_no_file ../touched
  expect_exit 5 muster add small -i ../big.csv
  expect_contains "$STDERR" "disk is full" "message of add"
  # All or nothing: the store holds only the first run, with its two jobs.
  expect_exit 0 muster list --json
  expect_eq "$(json_eval "$T/.last.out" "len(j)")" 1 "runs in the store"
  expect_eq "$(json_eval "$T/.last.out" "j[0]['total']")" 2 "jobs of the first run"
  cd .. || fail "cd .."
  unmount_tmpfs
}

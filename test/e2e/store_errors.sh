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

# can_drop_privileges: true when this shell is root and setpriv can run a
# command as nobody (root ignores file modes, so read-only stores need another
# user); else prints why the test is skipped. Lets nobody into the test's
# directory.
can_drop_privileges() {
  if [[ $(id -u) != 0 ]]; then
    echo "  skipped: $E2E_CURRENT needs root to run muster as another user"
    return 1
  fi
  if ! setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>"$T/setpriv.err"; then
    echo "  skipped: $E2E_CURRENT: setpriv cannot drop to nobody: $(cat "$T/setpriv.err")"
    return 1
  fi
  chmod o+x "$E2E_ROOT" "$T"
  return 0
}

# as_nobody ARGS...: muster ARGS as the user nobody.
as_nobody() {
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$MUSTER_BIN" "$@"
}

# mode_of FILE: its permission bits in octal, as 700.
mode_of() {
  stat -c %a "$1"
}

test_store_is_private_whatever_the_umask() {
  TEST "the store is created 0700 and its files 0600 under umask 022; jobs keep the umask"
  umask 022
  expect_exit 0 muster run -q -- sh -c 'echo out; echo err >&2; umask' ::: 1
  expect_contains "$STDOUT" "0022" "the job's umask is the user's"
  local run
  run=$(ls .muster/runs)
  expect_eq "$(mode_of .muster)" 700 ".muster"
  expect_eq "$(mode_of .muster/muster.db)" 600 "muster.db"
  expect_eq "$(mode_of .muster/runs)" 700 "runs/"
  expect_eq "$(mode_of .muster/runs/$run)" 700 "runs/RUN"
  expect_eq "$(mode_of .muster/runs/$run/out)" 700 "runs/RUN/out"
  expect_eq "$(mode_of .muster/runs/$run/out/1.out)" 600 "a job's stdout"
  expect_eq "$(mode_of .muster/runs/$run/out/1.err)" 600 "a job's stderr"
  expect_eq "$(mode_of .muster/runs/$run/logs/slot-0.log)" 600 "a slot's log"
  # -wal and -shm exist while a connection is open; they copy the database's mode.
  start_bg live muster run -q -- sleep 30 ::: 2
  wait_until 10 test -e .muster/muster.db-shm || fail "no -shm file while a run is live"
  expect_eq "$(mode_of .muster/muster.db-wal)" 600 "muster.db-wal"
  expect_eq "$(mode_of .muster/muster.db-shm)" 600 "muster.db-shm"
}

test_store_mode_widens_it() {
  TEST "--store-mode 0750 and MUSTER_STORE_MODE give a group-shared store; a bad mode is exit 2"
  umask 077
  expect_exit 0 muster --store-mode 0750 run -q -- echo hi ::: 1
  expect_eq "$(mode_of .muster)" 750 ".muster"
  expect_eq "$(mode_of .muster/muster.db)" 640 "muster.db: the mode without execute bits"
  expect_eq "$(mode_of .muster/runs/$(ls .muster/runs)/out/1.out)" 640 "a job's stdout"
  MUSTER_STORE_MODE=0755 expect_exit 0 muster --store other run -q -- true ::: 1
  expect_eq "$(mode_of other)" 755 "other/ from MUSTER_STORE_MODE"
  expect_eq "$(mode_of other/muster.db)" 644 "other/muster.db"
  expect_exit 2 muster --store-mode 0640 --store third run -q -- true ::: 1
  expect_contains "$STDERR" "owner rwx" "says why the mode is refused"
  expect_exit 2 muster --store-mode rwx --store third run -q -- true ::: 1
  expect_contains "$STDERR" "octal" "says what is expected"
  expect_no_file third
}

test_read_only_store_works_for_reading() {
  TEST "a store this user can only read: read-only commands work and create nothing; run exits 5"
  can_drop_privileges || return 0
  expect_exit 0 muster --store-mode 0755 run -q --name r -- echo hi ::: 1 2
  local before
  before=$(ls -la .muster)
  for cmd in list "status r" "jobs r" "logs r 1" "export r" summary workers "why r 1" \
    "events r" locks check; do
    # shellcheck disable=SC2086
    expect_exit 0 as_nobody $cmd
  done
  expect_exit 0 as_nobody logs r 1
  expect_eq "$STDOUT" "hi 1" "logs of a job"
  expect_exit 0 as_nobody status r --json
  expect_eq "$(json_eval "$T/.last.out" "j['total']")" 2 "jobs counted"
  expect_eq "$(ls -la .muster)" "$before" "the store is unchanged: no -wal or -shm made"
  expect_exit 5 as_nobody run -q -- true ::: 3
  expect_contains "$STDERR" "cannot be written" "run says it cannot write"
  expect_eq "$(ls -la .muster)" "$before" "the store is unchanged after run"
  # The owner's reader leaves -wal and -shm files behind; they are read-only
  # for nobody, and reading still works.
  expect_exit 0 muster list
  expect_file_exists .muster/muster.db-shm
  expect_exit 0 as_nobody status r
}

test_wal_and_shm_left_read_only() {
  TEST "-wal and -shm left read-only by a reader: muster names them and the chmod that fixes it"
  can_drop_privileges || return 0
  mkdir shared && chown nobody:nogroup shared
  expect_exit 0 as_nobody --store shared/s run -q -- true ::: 1
  chmod 0444 shared/s/muster.db
  # muster itself reads a read-only database without making -wal or -shm ...
  expect_exit 0 as_nobody --store shared/s list
  expect_no_file shared/s/muster.db-wal
  expect_no_file shared/s/muster.db-shm
  # ... but another SQLite reader makes them with the database's mode.
  setpriv --reuid=nobody --regid=nogroup --clear-groups \
    sqlite3 -readonly shared/s/muster.db 'SELECT count(*) FROM runs' >/dev/null
  expect_eq "$(mode_of shared/s/muster.db-wal)" 444 "a reader left -wal read-only"
  chmod 0600 shared/s/muster.db
  expect_exit 5 as_nobody --store shared/s run -q -- true ::: 2
  expect_contains "$STDERR" "shared/s/muster.db-wal shared/s/muster.db-shm" "names the files"
  expect_contains "$STDERR" "chmod --reference=shared/s/muster.db" "says how to fix them"
  expect_eq "$(mode_of shared/s/muster.db-wal)" 444 "muster changed nothing"
  chmod --reference=shared/s/muster.db shared/s/muster.db-wal shared/s/muster.db-shm
  expect_exit 0 as_nobody --store shared/s run -q -- true ::: 2
}

test_store_that_cannot_be_opened() {
  TEST "a store whose first page is overwritten cannot be opened: check reports it and says how to recover"
  expect_exit 0 muster run -q -- true ::: 1
  sqlite3 .muster/muster.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  head -c 4096 /dev/zero | tr '\0' 'x' | dd of=.muster/muster.db bs=4096 count=1 conv=notrunc status=none
  expect_exit 5 muster check
  expect_contains "$STDOUT" "1 problem(s)" "check lists the problem"
  expect_contains "$STDOUT" "not a muster store" "check says what is wrong"
  expect_contains "$STDERR" "backup" "check says how to recover"
  expect_exit 5 muster check --json
  expect_contains "$(json_eval "$T/.last.out" "j['advice']")" ".recover" "check --json: advice"
}

test_damaged_store_is_refused_for_writing() {
  TEST "4 KiB overwritten in a store: run, resume and add refuse and write nothing; check reports it"
  expect_exit 0 muster run -q --name done -- true ::: $(seq 400)
  expect_exit 0 muster run -q --seed-only --name later -- true ::: $(seq 200)
  sqlite3 .muster/muster.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  expect_exit 0 muster check
  expect_contains "$STDOUT" "ok" "a sound store is ok"
  local pages
  pages=$(($(stat -c %s .muster/muster.db) / 4096))
  dd if=/dev/urandom of=.muster/muster.db bs=4096 seek=$((pages / 2)) count=1 \
    conv=notrunc status=none
  local sum
  sum=$(sha256sum <.muster/muster.db)
  printf 'x\n' >more.txt
  expect_exit 5 muster run -q -- touch touched ::: 1
  expect_contains "$STDERR" "is damaged" "run says what is wrong"
  expect_contains "$STDERR" "muster check" "run says where to look"
  expect_contains "$STDERR" ".recover" "run says how to recover"
  expect_exit 5 muster resume later
  expect_contains "$STDERR" "is damaged" "resume says what is wrong"
  expect_exit 5 muster add done -i more.txt
  expect_contains "$STDERR" "is damaged" "add says what is wrong"
  expect_no_file touched
  expect_eq "$(sha256sum <.muster/muster.db)" "$sum" "the damaged file is unchanged"
  expect_exit 5 muster check
  expect_contains "$STDOUT" "problem" "check lists problems"
  expect_contains "$STDERR" "backup" "check says how to recover"
  expect_exit 5 muster check --json
  expect_eq "$(json_eval "$T/.last.out" "j['ok']")" false "check --json: ok"
  expect_ne "$(json_eval "$T/.last.out" "len(j['problems'])")" 0 "check --json: problems"
  expect_eq "$(sha256sum <.muster/muster.db)" "$sum" "check wrote nothing"
}

test_store_errors_say_what_muster_was_doing() {
  TEST "a store error says what muster was doing, in words, never the SQL"
  make_store
  # Another process holds the write lock for longer than muster waits.
  (echo 'BEGIN EXCLUSIVE;' && sleep 5) | sqlite3 .muster/muster.db &
  local holder=$!
  sleep 0.5
  MUSTER_STORE_BUSY_TIMEOUT_MS=100 expect_exit 5 muster run -q -- true ::: 3
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
  expect_match "$STDERR" "^muster: cannot [a-z' ]+ in store \\.muster/muster\\.db: " \
    "message form"
  expect_contains "$STDERR" "locked" "says why"
  for sql in SELECT UPDATE INSERT PRAGMA BEGIN "WHERE"; do
    expect_not_contains "$STDERR" "$sql" "no SQL in the message"
  done
}

test_a_store_cut_short_at_creation_can_be_read() {
  TEST "a store whose creation a kill -9 cut short (a hot rollback journal) opens for reading"
  mkdir -m 700 .muster
  # A writer that dies inside its first transaction, before WAL mode.
  python3 -c "
import os, sqlite3
c = sqlite3.connect('.muster/muster.db', isolation_level=None)
c.execute('PRAGMA journal_mode=DELETE')
c.execute('CREATE TABLE t(a)')
c.execute('BEGIN IMMEDIATE')
c.execute('INSERT INTO t VALUES (1)')
c.execute('PRAGMA cache_size=0')
for i in range(2000):
    c.execute('INSERT INTO t VALUES (?)', (os.urandom(200),))
os._exit(0)"
  [[ -s .muster/muster.db-journal ]] || fail "the test could not leave a hot journal"
  expect_exit 0 muster list
  expect_exit 0 muster run -q -- true ::: a
  expect_exit 0 muster list --json
  expect_json "muster list --json" 'len(j)' 1 "runs in the store"
}

# End to end: muster.toml, validate, show-config, and the named ports each
# slot owns.

# A free port base for this test: high, and different per process so that
# suites running side by side do not collide.
port_base() {
  echo $((20000 + ($$ % 2000) * 10))
}

write_config() {
  local base
  base=$(port_base)
  cat >muster.toml <<TOML
jobs = 3
retries = 2
backoff = "100ms"
command = ["sh", "-c", "echo \$MUSTER_SLOT {port.web} {port.sys}-{port.sys.last} \$MUSTER_PORT_WEB >> ports.txt"]

[slots.ports]
web = { base = $base, stride = 1 }
sys = { base = $((base + 100)), stride = 10, count = 10 }
TOML
}

test_config_is_picked_up_and_flags_win() {
  TEST "./muster.toml is read, and flags override it"
  write_config
  expect_exit 0 muster run -q ::: a b c d e f
  expect_json jobs_json 'j[0]["max_attempts"]' 2 "retries from the config"
  muster status --json >st.json
  expect_eq "$(json_eval st.json 'j["slots"]')" 3 "jobs from the config"
  expect_exit 0 muster run -q -j 2 --retries 4 ::: g
  expect_json jobs_json 'job("1")["max_attempts"]' 4 \
    "--retries beats the config"
  muster status --json >st.json
  expect_eq "$(json_eval st.json 'j["slots"]')" 2 "-j beats the config"
}

test_ports_are_per_slot_and_distinct() {
  TEST "each slot gets its own ports, as placeholders and environment"
  write_config
  local base
  base=$(port_base)
  expect_exit 0 muster run -q ::: $(seq 12)
  # Every line: slot, web port, sys range, and the env copy of the web port.
  while read -r slot web range env; do
    expect_eq "$web" $((base + slot)) "slot $slot's web port"
    expect_eq "$env" "$web" "MUSTER_PORT_WEB of slot $slot"
    expect_eq "$range" "$((base + 100 + slot * 10))-$((base + 109 + slot * 10))" "slot $slot's sys range"
  done <ports.txt
  expect_eq "$(wc -l <ports.txt)" 12 "jobs that ran"
}

test_validate_runs_nothing() {
  TEST "validate checks config and every row, and creates nothing"
  write_config
  printf 'id,v\n1,a\n2,b\n' >in.csv
  expect_exit 0 muster validate -i in.csv --id-column id
  expect_contains "$STDOUT" "ok: 2 jobs" "validate's report"
  expect_no_file .muster
  expect_no_file ports.txt
  printf 'id,v\n1,a\n1,b\n' >dup.csv
  expect_exit 2 muster validate -i dup.csv --id-column id
  expect_contains "$STDERR" "dup.csv:3:1: duplicate job id '1'" "duplicate id"
  expect_no_file .muster
}

test_config_errors_name_file_line_and_key() {
  TEST "config errors give exit 2 with the file, line and key"
  printf 'jobs = 2\nbackoff = "soon"\n' >bad.toml
  expect_exit 2 muster run --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:2: backoff: invalid duration 'soon'" "bad duration"
  printf 'jobs = 2\njbos = 3\n' >bad.toml
  expect_exit 2 muster run --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:2: jbos: unknown key" "unknown key"
  printf 'jobs = [1\n' >bad.toml
  expect_exit 2 muster run --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:1:" "bad TOML"
  printf '[slots.ports]\nweb = { base = 80 }\n' >bad.toml
  expect_exit 2 muster run --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:2: slots.ports.web" "bad port"
  expect_contains "$STDERR" "outside 1024-65535" "bad port reason"
  printf 'jobs = "many"\n' >bad.toml
  expect_exit 2 muster run --config bad.toml -- true ::: a
  expect_contains "$STDERR" "bad.toml:1: jobs: expected a whole number" "bad type"
  expect_exit 2 muster run --config missing.toml -- true ::: a
  expect_no_file .muster
}

test_overlapping_ports_fail_validate() {
  TEST "overlapping port ranges are an error from validate"
  printf 'jobs = 2\n[slots.ports]\na = { base = 30000, stride = 2 }\nb = { base = 30002 }\n' >muster.toml
  expect_exit 2 muster validate -- true ::: x
  expect_contains "$STDERR" "muster.toml:4: slots.ports.b" "where"
  expect_contains "$STDERR" "overlaps port a of slot 1" "why"
  printf 'jobs = 2\n[slots.ports]\ns = { base = 30000, stride = 5, count = 10 }\n' >muster.toml
  expect_exit 2 muster validate -- true ::: x
  expect_contains "$STDERR" "stride 5 is less than count 10" "range wider than its stride"
}

test_busy_port_stops_the_run_before_any_job() {
  TEST "a port held by another process is an error naming it, and no job runs"
  write_config
  local base busy
  base=$(port_base)
  busy=$((base + 1)) # slot 1's web port
  python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $busy)); s.listen(); open('listening', 'w').close(); time.sleep(60)" &
  local holder=$!
  wait_until 10 test -e listening || fail "the port holder did not start"
  expect_exit 2 muster run -q ::: a b c
  expect_contains "$STDERR" "slot 1, port web: port $busy is in use by pid $holder" "the holder"
  expect_no_file ports.txt
  expect_no_file .muster
  expect_exit 2 muster validate ::: a b c
  kill $holder
  wait $holder 2>/dev/null
  expect_exit 0 muster run -q ::: a b c
}

test_show_config() {
  TEST "show-config prints the resolved settings and the slot table"
  write_config
  local base
  base=$(port_base)
  expect_exit 0 muster show-config -j 2
  expect_contains "$STDOUT" "slots:     2" "slot count"
  expect_contains "$STDOUT" "web=$((base + 1))" "slot 1's web port"
  expect_exit 0 muster show-config --json
  expect_eq "$(json_eval .last.out 'j["slots"][2]["ports"]["sys"]["first"]')" $((base + 120)) "json slot table"
  expect_eq "$(json_eval .last.out 'j["settings"]["max_attempts"]')" 2 "json settings"
  expect_no_file .muster
}

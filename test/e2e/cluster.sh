# End to end: the cluster files of docs/cluster/ (see docs/cluster.md) are
# well formed, use only flags this muster has, keep passwords out, and their
# agents run a seeded run to its end on a SQLite store, pass a SIGTERM on to
# muster, and count a run that has already ended as done.

CLUSTER_ROOT=$(cd "$(dirname "$E2E_SUITE_FILE")/../.." && pwd)
CLUSTER_SBATCH=$CLUSTER_ROOT/docs/cluster/muster-join.sbatch
CLUSTER_JOB=$CLUSTER_ROOT/docs/cluster/muster-join-job.yaml
CLUSTER_UNIT=$CLUSTER_ROOT/docs/cluster/muster-join@.service
CLUSTER_DOC=$CLUSTER_ROOT/docs/cluster.md

# The interpreter with its site packages (yaml), unlike json_eval's -S.
cluster_python() {
  "$E2E_PYTHON" -I "$@"
}

# cluster_env: `muster` (the binary under test) first on PATH, as on a
# cluster's hosts, and MUSTER_STORE the test's store: a SQLite store in the
# test's directory, or on PostgreSQL (E2E_ON_POSTGRES) the test's schema.
cluster_env() {
  mkdir -p "$T/bin"
  ln -sf "$MUSTER_BIN" "$T/bin/muster"
  export PATH="$T/bin:$PATH"
  export MUSTER_STORE=${MUSTER_STORE:-$T/store}
}

# seed NAME ARGS...: create the run NAME with `run --seed-only`, as
# docs/cluster.md does, in $MUSTER_STORE.
seed() {
  local name=$1
  shift
  expect_exit 0 muster run --seed-only --name "$name" "$@"
}

running_jobs_are() {
  [[ $(count_state "$1" running) == "$2" ]]
}

# job_script FILE: the script that the Job's container runs (its args).
job_script() {
  cluster_python - "$CLUSTER_JOB" >"$1" <<'EOF' || fail "cannot read the container's script from $CLUSTER_JOB"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
assert c["command"] == ["/bin/sh", "-c"], c["command"]
print(c["args"][0], end="")
EOF
}

# job_env: export the Job's environment, but for MUSTER_STORE (the test's
# store) and the values Kubernetes fills in (a CPU request of 2; a password
# nobody reads).
job_env() {
  local line
  while IFS= read -r line; do
    export "${line?}"
  done < <(cluster_python - "$CLUSTER_JOB" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
for e in c["env"]:
    if "value" in e and e["name"] != "MUSTER_STORE":
        print(f'{e["name"]}={e["value"]}')
    elif "resourceFieldRef" in e.get("valueFrom", {}):
        print(f'{e["name"]}=2')
    elif "secretKeyRef" in e.get("valueFrom", {}):
        print(f'{e["name"]}=unused')
EOF
  )
}

# unit_command RUN [SLOTS]: the unit's ExecStart as systemd would run it for
# muster-join@RUN.service, one word per line, with $MUSTER_BIN for the binary
# and the environment files' values replaced by the test's: MUSTER_STORE, and
# MUSTER_SLOTS (default 2).
unit_command() {
  cluster_python - "$CLUSTER_UNIT" "$1" "$MUSTER_BIN" "$MUSTER_STORE" "${2:-2}" <<'EOF'
import re, shlex, sys
unit, run, binary, store, slots = sys.argv[1:6]
env, cmd = {}, None
for line in open(unit):
    line = line.strip()
    if line.startswith("Environment="):
        for word in shlex.split(line[len("Environment="):]):
            k, v = word.split("=", 1)
            env[k] = v
    elif line.startswith("ExecStart="):
        cmd = line[len("ExecStart="):]
env.update(MUSTER_STORE=store, MUSTER_SLOTS=slots)
# %i is the instance as written; %I unescapes it, a - becoming a /.
words = shlex.split(cmd.replace("%I", run.replace("-", "/")).replace("%i", run))
out = []
for w in words:
    # ${NAME} is one word; a bare $NAME is split, as systemd does.
    if re.fullmatch(r"\$[A-Za-z_]\w*", w):
        out += env[w[1:]].split()
    else:
        out.append(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], w))
out[0] = binary
print("\n".join(out))
EOF
}

# unit_value KEY: the value of KEY= in the unit (the last one).
unit_value() {
  sed -n "s/^$1=//p" "$CLUSTER_UNIT" | tail -n 1
}

# expect_drains NAME CMD...: with run NAME seeded as three 1 s jobs, CMD (an
# agent with one slot, started as a cluster starts it) passes one SIGTERM on
# to muster: the running job finishes, the others stay pending, exit 130.
expect_drains() {
  local name=$1
  shift
  local m
  m=$(marker 1)
  seed "$name" -j 1 -- sleep ::: "$m" "$m" "$m"
  start_bg "agent-$name" "$@"
  local agent=$BG_PID
  wait_until 20 running_jobs_are "$name" 1 || fail "no job started"
  kill -TERM "$agent"
  wait_bg "$agent" 30
  expect_eq "$BG_STATUS" 130 "exit status after one SIGTERM"
  expect_contains "$(cat "$T/agent-$name.err")" "SIGTERM: no new jobs" "muster's stderr"
  expect_eq "$(count_state "$name" succeeded)" 1 "jobs that finished"
  expect_eq "$(count_state "$name" pending)" 2 "jobs left pending"
  expect_no_process "$m"
}

# expect_stops_now NAME CMD...: the same agent, given a second SIGTERM,
# stops its long job at once.
expect_stops_now() {
  local name=$1
  shift
  local m
  m=$(marker 60)
  seed "$name" -j 1 -- sleep ::: "$m"
  start_bg "agent-$name" "$@"
  local agent=$BG_PID
  wait_until 20 running_jobs_are "$name" 1 || fail "no job started"
  kill -TERM "$agent"
  wait_until 10 grep -q "SIGTERM: no new jobs" "$T/agent-$name.err" || fail "muster did not hear the first SIGTERM"
  kill -TERM "$agent"
  wait_bg "$agent" 20
  expect_eq "$BG_STATUS" 130 "exit status after two SIGTERMs"
  expect_eq "$(count_state "$name" succeeded)" 0 "jobs that finished"
  expect_no_process "$m" 5
}

# ---------------------------------------------------------------------------
# Syntax.

test_sbatch_syntax() {
  TEST "the Slurm script parses, and its #SBATCH lines are well formed and come before its first command"
  expect_exit 0 bash -n "$CLUSTER_SBATCH"
  expect_exit 0 cluster_python - "$CLUSTER_SBATCH" <<'EOF'
import re, sys
path = sys.argv[1]
lines = open(path).read().split("\n")
errors = []
if lines[0] != "#!/bin/bash":
    errors.append(f"line 1: expected #!/bin/bash, got {lines[0]!r}")
# Long options of sbatch(1) that a script like this may use.
known = {
    "account", "array", "begin", "chdir", "comment", "constraint", "cpus-per-task",
    "dependency", "error", "exclusive", "export", "gpus", "gres", "hint", "job-name",
    "kill-on-invalid-dep", "licenses", "mail-type", "mail-user", "mem", "mem-per-cpu",
    "nice", "no-requeue", "nodes", "ntasks", "ntasks-per-node", "open-mode", "output",
    "partition", "qos", "requeue", "reservation", "signal", "time", "time-min", "tmp",
}
values = {
    "array": r"\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*(%\d+)?",
    "cpus-per-task": r"[1-9]\d*",
    "ntasks": r"[1-9]\d*",
    "time": r"\d+|\d+:\d\d|\d+:\d\d:\d\d|\d+-\d+|\d+-\d+:\d\d|\d+-\d+:\d\d:\d\d",
    "signal": r"((R|B|RB|BR):)?(SIG)?(TERM|INT|HUP|USR1|USR2|\d+)(@\d+)?",
    "open-mode": r"append|truncate",
    "output": r"\S+",
    "job-name": r"\S+",
}
flags = {"requeue", "no-requeue", "exclusive"}
seen = {}
body = False
for n, line in enumerate(lines, 1):
    s = line.strip()
    if (re.match(r"#+\s*SBATCH", s) or re.match(r"#sbatch", s, re.I)) and not s.startswith("#SBATCH "):
        errors.append(f"line {n}: a misspelt #SBATCH line sbatch would skip: {s!r}")
        continue
    if not s.startswith("#SBATCH "):
        if s and not s.startswith("#"):
            body = True
        continue
    if body:
        errors.append(f"line {n}: #SBATCH after the first command; sbatch ignores it")
    m = re.fullmatch(r"#SBATCH --([a-z][a-z-]*)(?:=(\S+))?", s)
    if not m:
        errors.append(f"line {n}: not '#SBATCH --option[=value]' (and no trailing text): {s!r}")
        continue
    opt, val = m.group(1), m.group(2)
    if opt not in known:
        errors.append(f"line {n}: --{opt} is not an sbatch option")
    elif opt in flags and val is not None:
        errors.append(f"line {n}: --{opt} takes no value")
    elif opt not in flags and val is None:
        errors.append(f"line {n}: --{opt} needs a value")
    elif opt in values and not re.fullmatch(values[opt], val):
        errors.append(f"line {n}: --{opt}={val}: not a valid value")
    if opt in seen:
        errors.append(f"line {n}: --{opt} again (first on line {seen[opt]})")
    seen[opt] = n
# The script's agent needs these.
for opt in ("array", "cpus-per-task", "signal"):
    if opt not in seen:
        errors.append(f"no #SBATCH --{opt}")
sig = next((l for l in lines if l.startswith("#SBATCH --signal=")), "")
if sig and not sig.startswith("#SBATCH --signal=B:"):
    errors.append("--signal must signal the batch shell alone (B:), which passes it to muster")
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
  if command -v shellcheck >/dev/null; then
    expect_exit 0 shellcheck -s bash "$CLUSTER_SBATCH"
  fi
}

test_job_yaml() {
  TEST "the Kubernetes Job parses as an Indexed Job whose container runs muster join, with the password from a Secret"
  cluster_python -c 'import yaml' 2>/dev/null ||
    fail "python3 has no yaml module: scripts/install-deps.sh installs python3-yaml"
  expect_exit 0 cluster_python - "$CLUSTER_JOB" <<'EOF'
import re, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)
check(len(docs) == 1, f"expected one document, got {len(docs)}")
d = docs[0]
check(d.get("apiVersion") == "batch/v1", "apiVersion is not batch/v1")
check(d.get("kind") == "Job", "kind is not Job")
spec = d["spec"]
check(spec.get("completionMode") == "Indexed", "completionMode is not Indexed")
for k in ("completions", "parallelism", "backoffLimit"):
    check(isinstance(spec.get(k), int) and spec[k] >= 1, f"spec.{k} is not a positive whole number")
pod = spec["template"]["spec"]
# podFailurePolicy needs restartPolicy Never, and its container names must exist.
check(pod.get("restartPolicy") == "Never", "restartPolicy is not Never")
names = [c["name"] for c in pod["containers"]]
for rule in spec.get("podFailurePolicy", {}).get("rules", []):
    check(rule["action"] in ("FailJob", "FailIndex", "Ignore", "Count"), f"unknown action {rule['action']}")
    codes = rule.get("onExitCodes")
    if codes:
        check(codes.get("containerName", names[0]) in names, "onExitCodes names no container")
        check(codes["operator"] in ("In", "NotIn"), "bad operator")
        check(all(isinstance(v, int) for v in codes["values"]), "exit codes are not numbers")
        check(0 not in codes["values"], "exit 0 in a failure rule")
check(not pod.get("hostNetwork"), "hostNetwork gives every pod of a node the same host name")
# muster's default --grace (30s) and --kill-grace (10s) fit before SIGKILL.
check(pod.get("terminationGracePeriodSeconds", 30) > 40, "terminationGracePeriodSeconds leaves muster no time to drain")
c = pod["containers"][0]
check(bool(c.get("image")), "no image")
script = " ".join(c.get("command", []) + c.get("args", []))
check(re.search(r"\bmuster join\b", script) is not None, "the container does not run muster join")
env = {e["name"]: e for e in c.get("env", [])}
for name in ("MUSTER_RUN", "MUSTER_STORE", "MUSTER_SLOTS", "PGPASSWORD"):
    check(name in env, f"no {name} in the container's environment")
pw = env.get("PGPASSWORD", {})
check("value" not in pw and "secretKeyRef" in pw.get("valueFrom", {}), "PGPASSWORD does not come from a Secret")
store = env.get("MUSTER_STORE", {}).get("value", "")
check(store.startswith("postgres://"), "MUSTER_STORE is not a postgres:// URL")
check(re.match(r"postgres(ql)?://[^/@]*:[^/@]*@", store) is None, "a password in MUSTER_STORE")
ref = env.get("MUSTER_SLOTS", {}).get("valueFrom", {}).get("resourceFieldRef")
if ref:
    check(ref.get("containerName", c["name"]) in names, "resourceFieldRef names no container")
    check(ref["resource"] in c["resources"]["requests"] or ref["resource"].split(".")[1] in c["resources"]["requests"],
          "MUSTER_SLOTS reads a resource the container does not request")
mounts = {m["name"] for m in c.get("volumeMounts", [])}
check(mounts <= {v["name"] for v in pod.get("volumes", [])}, "a volumeMount with no volume")
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
  job_script agent.sh
  expect_exit 0 sh -n agent.sh
  if command -v shellcheck >/dev/null; then
    expect_exit 0 shellcheck -s sh agent.sh
  fi
}

test_unit_verify() {
  TEST "systemd-analyze verify finds nothing wrong in the unit but the binary's path, and nothing once it names the built muster"
  if ! command -v systemd-analyze >/dev/null; then
    echo "  skipped: $E2E_CURRENT needs systemd-analyze"
    return
  fi
  # Documentation=man:muster(1): the page muster prints, where man finds it.
  mkdir -p units man/man1
  muster man >man/man1/muster.1
  local man=(--man=yes)
  command -v man >/dev/null || man=(--man=no)
  local unit=units/muster-join@nightly.service
  cp "$CLUSTER_UNIT" "$unit"
  run_cmd env MANPATH="$T/man" systemd-analyze verify "${man[@]}" "$unit"
  local line
  while IFS= read -r line; do
    [[ -z $line || $line == *"Command /usr/local/bin/muster is not executable"* ]] ||
      fail "systemd-analyze verify on the unit as written: $line"
  done <<<"$STDOUT
$STDERR"
  sed "s|^ExecStart=/usr/local/bin/muster |ExecStart=$MUSTER_BIN |" "$CLUSTER_UNIT" >"$unit"
  grep -q "^ExecStart=$MUSTER_BIN join " "$unit" || fail "ExecStart does not start /usr/local/bin/muster join"
  expect_exit 0 env MANPATH="$T/man" systemd-analyze verify "${man[@]}" "$unit"
  expect_eq "$STDOUT$STDERR" "" "systemd-analyze verify's output"
}

test_unit_settings() {
  TEST "the unit stops muster as muster stops: SIGTERM to muster alone, time to drain, 130 clean, no restart once the run ended"
  expect_eq "$(unit_value Type)" exec "Type"
  expect_eq "$(unit_value KillMode)" mixed "KillMode"
  expect_eq "$(unit_value KillSignal)" SIGTERM "KillSignal"
  local stop
  stop=$(unit_value TimeoutStopSec)
  expect_match "$stop" '^[0-9]+s?$' "TimeoutStopSec"
  expect_ge "${stop%s}" 41 "TimeoutStopSec against the default --grace 30s and --kill-grace 10s"
  expect_eq "$(unit_value Restart)" on-failure "Restart"
  expect_match " $(unit_value SuccessExitStatus) " " 130 " "SuccessExitStatus"
  local prevent
  prevent=" $(unit_value RestartPreventExitStatus) "
  expect_match "$prevent" " 1 " "RestartPreventExitStatus"
  expect_match "$prevent" " 2 " "RestartPreventExitStatus"
  expect_not_contains "$prevent" " 5 " "RestartPreventExitStatus (5: the store could not be reached)"
  expect_eq "$(unit_value Delegate)" yes "Delegate"
  # muster makes its cgroups under the unit's.
  expect_eq "$(grep -c '^ProtectControlGroups=' "$CLUSTER_UNIT")" 0 "ProtectControlGroups lines"
  expect_match "$(grep '^EnvironmentFile=' "$CLUSTER_UNIT")" '^EnvironmentFile=/' "EnvironmentFile"
  expect_contains "$(cat "$CLUSTER_UNIT")" "MUSTER_STORE=postgres://" "the environment file's example"
  expect_contains "$(cat "$CLUSTER_UNIT")" "PGPASSFILE=" "the environment file's example"
  expect_eq "$(grep -c '^Environment=.*PGPASSWORD' "$CLUSTER_UNIT")" 0 "PGPASSWORD in the unit"
}

test_no_password_in_urls() {
  TEST "no file of docs/cluster/ and no line of docs/cluster.md puts a password in a postgres:// URL"
  local f hits
  for f in "$CLUSTER_SBATCH" "$CLUSTER_JOB" "$CLUSTER_UNIT" "$CLUSTER_DOC"; do
    hits=$(grep -nE 'postgres(ql)?://[^/@[:space:]]*:[^/@[:space:]]*@' "$f")
    expect_eq "$hits" "" "URLs with a password in $f"
    expect_contains "$(cat "$f")" "postgres://" "a store URL in $f"
  done
}

# ---------------------------------------------------------------------------
# Every muster flag the files use exists.

test_flags_exist() {
  TEST "every muster flag in docs/cluster/ and docs/cluster.md is one the built muster accepts there"
  local out
  out=$(cluster_python - "$CLUSTER_SBATCH" "$CLUSTER_JOB" "$CLUSTER_UNIT" "$CLUSTER_DOC" <<'EOF'
import os, re, sys
subs = {"run", "resume", "join", "pause", "cancel", "scale", "add", "events", "status",
        "list", "workers", "summary", "cleanup", "jobs", "logs", "export", "retry", "why",
        "locks", "lock", "unlock", "check", "validate", "show-config", "stop-all", "doctor"}
for path in sys.argv[1:]:
    joins = 0
    for n, line in enumerate(open(path), 1):
        for m in re.finditer(r"\bmuster\s+([a-z][a-z-]*)", line):
            sub = m.group(1)
            if sub not in subs:
                continue
            rest = line[m.end():]
            # The command's own words start after `--`; a line of shell or
            # prose ends at a backtick, a pipe, `;`, `&` or a comment.
            rest = re.split(r"`|\s--\s|\s--$|\||;|&|\s#", rest)[0]
            flags = [f.split("=")[0] for f in re.findall(r"(?<!\S)--?[A-Za-z][\w-]*(?:=\S*)?", rest)]
            where = f"{os.path.basename(path)}:{n}"
            for f in flags:
                print(sub, f, where)
            if sub == "join" and not path.endswith(".md"):
                joins += 1
                print("join-line", ",".join(flags) or "-", where)
    if not path.endswith(".md") and joins == 0:
        print("no-join", "-", os.path.basename(path))
EOF
  ) || fail "cannot read the files' muster command lines"
  local sub flag where help global
  global=$(muster --help)
  declare -A helps
  local count=0
  while read -r sub flag where; do
    case $sub in
    no-join) fail "$where has no muster join line" ;;
    join-line)
      # Each file's agent is told its slots and its store.
      expect_match ",$flag," ",-j," "the flags of muster join at $where"
      expect_match ",$flag," ",--store," "the flags of muster join at $where"
      continue
      ;;
    esac
    if [[ -z ${helps[$sub]+x} ]]; then
      helps[$sub]=$(muster "$sub" --help) || fail "muster $sub --help failed"
    fi
    if ! [[ "${helps[$sub]}
$global" =~ (^|[[:space:],])"$flag"([[:space:],=]|$) ]]; then
      fail "$where: muster $sub $flag: no such flag in \`muster $sub --help\` or \`muster --help\`"
    fi
    count=$((count + 1))
  done <<<"$out"
  expect_ge "$count" 10 "muster flags found in the files"
}

# ---------------------------------------------------------------------------
# The files' agents, run against a SQLite store.

test_sbatch_agent_runs() {
  TEST "the Slurm script's agent runs a seeded run in the node's own directory; a late task exits 0, a run with a failed job 1, no such run 2"
  cluster_env
  seed nightly -- sh -c 'echo "job {} slot $MUSTER_SLOT in $PWD"' ::: a b c d
  local slurm=(env SLURM_CPUS_PER_TASK=2 SLURM_JOB_ID=4242 TMPDIR="$T/node")
  mkdir node
  expect_exit 0 "${slurm[@]}" bash "$CLUSTER_SBATCH" nightly
  expect_eq "$(count_state nightly succeeded)" 4 "jobs that succeeded"
  expect_eq "$(grep -c "^job . slot [01] in $T/node/muster-4242\$" .last.out)" 4 "jobs in the node's directory, in slots 0 and 1"
  # A task that starts after the run has ended.
  expect_exit 0 "${slurm[@]}" bash "$CLUSTER_SBATCH" nightly
  expect_contains "$STDERR" "has ended (completed)"
  # Some jobs failed: muster's own exit 1.
  seed failing -- sh -c 'exit {}' ::: 0 3
  expect_exit 1 "${slurm[@]}" bash "$CLUSTER_SBATCH" failing
  expect_exit 2 "${slurm[@]}" bash "$CLUSTER_SBATCH" nosuch
  expect_exit 1 "${slurm[@]}" bash "$CLUSTER_SBATCH"
  expect_contains "$STDERR" "usage: sbatch muster-join.sbatch RUN"
  expect_exit 1 env -u MUSTER_STORE "${slurm[@]}" bash "$CLUSTER_SBATCH" nightly
  expect_contains "$STDERR" "set MUSTER_STORE"
}

test_sbatch_passes_sigterm() {
  TEST "the Slurm script passes Slurm's SIGTERM to muster: one drains it, a second stops its job at once"
  cluster_env
  mkdir node
  expect_drains drain env SLURM_CPUS_PER_TASK=1 SLURM_JOB_ID=1 TMPDIR="$T/node" bash "$CLUSTER_SBATCH" drain
  expect_stops_now now env SLURM_CPUS_PER_TASK=1 SLURM_JOB_ID=2 TMPDIR="$T/node" bash "$CLUSTER_SBATCH" now
}

test_job_agent_runs() {
  TEST "the Job's container script runs a seeded run under sh; a late pod, a run with failed jobs and a cancelled run are done, no such run exits 2"
  cluster_env
  job_script agent.sh
  job_env
  expect_eq "$MUSTER_RUN" nightly "MUSTER_RUN in the Job"
  seed nightly -- sh -c 'echo "job {} slot $MUSTER_SLOT"' ::: a b c d
  expect_exit 0 sh agent.sh
  expect_eq "$(count_state nightly succeeded)" 4 "jobs that succeeded"
  expect_eq "$(grep -c '^job . slot [01]$' .last.out)" 4 "jobs in slots 0 and 1"
  expect_exit 0 sh agent.sh
  expect_contains "$STDERR" "has ended (completed)"
  seed failing -- sh -c 'exit {}' ::: 0 3
  expect_exit 0 env MUSTER_RUN=failing sh agent.sh
  expect_eq "$(count_state failing failed)" 1 "jobs that failed"
  seed cancelled -- true ::: a
  expect_exit 0 muster cancel cancelled --force -q
  expect_exit 0 env MUSTER_RUN=cancelled sh agent.sh
  expect_contains "$STDERR" "has ended (cancelled)"
  expect_exit 2 env MUSTER_RUN=nosuch sh agent.sh
}

test_job_passes_sigterm() {
  TEST "the Job's sh passes the kubelet's SIGTERM to muster: one drains it, a second stops its job at once"
  cluster_env
  job_script agent.sh
  job_env
  expect_drains drain env MUSTER_RUN=drain MUSTER_SLOTS=1 sh agent.sh
  expect_stops_now now env MUSTER_RUN=now MUSTER_SLOTS=1 sh agent.sh
}

test_unit_agent_runs() {
  TEST "the unit's ExecStart runs a seeded run named with a -; started again once the run ended, it exits 2, which stops restarts"
  cluster_env
  seed nightly-1 -- sh -c 'echo "job {} slot $MUSTER_SLOT"' ::: a b c d
  local -a cmd
  mapfile -t cmd < <(unit_command nightly-1)
  expect_eq "${cmd[*]:1:3}" "join nightly-1 -j" "the unit's command"
  expect_exit 0 "${cmd[@]}"
  expect_eq "$(count_state nightly-1 succeeded)" 4 "jobs that succeeded"
  expect_eq "$(grep -c '^job . slot [01]$' .last.out)" 4 "jobs in slots 0 and 1"
  expect_exit 2 "${cmd[@]}"
  expect_match " $(unit_value RestartPreventExitStatus) " " $STATUS " "RestartPreventExitStatus"
  # SIGTERM, as systemctl stop sends it to muster alone, ends with 130,
  # which the unit counts as a success.
  local m
  m=$(marker 1)
  seed stopped -- sleep ::: "$m" "$m"
  mapfile -t cmd < <(unit_command stopped 1)
  start_bg agent "${cmd[@]}"
  local agent=$BG_PID
  wait_until 20 running_jobs_are stopped 1 || fail "no job started"
  kill -TERM "$agent"
  wait_bg "$agent" 30
  expect_match " $(unit_value SuccessExitStatus) " " $BG_STATUS " "SuccessExitStatus against muster's exit on SIGTERM"
  expect_eq "$(count_state stopped succeeded)" 1 "jobs that finished"
  expect_no_process "$m"
}

# End to end: every runnable example in README.md and docs/*.md runs as
# written, with the built muster first on PATH.
#
# How a page marks its examples (an HTML comment on the line right before a
# fenced block; GitHub shows none of them):
#
#   <!-- test -->            the next fenced block runs in a fresh scratch
#                            directory, with bash, within 20 seconds. It is
#                            either a script, which runs under `set -e` and
#                            must exit 0, or, when its first line starts with
#                            `$ `, a transcript: each `$ ` line (with the lines
#                            that continue it after a trailing `\`) is a
#                            command, and the lines up to the next `$ ` are
#                            what it prints, stdout and stderr together. Every
#                            command of a transcript but the last must exit 0.
#   <!-- test exit=N -->     the same, but the script, or the transcript's
#                            last command, must exit N.
#   <!-- test unordered -->  a transcript compared as a sorted list of lines
#                            (for jobs that finish in any order); `exit=N`
#                            may come first.
#   <!-- file: NAME -->      the next fenced block is not run: its text is
#                            written to NAME in the scratch directory of the
#                            next test block of the page (for an input file or
#                            a muster.toml that the page shows first).
#   <!-- output -->          the next fenced block is what the script just
#                            before it prints, stdout and stderr together.
#   <!-- output unordered --> the same, compared as a sorted list of lines
#                            (for jobs that finish in any order).
#
# Unmarked blocks are not run: snippets, and examples that need a phone, a
# browser, a coding agent or a long cooldown.
# Those that need a phone or a browser point to examples/*/run.sh, which
# examples.sh runs.
#
# Before the comparison, both the expected and the actual text are
# normalised: trailing blanks are dropped and runs of blanks become one
# space (so table columns may be of any width); a run id (6 hex digits)
# becomes RUN; rates (12.5/s) become R/s; durations (0.4s, 30s, 250ms, 2m)
# become D; dates and times of day become DATE and HH:MM; `pid 123` becomes
# `pid N`. In the actual text the machine's host and user names become `vm`
# and `root`, as the docs show them. A line holding only `…` in an expected
# output matches any number of lines.

E2E_DOCS_ROOT=$(cd "$(dirname "$E2E_SUITE_FILE")/../.." && pwd)

# docs_extract DIR: writes each marked block of the pages to DIR/N/ (script,
# expect, mode, where, exit, files/) and prints the number of test blocks.
docs_extract() {
  python3 - "$E2E_DOCS_ROOT" "$1" <<'EOF'
import os, re, sys, glob
root, out = sys.argv[1], sys.argv[2]
pages = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
marker = re.compile(r"^<!--\s*(test(?:\s+exit=(\d+))?(\s+unordered)?|file:\s*(\S+)|output(\s+unordered)?)\s*-->\s*$")
n = 0
errors = []

def quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

def transcript(text):
    """A `$ ` transcript: the commands become a script that echoes each one
    before it runs it; every command but the last must exit 0."""
    cmds, lines = [], text.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            cmd = [lines[i][2:]]
            while cmd[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd.append(lines[i])
            cmds.append(cmd)
        i += 1
    out = []
    for k, cmd in enumerate(cmds):
        shown = "$ " + "\n".join(cmd)
        out.append("printf '%s\\n' " + quote(shown))
        out.append("\n".join(cmd))
        if k + 1 < len(cmds):
            out.append('rc=$?; if [ $rc -ne 0 ]; then echo "docs.sh: exit $rc from the command above"; exit $rc; fi')
    return "\n".join(out) + "\n", text
for page in pages:
    rel = os.path.relpath(page, root)
    lines = open(page, encoding="utf-8").read().split("\n")
    files = {}
    last = None  # the directory of the page's last test block, for an output block
    i = 0
    while i < len(lines):
        m = marker.match(lines[i])
        if not m:
            i += 1
            continue
        where = f"{rel}:{i + 1}"
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            errors.append(f"{where}: a marker must sit right before a fenced block")
            i += 1
            continue
        j = i + 2
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j >= len(lines):
            errors.append(f"{where}: the fenced block never ends")
            break
        text = "\n".join(lines[i + 2:j]) + "\n"
        if m.group(1).startswith("test"):
            n += 1
            d = os.path.join(out, str(n))
            os.makedirs(os.path.join(d, "files"))
            if text.lstrip().startswith("$ "):
                script, expect = transcript(text)
                open(os.path.join(d, "script"), "w").write(script)
                open(os.path.join(d, "expect"), "w").write(expect)
                open(os.path.join(d, "mode"), "w").write("unordered" if m.group(3) else "exact")
            else:
                open(os.path.join(d, "script"), "w").write("set -e\n" + text)
            open(os.path.join(d, "where"), "w").write(where)
            open(os.path.join(d, "exit"), "w").write(m.group(2) or "0")
            for name, body in files.items():
                p = os.path.join(d, "files", name)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                open(p, "w").write(body)
            files = {}
            last = d
        elif m.group(1).startswith("file:"):
            files[m.group(4)] = text
        else:
            if last is None or os.path.exists(os.path.join(last, "expect")):
                errors.append(f"{where}: an output block must follow a test block")
            else:
                open(os.path.join(last, "expect"), "w").write(text)
                open(os.path.join(last, "mode"), "w").write("unordered" if m.group(5) else "exact")
            last = None
        i = j + 1
    if files:
        errors.append(f"{rel}: file block(s) {', '.join(files)} with no test block after them")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(n)
EOF
}

# docs_compare EXPECT ACTUAL MODE: 0 when they match after normalisation;
# otherwise prints both, normalised.
docs_compare() {
  python3 - "$1" "$2" "$3" "$(hostname)" "$(id -un)" <<'EOF'
import re, sys
expect_f, actual_f, mode, host, user = sys.argv[1:6]

def norm(text, actual):
    if actual:
        if host:
            text = re.sub(r"\b%s\b" % re.escape(host), "vm", text)
        if user:
            text = re.sub(r"\b%s@" % re.escape(user), "root@", text)
    text = re.sub(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?(\.\d+)?Z?)?", "DATE", text)
    text = re.sub(r"\b\d\d:\d\d(:\d\d)?\b", "HH:MM", text)
    text = re.sub(r"\b[0-9a-f]{6}\b", "RUN", text)
    text = re.sub(r"\b\d+(\.\d+)?/s\b", "R/s", text)
    text = re.sub(r"\b\d+(\.\d+)?(ms|s|m|h)\b", "D", text)
    text = re.sub(r"\bpid \d+", "pid N", text)
    out = []
    for line in text.split("\n"):
        line = re.sub(r"[ \t]+", " ", line).rstrip()
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out

want = norm(open(expect_f, encoding="utf-8", errors="replace").read(), False)
got = norm(open(actual_f, encoding="utf-8", errors="replace").read(), True)
if mode == "unordered":
    ok = sorted(want) == sorted(got)
else:
    pattern = "".join("(?:.*\n)*?" if l.strip() == "…" else re.escape(l) + "\n" for l in want)
    ok = re.fullmatch(pattern, "".join(l + "\n" for l in got)) is not None
if not ok:
    print("--- expected (normalised) ---")
    print("\n".join(want))
    print("--- got (normalised) ---")
    print("\n".join(got))
    sys.exit(1)
EOF
}

# One test per block; a block that fails does not stop the others.
test_docs_examples() {
  local blocks=$E2E_ROOT/doc-blocks bin=$E2E_ROOT/doc-bin
  mkdir -p "$blocks" "$bin"
  ln -sf "$MUSTER_BIN" "$bin/muster"
  local count
  if ! count=$(docs_extract "$blocks" 2>"$E2E_ROOT/doc-extract.err"); then
    TEST "the doc markers are well formed"
    fail "$(cat "$E2E_ROOT/doc-extract.err")"
  fi
  local n
  for ((n = 1; n <= count; n++)); do
    E2E_SEQ=$((E2E_SEQ + 1))
    (
      local d=$blocks/$n where want
      where=$(cat "$d/where")
      want=$(cat "$d/exit")
      TEST "$where runs as written"
      cp -r "$d/files/." .
      # stdout and stderr into one file, interleaved as on a terminal.
      PATH="$bin:$PATH" timeout -k 2 20 bash "$d/script" >.output 2>&1
      STATUS=$?
      if [[ $STATUS != "$want" ]]; then
        fail "$where: expected exit status $want, got $STATUS; its output:
$(tail -n 40 .output)"
      fi
      if [[ -f $d/expect ]]; then
        local diff
        if ! diff=$(docs_compare "$d/expect" .output "$(cat "$d/mode")"); then
          fail "$where: the output differs from the doc's
$diff"
        fi
      fi
      e2e_finish_test
    )
  done
  TEST "the docs have runnable examples"
  expect_ge "$count" 10 "test blocks in README.md and docs/*.md"
}

test_docs_links() {
  TEST "every relative link of README.md and docs/*.md leads to a file"
  local bad
  bad=$(python3 - "$E2E_DOCS_ROOT" <<'EOF'
import os, re, sys, glob
root = sys.argv[1]
pages = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
for page in pages:
    text = open(page, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
        # docs/library.md is written on another branch; the link may come first.
        if os.path.relpath(path, root) == "docs/library.md":
            continue
        if not os.path.exists(path):
            print(f"{os.path.relpath(page, root)}: {target}")
EOF
  )
  expect_eq "$bad" "" "links to no file"
}

#!/usr/bin/env python3
"""Helpers for bench/run.sh: record measurements, check muster's job counts,
and turn the records into the summary table and bench/out/results.json.

  report.py record RECORDS key=value ...
  report.py check EXPECTED LABEL      < `muster list --json`
  report.py count STATE               < `muster list --json`
  report.py cpubusy SECONDS           percent of CPU time not idle
  report.py report RECORDS RESULTS_JSON COMMANDS_SH
"""
import json
import re
import statistics
import sys
import time

NUMERIC = {"cpu_busy_pct_before", "cpu_busy_pct_after", "slots", "jobs", "rep", "partial", "done", "db_bytes", "quick", "full",
           "runs", "parallel_runs", "count", "nproc"}

# Targets from the project's performance section.
TARGET_CEILING = 0.85       # muster >= 0.85 x the posix_spawn ceiling
TARGET_XARGS = 1.0          # faster than xargs -P
TARGET_PARALLEL = 7.0       # >= 7 x GNU parallel
TARGET_SEED_S = 10.0        # create a 1M-row run in < 10 s
TARGET_RSS_MB = 100.0       # peak RSS < 100 MB while the 1M run executes
TARGET_FLAT = 1.25          # per-job cost at 1M within 25% of the cost at 10k
NOISY = 1.25                # slowest / fastest repetition above this: flagged
BUSY_PCT = 15.0             # CPU already busy before the bench: warned


def cmd_record(path, pairs):
    rec = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in NUMERIC and value != "":
            try:
                rec[key] = int(value)
            except ValueError:
                rec[key] = float(value)
        else:
            rec[key] = value
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def runs_of(listing):
    """The runs in `muster list --json` output (an array, or {"runs": [...]})."""
    data = json.loads(listing)
    if isinstance(data, dict):
        data = data.get("runs", [data])
    if not isinstance(data, list):
        raise ValueError("unexpected JSON")
    return [r for r in data if isinstance(r, dict)]


def counts_of(run):
    counts = run.get("counts")
    if not isinstance(counts, dict):
        raise ValueError("run without counts")
    return counts


def cmd_check(expected, label):
    try:
        runs = runs_of(sys.stdin.read())
        succeeded = sum(int(counts_of(r).get("succeeded", 0)) for r in runs)
    except (ValueError, KeyError, TypeError) as e:
        print(f"  warning: {label}: could not read `muster list --json` ({e}); counts not verified",
              file=sys.stderr)
        return 0
    if succeeded != int(expected):
        print(f"  {label}: expected {expected} succeeded jobs, muster records {succeeded}",
              file=sys.stderr)
        return 1
    print(f"  verified: {label}: {succeeded} jobs succeeded in the store")
    return 0


def cmd_count(state):
    runs = runs_of(sys.stdin.read())
    print(sum(int(counts_of(r).get(state, 0)) for r in runs))
    return 0


def cpu_busy(seconds):
    """Percent of all CPU time that was not idle over the next SECONDS."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    total = total1 - total0
    return 0.0 if total <= 0 else 100.0 * (1 - (idle1 - idle0) / total)


def parse_time_v(path):
    """Wall seconds, peak RSS (kB) and exit status from a `/usr/bin/time -v` file."""
    wall = rss = status = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Elapsed (wall clock) time"):
                value = line.rsplit(": ", 1)[1]
                secs = 0.0
                for part in value.split(":"):
                    secs = secs * 60 + float(part)
                wall = secs
            elif line.startswith("Maximum resident set size"):
                rss = int(line.rsplit(": ", 1)[1])
            elif line.startswith("Exit status"):
                status = int(line.rsplit(": ", 1)[1])
    return {"seconds": wall, "max_rss_kb": rss, "exit_status": status}


def mb(kb):
    return None if kb is None else kb * 1024 / 1e6


def fmt_num(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}"


def div(a, b):
    return None if a is None or b in (None, 0) else a / b


def cmd_report(records_path, results_path, commands_path):
    with open(records_path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    meta = next((r for r in records if r.get("kind") == "meta"), {})
    meta = {k: v for k, v in meta.items() if k != "kind"}

    # ---- throughput
    throughput = []
    for r in records:
        if r.get("kind") != "throughput":
            continue
        times, command = [], None
        for path in r["hf"].split(","):
            with open(path) as f:
                hf = json.load(f)["results"][0]
            times += hf["times"]
            command = command or hf["command"]
        median = statistics.median(times)
        throughput.append({
            "tool": r["tool"], "slots": r["slots"], "jobs": r["jobs"],
            "runs": len(times), "median_s": median, "min_s": min(times), "max_s": max(times),
            "spread": max(times) / min(times), "noisy": max(times) / min(times) > NOISY,
            "times_s": times, "jobs_per_s": r["jobs"] / median, "command": command,
        })
    by = {(t["tool"], t["slots"]): t for t in throughput}
    slots_list = sorted({t["slots"] for t in throughput})
    ratios = {}
    for n in slots_list:
        m = by.get(("muster", n), {}).get("jobs_per_s")
        ratios[str(n)] = {
            "muster/ceiling": div(m, by.get(("ceiling", n), {}).get("jobs_per_s")),
            "muster/ceiling-arg": div(m, by.get(("ceiling-arg", n), {}).get("jobs_per_s")),
            "muster/xargs": div(m, by.get(("xargs", n), {}).get("jobs_per_s")),
            "muster/parallel": div(m, by.get(("parallel", n), {}).get("jobs_per_s")),
            "xargs/ceiling": div(by.get(("xargs", n), {}).get("jobs_per_s"),
                                 by.get(("ceiling", n), {}).get("jobs_per_s")),
            "xargs/ceiling-arg": div(by.get(("xargs", n), {}).get("jobs_per_s"),
                                     by.get(("ceiling-arg", n), {}).get("jobs_per_s")),
        }

    # ---- scale
    sizes = {}
    for r in records:
        if r.get("kind") != "scale":
            continue
        seed = parse_time_v(r["seed_time"])
        ex = parse_time_v(r["exec_time"])
        entry = sizes.setdefault(r["jobs"], {"jobs": r["jobs"], "slots": r["slots"],
                                             "partial": bool(r.get("partial")), "reps": []})
        done = r.get("done", r["jobs"]) if r.get("partial") else r["jobs"]
        if done == "":
            done = None
        entry["reps"].append({"seed": seed, "exec": ex, "done": done,
                              "db_bytes": r.get("db_bytes")})
    scale = []
    for jobs in sorted(sizes):
        e = sizes[jobs]
        seed_s = statistics.median(x["seed"]["seconds"] for x in e["reps"])
        exec_s = statistics.median(x["exec"]["seconds"] for x in e["reps"])
        done = e["reps"][0]["done"] if e["partial"] else jobs
        rate = div(done, exec_s)
        scale.append({
            "jobs": jobs, "slots": e["slots"], "runs": len(e["reps"]),
            "partial": e["partial"], "jobs_done": done,
            "seed_s": seed_s,
            "seed_max_rss_mb": mb(max(x["seed"]["max_rss_kb"] or 0 for x in e["reps"])),
            "exec_s": exec_s, "jobs_per_s": rate,
            "us_per_job": None if rate in (None, 0) else 1e6 / rate,
            "exec_max_rss_mb": mb(max(x["exec"]["max_rss_kb"] or 0 for x in e["reps"])),
            "store_bytes": e["reps"][0]["db_bytes"],
        })
    base = scale[0] if scale else None
    for s in scale:
        s["cost_ratio_vs_smallest"] = (None if base is None else
                                       div(base["jobs_per_s"], s["jobs_per_s"]))
    big = scale[-1] if scale else None

    # ---- targets
    targets = []

    def target(name, value, goal, met):
        targets.append({"name": name, "value": value, "target": goal,
                        "met": None if value is None else bool(met)})

    for n in slots_list:
        rr = ratios[str(n)]
        v = rr["muster/ceiling"]
        target(f"muster/ceiling at {n} slots", v, f">= {TARGET_CEILING}",
               v is not None and v >= TARGET_CEILING)
        v = rr["muster/ceiling-arg"]
        target(f"muster/ceiling-arg at {n} slots (same argv)", v, f">= {TARGET_CEILING}",
               v is not None and v >= TARGET_CEILING)
        v = rr["muster/xargs"]
        target(f"muster/xargs at {n} slots", v, f"> {TARGET_XARGS}",
               v is not None and v > TARGET_XARGS)
        v = rr["muster/parallel"]
        target(f"muster/parallel at {n} slots", v, f">= {TARGET_PARALLEL}",
               v is not None and v >= TARGET_PARALLEL)
    if big:
        target(f"create a {big['jobs']:,}-row run (s)", big["seed_s"], f"< {TARGET_SEED_S}",
               big["seed_s"] < TARGET_SEED_S)
        what = "first part of the" if big["partial"] else "whole"
        target(f"peak RSS executing the {what} {big['jobs']:,}-job run (MB)",
               big["exec_max_rss_mb"], f"< {TARGET_RSS_MB}",
               big["exec_max_rss_mb"] is not None and big["exec_max_rss_mb"] < TARGET_RSS_MB)
        v = big["cost_ratio_vs_smallest"]
        label = (f"per-job cost {big['jobs']:,} vs {base['jobs']:,}"
                 + (" (1M run partly executed)" if big["partial"] else ""))
        target(label, v, f"<= {TARGET_FLAT}", v is not None and v <= TARGET_FLAT)

    with open(commands_path) as f:
        commands = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]

    results = {"meta": meta, "throughput": throughput, "ratios": ratios, "scale": scale,
               "targets": targets, "commands": commands}
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    # ---- summary
    count = meta.get("count")
    print(f"machine: {meta.get('cpu', '?')}, {meta.get('nproc', '?')} cpus, {meta.get('kernel', '?')}")
    print(f"muster:  {meta.get('muster')} {meta.get('muster_version', '')}".rstrip())
    print()
    print(f"Throughput: {count:,} x true, jobs/s (median of the runs shown)")
    tools = ["ceiling", "ceiling-arg", "xargs", "parallel", "muster"]
    header = f"  {'tool':<16}" + "".join(f"{f'{n} slots':>16}" for n in slots_list)
    print(header)
    for tool in tools:
        row = f"  {tool:<16}"
        for n in slots_list:
            t = by.get((tool, n))
            cell = "-" if t is None else (f"{fmt_num(t['jobs_per_s'])} ({t['runs']}x)"
                                          + ("*" if t["noisy"] else " "))
            row += f"{cell:>16}"
        print(row)
    if any(t["noisy"] for t in throughput):
        print(f"  * its slowest run took over {NOISY}x its fastest: the machine was not quiet")
    print("  ratios")
    for name in ["muster/ceiling", "muster/ceiling-arg", "muster/xargs", "muster/parallel",
                 "xargs/ceiling", "xargs/ceiling-arg"]:
        print(f"  {name:<16}" + "".join(f"{fmt_ratio(ratios[str(n)][name]):>16}" for n in slots_list))

    if scale:
        print()
        print(f"Scale: CSV run, --seed-only then resume -j {scale[0]['slots']}")
        print(f"  {'jobs':>9} {'create s':>9} {'exec s':>8} {'jobs/s':>8} {'us/job':>8} "
              f"{'cost ratio':>10} {'peak RSS MB':>12}")
        for s in scale:
            jobs = f"{s['jobs']:,}"
            note = ""
            if s["partial"]:
                note = f"  (executed {s['exec_s']:.0f} s only: {fmt_num(s['jobs_done'])} jobs done)"
            print(f"  {jobs:>9} {fmt_num(s['seed_s'], 2):>9} {fmt_num(s['exec_s'], 2):>8} "
                  f"{fmt_num(s['jobs_per_s']):>8} {fmt_num(s['us_per_job'], 0):>8} "
                  f"{fmt_ratio(s['cost_ratio_vs_smallest']):>10} "
                  f"{fmt_num(s['exec_max_rss_mb'], 1):>12}{note}")

    busy = [meta.get("cpu_busy_pct_before"), meta.get("cpu_busy_pct_after")]
    if any(b is not None and b > BUSY_PCT for b in busy):
        print()
        print(f"WARNING: other work kept the CPUs busy ({busy[0]}% 2 s before the benchmark, "
              f"{busy[1]}% 2 s after it).\n         Every figure is distorted; rerun on an idle machine.")
    print()
    print("Targets")
    for t in targets:
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[t["met"]]
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        print(f"  {mark} {t['name']}: {value} (target {t['target']})")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "record":
        cmd_record(argv[2], argv[3:])
        return 0
    if cmd == "check":
        return cmd_check(argv[2], argv[3])
    if cmd == "cpubusy":
        print(f"{cpu_busy(float(argv[2])):.1f}")
        return 0
    if cmd == "count":
        return cmd_count(argv[2])
    if cmd == "report":
        return cmd_report(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

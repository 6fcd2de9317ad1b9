// The command line: one table row per subcommand. Parsing lives here alone;
// each subcommand's work lives in its own file.

#include "app/store.hpp"
#include "cli/config.hpp"
#include "cli/exit_code.hpp"
#include "cli/options.hpp"
#include "cli/shell.hpp"
#include "util/strings.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>
#include <vector>

namespace muster::cli {

namespace {

constexpr const char* k_placeholders = R"(Placeholders in the command:
  {}            the whole row (a line, or a value after :::)
  {1} {2}       fields by position (a CSV/TSV column, a ::: group)
  {name}        a field by name (a CSV/TSV column, a JSON key)
  {.} {/} {//} {/.}   {} without extension, its basename, its dirname, its
                basename without extension; also on fields: {1/.}, {path/}
  {#}           the job's position in the run, from 1
  {%} {slot}    the slot, from 1 ({%}) or from 0 ({slot})
  {job} {attempt} {run}   the job's id, the attempt number, the run's id
  {port.NAME} {slot_dir}  what the slot owns (see muster.toml [slots])
A command with no placeholder gets {} appended. {{ and }} are literal braces.
Values: ::: a b (a group), :::: FILE (a group of FILE's lines), :::+ (linked
to the group before: side by side, not crossed), or --input FILE, or stdin.

)";

/// `muster run`'s usage line names the command and its values.
class RunFormatter final : public CLI::Formatter {
public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    return "Usage: " + name + " [OPTIONS] [--] COMMAND [ARG...] [::: VALUES...]\n\n";
  }
};

struct Subcommand {
  const char* name;
  const char* description;
  std::function<std::function<int()>(CLI::App&, GlobalOptions&)> setup;
};

void add_output_flags(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_flag("--json", g.json, "Print JSON for scripts");
}

/// -j N, or relative to the CPU count as GNU parallel takes it: +N, -N, N%.
CLI::Option* add_slots_option(CLI::App& cmd, int64_t& slots, const std::string& what) {
  const CLI::Validator relative(
      [](std::string& value) -> std::string {
        const bool plus = !value.empty() && value[0] == '+';
        const bool minus = !value.empty() && value[0] == '-';
        const bool percent = !value.empty() && value.back() == '%';
        if (!plus && !minus && !percent) {
          return "";
        }
        const auto digits = util::parse_digits(
            std::string_view(value).substr(plus || minus ? 1 : 0,
                                           value.size() - (plus || minus) - percent),
            6);
        if (!digits) {
          return "expected N, +N, -N or N% (relative to the CPU count)";
        }
        const int64_t cpus = std::max<int64_t>(1, std::thread::hardware_concurrency());
        const int64_t n = *digits;
        const int64_t slots = plus ? cpus + n : minus ? cpus - n : cpus * n / 100;
        value = std::to_string(std::max<int64_t>(1, slots));
        return "";
      },
      "N|+N|-N|N%");
  return cmd.add_option("-j,--jobs", slots, what)
      ->transform(relative)
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
}

void add_halt_flag(CLI::App& cmd, std::string& halt) {
  cmd.add_option(
      "--halt", halt,
      "Stop once jobs fail, as GNU parallel: now,fail=N (stop running jobs too), "
      "soon,fail=N (let them finish), or fail=P%; the run stays resumable");
}

void add_job_output_flags(CLI::App& cmd, OutputFlags& o) {
  cmd.add_flag("--no-stdout", o.no_stdout, "Do not pass jobs' stdout to muster's stdout");
  cmd.add_flag("--no-stderr", o.no_stderr, "Do not pass jobs' stderr to muster's stderr");
  auto* k = cmd.add_flag("-k,--keep-order", o.keep_order,
                         "Each job's output whole, in input order");
  auto* lb = cmd.add_flag("--line-buffer", o.line_buffer,
                          "Jobs' output line by line as it comes, never cut mid-line");
  auto* u = cmd.add_flag("-u,--ungroup", o.ungroup, "Jobs' output as it comes, unsorted");
  k->excludes(lb)->excludes(u);
  lb->excludes(u);
  cmd.add_option("--load", o.load,
                 "No new job starts while the 1-minute load average is above this")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--memfree", o.memfree,
                 "No new job starts while less memory than this is available, e.g. 2G");
  cmd.add_option(
         "--exit-code", o.exit_code,
         "default (muster's codes) or count: the number of failed jobs, at most 100, "
         "as GNU parallel")
      ->check(CLI::IsMember({"default", "count"}));
  cmd.add_flag("--tag", o.tag, "Prefix each output line with the job's id and a tab");
  cmd.add_option("--tagstring", o.tagstring,
                 "Prefix each output line with this template, e.g. {name}, and a tab");
}

void add_heartbeat_flag(CLI::App& cmd, std::string& heartbeat) {
  cmd.add_option(
      "--heartbeat", heartbeat,
      "How often the agent sends heartbeats (default 2s); it is offline after 3 missed");
}

void add_deadline_flag(CLI::App& cmd, std::string& deadline) {
  cmd.add_option("--deadline", deadline,
                 "Stop the run after this long, e.g. 30m: running jobs are stopped, the "
                 "rest stay pending (exit 124)");
}

void add_wait_flags(CLI::App& cmd, bool& no_wait, bool& wait_locks) {
  cmd.add_flag("--wait-locks", wait_locks, "Wait for held locks instead of refusing");
  cmd.add_flag(
      "--no-wait", no_wait,
      "Exit (3 or 4) instead of waiting out a halt's cooldown or a limit's window");
}

std::function<int()> setup_run_mode(CLI::App& cmd, GlobalOptions& g, RunMode mode) {
  auto o = std::make_shared<RunOptions>();
  o->mode = mode;
  cmd.add_option("--config", o->config,
                 "Config file (default: ./muster.toml if present)");
  add_slots_option(cmd, o->slots,
                   "Parallel slots (default: one per CPU; +N, -N or N% of the CPUs)");
  cmd.add_option("-i,--input", o->inputs,
                 "Input file (CSV, TSV, JSON Lines, JSON or lines; - is stdin); repeat "
                 "for several")
      ->allow_extra_args(false);
  cmd.add_option("--format", o->format,
                 "Input format: csv, tsv, jsonl (one object per line), json (an array "
                 "of objects) or lines")
      ->check(CLI::IsMember({"csv", "tsv", "jsonl", "json", "ndjson", "lines"}));
  cmd.add_option("--json-path", o->json_path,
                 "The array of rows in a JSON input, as keys joined by dots, e.g. "
                 "data.jobs");
  cmd.add_option("--id-column", o->id_column, "Field that gives each job a stable id");
  cmd.add_option("--key", o->key, "Template of the job's key, e.g. {account}");
  cmd.add_flag("--shell", o->shell,
               "Run the command through sh -c, values quoted for sh");
  cmd.add_flag("--pty", o->pty,
               "Give each job a pseudo-terminal as stdin, stdout and stderr (its output "
               "is captured as stdout)");
  cmd.add_option("--retries", o->retries, "Maximum attempts per job (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd.add_option("--backoff", o->backoff, "Delay before the first retry (default 1s)");
  cmd.add_option("--backoff-max", o->backoff_max, "Longest retry delay (default 5m)");
  cmd.add_option("--timeout", o->timeout, "Stop a job after this long, e.g. 10m");
  cmd.add_option("--kill-grace", o->kill_grace, "SIGTERM to SIGKILL delay (default 10s)");
  cmd.add_option("--grace", o->grace, "Time running jobs get after Ctrl-C (default 30s)");
  cmd.add_option("--on-interrupt", o->on_interrupt,
                 "Jobs cut short by a crash or stop: requeue (default) or hold")
      ->check(CLI::IsMember({"requeue", "hold"}));
  cmd.add_option("--max-output", o->max_output,
                 "Output kept per job and stream (default 1M)");
  cmd.add_option("--name", o->name,
                 "Name the run; running the same name again resumes it");
  cmd.add_option("--per-key", o->per_key, "At most N jobs of one key at once")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd.add_option("--per-key-daily", o->per_key_daily,
                 "At most N starts of one key per day")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}));
  cmd.add_option("--day-starts", o->day_starts,
                 "When the daily window starts, HH:MM (default 00:00)");
  cmd.add_option("--timezone", o->timezone,
                 "Time zone of the daily window (default: the system's)");
  cmd.add_option("--count", o->count,
                 "What the daily cap counts: attempts (default) or successes")
      ->check(CLI::IsMember({"attempts", "successes"}));
  cmd.add_option("--limit-scope", o->limit_scope,
                 "Whose jobs --per-key and --per-key-daily count: run (default), or "
                 "store (every run of the store with the key)")
      ->check(CLI::IsMember({"run", "store"}));
  cmd.add_option("--rate", o->rate, "At most this many starts, e.g. 60/min, 2/s");
  cmd.add_option("--priority", o->priority,
                 "Template of each job's priority (higher first)");
  cmd.add_option("--lock", o->locks,
                 "A name the run holds while it runs; repeat for several")
      ->allow_extra_args(false);
  cmd.add_option("--job-lock", o->job_locks,
                 "Template of a lock each job holds, e.g. {device}; repeat for several")
      ->allow_extra_args(false);
  add_halt_flag(cmd, o->halt);
  cmd.add_option("--halt-mode", o->halt_mode,
                 "When a rule halts the run: drain (running jobs finish) or stop")
      ->check(CLI::IsMember({"drain", "stop"}));
  if (mode == RunMode::run) {
    // What only running does: validate and show-config run nothing.
    add_wait_flags(cmd, o->no_wait, o->wait_locks);
    add_heartbeat_flag(cmd, o->heartbeat);
    add_deadline_flag(cmd, o->deadline);
    cmd.add_flag("--seed-only", o->seed_only, "Create the run and its jobs; run nothing");
    cmd.add_flag(
        "--dry-run", o->dry_run,
        "Print each job's command (shell-quoted, or JSON with --json); create nothing");
    add_job_output_flags(cmd, o->output);
  }
  cmd.add_flag("-q,--quiet", g.quiet, "No progress line and no summary");
  add_output_flags(cmd, g);
  // Everything from the first non-option word on is the command template.
  cmd.prefix_command();
  cmd.allow_extras();
  return [o, &g, &cmd] {
    // Words CLI11 did not know (an unknown option, reported by cmd_run),
    // then the command, which it never saw.
    o->command = cmd.remaining();
    if (o->command.empty()) {
      o->command = cmd.get_parent()->remaining();
    }
    o->command.insert(o->command.end(), g.command.begin(), g.command.end());
    for (const CLI::Option* opt : cmd.get_options()) {
      if (opt->count() > 0 && !opt->get_lnames().empty()) {
        o->given.insert("--" + opt->get_lnames().front());
      }
      for (const auto& name : opt->get_lnames()) {
        o->flags.push_back("--" + name);
      }
    }
    return cmd_run(g, std::move(*o));
  };
}

std::function<int()> setup_run(CLI::App& cmd, GlobalOptions& g) {
  return setup_run_mode(cmd, g, RunMode::run);
}

std::function<int()> setup_validate(CLI::App& cmd, GlobalOptions& g) {
  return setup_run_mode(cmd, g, RunMode::validate);
}

std::function<int()> setup_show_config(CLI::App& cmd, GlobalOptions& g) {
  return setup_run_mode(cmd, g, RunMode::show_config);
}

std::function<int()> setup_resume(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<ResumeOptions>();
  auto* run = cmd.add_option("run", o->run, "Run id, id prefix or name");
  cmd.add_flag("--all", o->all,
               "Every paused run of the store that a live agent runs (pause --all)")
      ->excludes(run);

  add_slots_option(cmd, o->slots, "Parallel slots (default: the run's own)");
  add_job_output_flags(cmd, o->output);
  add_halt_flag(cmd, o->halt);
  add_wait_flags(cmd, o->no_wait, o->wait_locks);
  cmd.add_flag("--now", o->now, "End a halt's cooldown now");
  add_heartbeat_flag(cmd, o->heartbeat);
  add_deadline_flag(cmd, o->deadline);
  cmd.add_flag("-q,--quiet", g.quiet, "No progress line and no summary");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_resume(g, *o); };
}

std::function<int()> setup_status(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<StatusOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name (default: the newest run)");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_status(g, *o); };
}

std::function<int()> setup_list(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<ListOptions>();
  cmd.add_option("--status", o->status, "Only runs in this state")
      ->check(CLI::IsMember({"created", "running", "paused", "halted", "completed",
                             "cancelled", "failed"}));
  cmd.add_option("--limit", o->limit, "Only the newest N runs")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000000}));
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_list(g, *o); };
}

std::function<int()> setup_workers(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<WorkersOptions>();
  cmd.add_option("run", o->run, "Only this run's agents (id, prefix or name)");
  cmd.add_option("--status", o->status, "Only slots in this state")
      ->check(CLI::IsMember({"idle", "busy", "offline", "starting"}));
  cmd.add_flag("--all,-a", o->all,
               "Also the agents of runs that have ended (completed or cancelled)");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_workers(g, *o); };
}

std::function<int()> setup_summary(CLI::App& cmd, GlobalOptions& g) {
  add_output_flags(cmd, g);
  return [&g] { return cmd_summary(g); };
}

std::function<int()> setup_cleanup(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<CleanupOptions>();
  cmd.add_option("--days", o->days,
                 "Delete finished runs last changed more than N days ago")
      ->required()
      ->check(CLI::Range(0.0, 100000.0));
  cmd.add_flag("--dry-run", o->dry_run, "Only list what would be deleted");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_cleanup(g, *o); };
}

std::function<int()> setup_jobs(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<JobsOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("--state", o->state,
                 "Only jobs in this state (pending, running, succeeded, "
                 "failed, retrying, interrupted...)");
  cmd.add_option("--limit", o->limit, "At most this many jobs");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_jobs(g, *o); };
}

std::function<int()> setup_logs(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<LogsOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("job", o->job, "Job id");
  cmd.add_option("--slot", o->slot,
                 "Show slot N's log (its jobs, hooks and sidecar) instead")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  cmd.add_option("--host", o->host,
                 "With --slot: the slot of this host (a store shared by many hosts keeps "
                 "each one's slot logs)");
  cmd.add_flag("--stdout", o->stdout_only, "Only its stdout");
  cmd.add_flag("--stderr", o->stderr_only, "Only its stderr");
  cmd.add_flag("-f,--follow", o->follow,
               "Go on printing output as it is written, until the job ends (with --slot: "
               "until the run stops)");
  return [o, &g] { return cmd_logs(g, *o); };
}

std::function<int()> setup_export(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<ExportOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("--format", o->format,
                 "csv (default), jsonl, or joblog (GNU parallel's)")
      ->check(CLI::IsMember({"csv", "jsonl", "joblog"}));
  cmd.add_option("-o,--output", o->output, "Write to this file instead of stdout");
  cmd.add_option("--columns", o->columns,
                 "CSV columns to print, in order, e.g. account,state,exit_code (input "
                 "fields, or any key of `muster jobs --json`)");
  return [o, &g] { return cmd_export(g, *o); };
}

std::function<int()> setup_copy(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<CopyOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("--to", o->to,
                 "The store to copy it to: a directory, or postgres://USER@HOST/DB")
      ->required();
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_copy(g, *o); };
}

std::function<int()> setup_retry(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<RetryOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_flag("--failed", o->failed, "Only the failed jobs");
  cmd.add_flag("--interrupted", o->interrupted,
               "Only the interrupted jobs (held by --on-interrupt hold)");
  cmd.add_option("--job", o->job, "Only this job, by id");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  cmd.footer("With neither --failed nor --interrupted, both the failed and the "
             "interrupted\njobs move back to pending, with their attempts reset. A "
             "live agent of the run\npicks them up; else `muster resume RUN` runs "
             "them.\n\n" +
             exit_codes_help("retry"));
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_retry(g, *o); };
}

std::function<int()> setup_why(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<WhyOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("job", o->job, "Job id")->required();
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_why(g, *o); };
}

std::function<int()> setup_locks(CLI::App& cmd, GlobalOptions& g) {
  add_output_flags(cmd, g);
  return [&g] { return cmd_locks(g); };
}

std::function<int()> setup_lock(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<LockOptions>();
  cmd.add_option("names", o->names, "Lock names, such as file paths")->required();
  cmd.add_option("--holder", o->holder, "Who holds them: any name, such as a session id")
      ->required();
  cmd.add_option("--ttl", o->ttl, "Free them after this long, e.g. 30m");
  cmd.add_option("--pid", o->pid, "Free them when this process of this host ends");
  cmd.add_flag("--wait", o->wait, "Wait until all are free instead of refusing");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  cmd.footer("All or none: when another holds one of the names, none is taken and the\n"
             "message names the holder. Taking a lock --holder holds already renews\n"
             "its --ttl. Runs (--lock) and jobs (--job-lock) that need a name wait\n"
             "while it is held, and `muster locks` lists them.\n\n" +
             exit_codes_help("lock"));
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_lock(g, *o); };
}

std::function<int()> setup_unlock(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<LockOptions>();
  cmd.add_option("names", o->names, "Lock names (all that --holder holds when none)");
  cmd.add_option("--holder", o->holder, "Who holds them, as given to `muster lock`")
      ->required();
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  cmd.footer(
      "All or none: when another holds one of the names, none is freed. A name\n"
      "nobody holds is no error. The first job waiting on a freed name starts.\n\n" +
      exit_codes_help("unlock"));
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_unlock(g, *o); };
}

std::function<int()> setup_check(CLI::App& cmd, GlobalOptions& g) {
  add_output_flags(cmd, g);
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing when the store is sound");
  return [&g] { return cmd_check(g); };
}

std::function<int()> setup_join(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<JoinOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  add_slots_option(cmd, o->slots, "Parallel slots (default: the run's own)");
  add_job_output_flags(cmd, o->output);
  cmd.add_flag(
      "--no-wait", o->no_wait,
      "Exit (3 or 4) instead of waiting out a halt's cooldown or a limit's window");
  add_heartbeat_flag(cmd, o->heartbeat);
  cmd.add_flag("-q,--quiet", g.quiet, "No progress line and no summary");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_join(g, *o); };
}

std::function<int()> setup_pause(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<PauseOptions>();
  auto* run = cmd.add_option("run", o->run, "Run id, id prefix or name");
  cmd.add_flag("--all", o->all, "Every run of the store that a live agent runs")
      ->excludes(run);

  cmd.add_flag(
      "--stop-running", o->stop_running,
      "Also stop running jobs; they go back to pending without spending an attempt");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  return [o, &g] { return cmd_pause(g, *o); };
}

std::function<int()> setup_cancel(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<CancelOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_flag("-f,--force", o->force, "Do not ask for confirmation");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  return [o, &g] { return cmd_cancel(g, *o); };
}

std::function<int()> setup_scale(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<ScaleOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  add_slots_option(cmd, o->slots, "The new number of slots")->required();
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  return [o, &g] { return cmd_scale(g, *o); };
}

std::function<int()> setup_add(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<AddOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  cmd.add_option("-i,--input", o->inputs,
                 "Input file with the new rows; repeat for several")
      ->required();
  cmd.add_option("--format", o->format, "Input format: csv, tsv, jsonl, json or lines")
      ->check(CLI::IsMember({"csv", "tsv", "jsonl", "json", "ndjson", "lines"}));
  cmd.add_option("--json-path", o->json_path,
                 "The array of rows in a JSON input, e.g. data.jobs");
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_add(g, *o); };
}

std::function<int()> setup_events(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<EventsOptions>();
  cmd.add_option("run", o->run, "Run id, id prefix or name")->required();
  add_output_flags(cmd, g);
  return [o, &g] { return cmd_events(g, *o); };
}

std::function<int()> setup_stop_all(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_flag("-q,--quiet", g.quiet, "Say nothing");
  return [&g] { return cmd_stop_all(g); };
}

std::function<int()> setup_doctor(CLI::App& cmd, GlobalOptions& g) {
  add_output_flags(cmd, g);
  return [&g] { return cmd_doctor(g); };
}

std::function<int()> setup_completions(CLI::App& cmd, GlobalOptions& g) {
  auto shell = std::make_shared<std::string>();
  cmd.add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  cmd.footer(
      "Install: muster completions bash > /etc/bash_completion.d/muster (make install "
      "does it)\n\n" +
      exit_codes_help("completions"));
  return [shell, &cmd] {
    std::fputs(completion_script(*cmd.get_parent(), *shell).c_str(), stdout);
    return 0;
  };
}

std::function<int()> setup_man(CLI::App& cmd, GlobalOptions& g) {
  return [&cmd] {
    std::fputs(man_page(*cmd.get_parent(), exit_codes_help("")).c_str(), stdout);
    return 0;
  };
}

std::function<int()> setup_complete(CLI::App& cmd, GlobalOptions& g) {
  auto o = std::make_shared<CompleteOptions>();
  cmd.add_option("what", o->what)->required()->check(CLI::IsMember({"runs", "jobs"}));
  cmd.add_option("run", o->run);
  cmd.group(""); // for the completion scripts, not for people
  return [o, &g] { return cmd_complete(g, *o); };
}

const Subcommand k_subcommands[] = {
    {"run", "Create a run from input rows and run its jobs in parallel slots", setup_run},
    {"resume", "Continue a run that was stopped, crashed, paused, halted or seeded",
     setup_resume},
    {"join", "Add this terminal as another agent of a live run, with its own slots",
     setup_join},
    {"pause", "Stop claiming jobs for a run, from any terminal", setup_pause},
    {"cancel", "Stop a run's jobs and cancel the rest", setup_cancel},
    {"scale", "Change a live run's number of slots", setup_scale},
    {"add", "Append jobs to a run from more input rows", setup_add},
    {"events", "The control actions taken on a run: when, what, by whom", setup_events},
    {"status", "Counts, rate, ETA and what each slot runs", setup_status},
    {"list", "All runs in the store", setup_list},
    {"workers", "Every agent's slots: state, current job, sidecar", setup_workers},
    {"summary", "Workers, runs and jobs across the store", setup_summary},
    {"cleanup", "Delete finished runs older than some days, with their files",
     setup_cleanup},
    {"jobs", "A run's jobs and their states", setup_jobs},
    {"logs", "A job's captured output", setup_logs},
    {"export", "A run's jobs as CSV, JSON Lines or a GNU parallel joblog", setup_export},
    {"copy", "Copy a run's record (jobs, states, events, output) to another store",
     setup_copy},
    {"retry", "Move failed or interrupted jobs back to pending", setup_retry},
    {"why", "Why a job is not running: its state, its limits, locks and the run's halt",
     setup_why},
    {"locks", "The locks runs, jobs and holders hold", setup_locks},
    {"lock", "Take locks for a holder, store-wide, all or none", setup_lock},
    {"unlock", "Free the locks a holder took", setup_unlock},
    {"check", "Read every page of the store and say whether it is damaged", setup_check},
    {"validate", "Check the config, the command and every input row; run nothing",
     setup_validate},
    {"show-config", "The resolved settings and what each slot owns", setup_show_config},
    {"stop-all",
     "Drain and stop every live agent of this store; tear down after dead ones",
     setup_stop_all},
    {"doctor",
     "How this host contains jobs (cgroup or process groups), and how to get the strong "
     "mode",
     setup_doctor},
    {"completions", "A completion script for bash, zsh or fish", setup_completions},
    {"man", "The muster(1) manual page, in roff (man -l <(muster man))", setup_man},
    {"__complete", "Run ids, names and job ids for the completion scripts",
     setup_complete},
};

std::vector<std::string> subcommand_names() {
  std::vector<std::string> names{"help"};
  for (const auto& sub : k_subcommands) {
    names.emplace_back(sub.name);
  }
  return names;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& names) {
  const std::string near = util::closest(word, names);
  return near.empty() ? "" : "; did you mean '" + near + "'?";
}

/// Looks at the words before the subcommand: `help CMD` becomes `CMD
/// --help`, and an unknown subcommand or global option is an error with a
/// suggestion. Returns the exit code when it ends the command.
std::optional<int> check_leading_words(std::vector<std::string>& args) {
  const auto names = subcommand_names();
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& w = args[i];
    if (w == "--store" || w == "--store-mode") {
      ++i;
      continue;
    }
    if (w.rfind("--store=", 0) == 0 || w.rfind("--store-mode=", 0) == 0 ||
        w == "--version" || w == "-h" || w == "--help") {
      continue;
    }
    if (!w.empty() && w[0] == '-') {
      std::fprintf(stderr, "muster: unknown option '%s'%s (muster --help lists them)\n",
                   w.c_str(),
                   did_you_mean(w.substr(0, w.find('=')),
                                {"--store", "--store-mode", "--version", "--help"})
                       .c_str());
      return to_int(ExitCode::usage);
    }
    if (w == "help") {
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      if (i < args.size() && args[i][0] != '-') {
        args.insert(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, "--help");
        return check_leading_words(args);
      }
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i), "--help");
      return std::nullopt;
    }
    if (std::find(names.begin(), names.end(), w) == names.end()) {
      std::fprintf(stderr, "muster: unknown command '%s'%s (muster --help lists them)\n",
                   w.c_str(), did_you_mean(w, names).c_str());
      return to_int(ExitCode::usage);
    }
    return std::nullopt;
  }
  return std::nullopt;
}

/// For run, validate and show-config: cuts `args` where the command begins
/// (at `--`, or at the first word that is neither an option nor an option's
/// value) and returns the words from there on. Options are read only before
/// the command; nothing in the command or its `:::` values is ever one.
std::vector<std::string> split_off_command(const CLI::App& app,
                                           std::vector<std::string>& args) {
  size_t i = 1;
  while (i < args.size() && !args[i].empty() && args[i][0] == '-') {
    i += args[i] == "--store" || args[i] == "--store-mode" ? 2 : 1;
  }
  if (i >= args.size() ||
      (args[i] != "run" && args[i] != "validate" && args[i] != "show-config")) {
    return {};
  }
  const CLI::App* sub = app.get_subcommand(args[i]);
  const auto takes_value = [&](const std::string& name) {
    const CLI::Option* opt = sub->get_option_no_throw(name);
    if (opt == nullptr) {
      opt = app.get_option_no_throw(name);
    }
    return opt != nullptr && opt->get_items_expected_max() > 0;
  };
  size_t at = i + 1;
  while (at < args.size()) {
    const std::string& w = args[at];
    if (w == "--" || w.size() < 2 || w[0] != '-') {
      break;
    }
    size_t next = at + 1;
    if (w[1] == '-') {
      if (w.find('=') == std::string::npos && takes_value(w)) {
        ++next;
      }
    } else {
      // A cluster of short flags; the first that takes a value takes the
      // rest of the word, or the next word.
      for (size_t k = 1; k < w.size(); ++k) {
        if (takes_value(std::string("-") + w[k])) {
          next += k + 1 == w.size() ? 1 : 0;
          break;
        }
      }
    }
    at = next;
  }
  if (at >= args.size()) {
    return {};
  }
  std::vector<std::string> tail(args.begin() + static_cast<std::ptrdiff_t>(at),
                                args.end());
  args.resize(at);
  return tail;
}

/// CLI11's message for a parse error, said as muster says things: what was
/// wrong with which flag or argument, and what was expected.
std::string explain(const CLI::App* sub, const CLI::ParseError& e) {
  const std::string what = e.what();
  std::smatch m;
  // An argument's description, for "missing RUN: run id, id prefix or name".
  const auto described = [&](const std::string& name) {
    const CLI::Option* opt = sub ? sub->get_option_no_throw(name) : nullptr;
    if (!opt || opt->get_description().empty()) {
      return std::string();
    }
    std::string text = opt->get_description();
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return ": " + text;
  };
  // A positional argument is named as --help shows it: RUN, SHELL.
  const auto shown = [](std::string name) {
    if (name[0] != '-') {
      for (char& c : name) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    }
    return name;
  };
  static const std::regex range(R"(^(\S+): Value (.*) not in range (\S+) to (\S+)$)");
  static const std::regex member(R"(^(\S+): (.*) not in \{(.*)\}$)");
  static const std::regex required(R"(^(\S+) is required$)");
  static const std::regex missing(R"(^(\S+): \d+ required .* missing$)");
  static const std::regex convert(R"(^Could not convert: (\S+) = (.*)$)");
  if (std::regex_match(what, m, range)) {
    return m[1].str() + ": expected a whole number from " + m[3].str() + " to " +
           m[4].str() + " (got '" + m[2].str() + "')";
  }
  if (std::regex_match(what, m, member)) {
    std::string choices = m[3].str();
    for (size_t at = 0; (at = choices.find(',', at)) != std::string::npos; at += 2) {
      choices.replace(at, 1, ", ");
    }
    return shown(m[1].str()) + ": expected one of " + choices + " (got '" + m[2].str() +
           "')";
  }
  if (std::regex_match(what, m, required)) {
    const std::string name = m[1].str();
    return (name[0] == '-' ? name + " is required" : "missing " + shown(name)) +
           described(name);
  }
  if (std::regex_match(what, m, missing)) {
    return m[1].str() + ": expected a value after it" + described(m[1].str());
  }
  if (std::regex_match(what, m, convert)) {
    return m[1].str() + ": '" + m[2].str() + "' is not a value it takes" +
           described(m[1].str());
  }
  return what;
}

} // namespace

int main(int argc, char** argv) {
  // A closed stdout is an EPIPE to handle, not a death; jobs get the default back.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"muster: run batches of jobs in parallel slots, durably.\n"
               "Every job's state lives in a store, so a crash, Ctrl-C or reboot loses "
               "nothing and runs nothing twice.",
               "muster"};
  app.set_version_flag("--version", std::string("muster ") + MUSTER_VERSION);
  app.footer(exit_codes_help(""));
  app.require_subcommand(1);
  app.fallthrough();
  // `run` passes its command words up as extras; nothing else may have any.
  app.allow_extras();
  GlobalOptions g;
  app.add_option(
      "--store", g.store,
      "Store directory (default $MUSTER_STORE, else the nearest .muster here or "
      "above, else ./.muster)");
  app.add_option("--store-mode", g.store_mode,
                 "Mode of the store's directories, 0700 by default (default "
                 "$MUSTER_STORE_MODE); its files get it without execute bits, e.g. "
                 "0750 for a store its group may read");
  std::function<int()> action;
  for (const auto& sub : k_subcommands) {
    CLI::App* cmd = app.add_subcommand(sub.name, sub.description);
    const std::string name = sub.name;
    if (name == "run" || name == "validate" || name == "show-config") {
      cmd->formatter(std::make_shared<RunFormatter>());
      cmd->footer(std::string(k_placeholders) + exit_codes_help(name));
    } else {
      cmd->footer(exit_codes_help(name));
    }
    auto act = sub.setup(*cmd, g);
    cmd->callback([&action, act] { action = act; });
  }
  std::vector<std::string> args(argv, argv + argc);
  if (auto rc = check_leading_words(args)) {
    return *rc;
  }
  g.command = split_off_command(app, args);
  try {
    // CLI11 takes the words last to first.
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e); // --help, --version
    }
    const auto parsed = app.get_subcommands();
    const CLI::App* sub = parsed.empty() ? nullptr : parsed.back();
    const std::string who = sub ? "muster " + sub->get_name() : "muster";
    std::fprintf(stderr, "%s: %s (see %s --help)\n", who.c_str(), explain(sub, e).c_str(),
                 who.c_str());
    return to_int(ExitCode::usage);
  }
  for (const CLI::App* sub : app.get_subcommands()) {
    const bool takes_command = sub->get_name() == "run" ||
                               sub->get_name() == "validate" ||
                               sub->get_name() == "show-config";
    if (!takes_command && !app.remaining().empty()) {
      const std::string word = app.remaining().front();
      std::vector<std::string> flags;
      for (const CLI::Option* opt : sub->get_options()) {
        for (const auto& n : opt->get_lnames()) {
          flags.push_back("--" + n);
        }
      }
      std::fprintf(
          stderr, "muster %s: unexpected argument '%s'%s (see muster %s --help)\n",
          sub->get_name().c_str(), word.c_str(),
          word[0] == '-' ? did_you_mean(word.substr(0, word.find('=')), flags).c_str()
                         : "",
          sub->get_name().c_str());
      return to_int(ExitCode::usage);
    }
  }
  if (g.store.empty()) {
    // --store, then MUSTER_STORE, then muster.toml's store, then the
    // nearest .muster.
    const char* env = std::getenv("MUSTER_STORE");
    g.store = env && *env ? env : configured_store();
    if (g.store.empty()) {
      g.store = app::default_store_location();
    }
  }
  if (const char* env = std::getenv("MUSTER_STORE_MODE"); g.store_mode.empty() && env) {
    g.store_mode = env;
  }
  if (!g.store_mode.empty()) {
    const auto mode = app::parse_store_mode(g.store_mode);
    if (!mode) {
      std::fprintf(stderr, "muster: --store-mode: %s\n", mode.error().message.c_str());
      return to_int(ExitCode::usage);
    }
    app::set_store_mode(*mode);
  }
  try {
    return action ? action() : to_int(ExitCode::usage);
  } catch (const Failure& f) {
    const auto parsed = app.get_subcommands();
    if (g.json && !parsed.empty() && parsed.front()->get_name() == "validate") {
      // validate --json answers in JSON either way; the message also goes to stderr.
      nlohmann::ordered_json j = {{"ok", false}, {"jobs", nullptr}, {"error", f.message}};
      std::printf("%s\n", j.dump(2).c_str());
    }
    std::fflush(stdout);
    std::fprintf(stderr, "muster: %s\n", f.message.c_str());
    return to_int(f.code);
  }
}

} // namespace muster::cli

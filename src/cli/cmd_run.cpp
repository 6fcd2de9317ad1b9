// `muster run`: check everything, create the run and its jobs in one
// transaction, then run them. `muster resume`: run an existing run again.

#include "app/control.hpp"
#include "app/create.hpp"
#include "app/queries.hpp"
#include "cli/common.hpp"
#include "cli/config.hpp"
#include "core/locks.hpp"
#include "store/codec.hpp"
#include "store/open.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>
#include <type_traits>
#include <unistd.h>

namespace muster::cli {

namespace {

/// Unwraps a flag's parsed value, or throws Failure(usage) naming the flag.
template <typename T> T flag_value(const std::string& flag, util::Result<T> r) {
  if (!r) {
    throw Failure{ExitCode::usage, flag + ": " + r.error().message};
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*r);
  }
}

int64_t duration_flag(const std::string& flag, const std::string& value) {
  return flag_value(flag, util::parse_duration_ms(value));
}

core::RunSettings settings_from(const RunOptions& o, std::vector<std::string> command) {
  core::RunSettings s;
  s.command = std::move(command);
  s.shell = o.shell ? core::Shell::yes : core::Shell::no;
  s.pty = o.pty;
  s.slots =
      o.slots > 0 ? o.slots : std::max<int64_t>(1, std::thread::hardware_concurrency());
  s.max_attempts = o.retries;
  s.backoff.initial_ms = duration_flag("--backoff", o.backoff);
  s.backoff.max_ms = duration_flag("--backoff-max", o.backoff_max);
  s.timeout_ms = o.timeout.empty() ? 0 : duration_flag("--timeout", o.timeout);
  if (!o.timeout.empty() && s.timeout_ms <= 0) {
    throw Failure{ExitCode::usage, "--timeout: must be more than 0"};
  }
  s.kill_grace_ms = duration_flag("--kill-grace", o.kill_grace);
  s.grace_ms = duration_flag("--grace", o.grace);
  s.on_interrupt = *core::parse_on_interrupt(o.on_interrupt);
  auto bytes = util::parse_bytes(o.max_output);
  if (!bytes) {
    throw Failure{ExitCode::usage, "--max-output: " + bytes.error().message};
  }
  s.max_output = *bytes;
  s.key = o.key;
  s.id_column = o.id_column;
  s.rules = o.rules;
  s.halt_mode = *core::parse_halt_mode(o.halt_mode);
  auto& l = s.limits;
  l.per_key = o.per_key;
  l.per_key_daily = o.per_key_daily;
  l.day_start_min = flag_value("--day-starts", core::parse_time_of_day(o.day_starts));
  flag_value("--timezone", util::TimeZone::load(o.timezone));
  l.timezone = o.timezone;
  l.count = *core::parse_cap_count(o.count);
  l.scope = *core::parse_limit_scope(o.limit_scope);
  if (!o.rate.empty()) {
    l.rate_interval_us = flag_value("--rate", core::parse_rate(o.rate));
    l.rate = o.rate;
  }
  if ((l.per_key > 0 || l.per_key_daily > 0) && o.key.empty()) {
    throw Failure{ExitCode::usage,
                  std::string(l.per_key > 0 ? "--per-key" : "--per-key-daily") +
                      ": a per-key limit needs --key (the key it applies to, "
                      "such as {account})"};
  }
  s.priority = o.priority;
  s.locks = o.locks;
  for (const auto& name : s.locks) {
    flag_value("--lock", core::check_lock_name(name));
  }
  s.job_locks = o.job_locks;
  return s;
}

int show_config(const GlobalOptions& g, const RunOptions& o, const core::RunSettings& s,
                const std::vector<core::SlotPorts>& ports) {
  // What each slot owns, as the agent will lay it out (RUN is the run's id).
  struct Row {
    std::string ports, dir, sidecar, log;
  };
  std::vector<Row> rows;
  const core::RunFiles files = app::run_files(g.store, "RUN");
  for (const auto& slot : ports) {
    Row row;
    auto values = core::slot_values(slot);
    for (const auto& [name, range] : slot.ports) {
      row.ports +=
          (row.ports.empty() ? "" : " ") + name + "=" + std::to_string(range.first) +
          (range.first == range.second ? "" : "-" + std::to_string(range.second));
    }
    row.dir = s.slot.dir ? files.slot_dir(slot.slot) : "-";
    values["slot_dir"] = row.dir;
    core::JobContext ctx{"", "RUN", slot.slot, 0, &values};
    for (const auto& word : s.slot.sidecar) {
      row.sidecar += (row.sidecar.empty() ? "" : " ") +
                     core::render_without_row(word, core::Shell::no, ctx);
    }
    if (row.sidecar.empty()) {
      row.sidecar = "-";
    }
    if (row.ports.empty()) {
      row.ports = "-";
    }
    row.log = files.slot_log(slot.slot);
    rows.push_back(std::move(row));
  }
  nlohmann::ordered_json slots = nlohmann::ordered_json::array();
  for (const auto& slot : ports) {
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (const auto& [name, range] : slot.ports) {
      p[name] =
          range.first == range.second
              ? nlohmann::ordered_json(range.first)
              : nlohmann::ordered_json{{"first", range.first}, {"last", range.second}};
    }
    const Row& row = rows[static_cast<size_t>(slot.slot)];
    slots.push_back(
        {{"slot", slot.slot},
         {"ports", p},
         {"dir", row.dir == "-" ? nlohmann::ordered_json(nullptr)
                                : nlohmann::ordered_json(row.dir)},
         {"sidecar", row.sidecar == "-" ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(row.sidecar)},
         {"log", row.log}});
  }
  auto settings = nlohmann::ordered_json::parse(store::encode_settings(s));
  settings.erase("inputs");
  nlohmann::ordered_json j = {{"config", o.config_used.empty()
                                             ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(o.config_used)},
                              {"inputs", o.inputs},
                              {"settings", settings},
                              {"slots", slots}};
  if (g.json) {
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return to_int(ExitCode::ok);
  }
  std::printf("config:    %s\n",
              o.config_used.empty() ? "(none)" : o.config_used.c_str());
  std::printf("command:   %s%s\n", util::join(s.command, " ").c_str(),
              s.shell == core::Shell::yes ? "  (through sh -c)" : "");
  std::printf("inputs:    %s\n", o.inputs.empty() ? "stdin or ::: arguments"
                                                  : util::join(o.inputs, ", ").c_str());
  std::printf("slots:     %lld\n", static_cast<long long>(s.slots));
  std::printf("attempts:  %lld, backoff %s up to %s\n",
              static_cast<long long>(s.max_attempts),
              util::format_duration(s.backoff.initial_ms).c_str(),
              util::format_duration(s.backoff.max_ms).c_str());
  std::printf("timeout:   %s, kill grace %s, stop grace %s\n",
              s.timeout_ms > 0 ? util::format_duration(s.timeout_ms).c_str() : "none",
              util::format_duration(s.kill_grace_ms).c_str(),
              util::format_duration(s.grace_ms).c_str());
  std::printf("interrupt: %s\n", std::string(core::to_string(s.on_interrupt)).c_str());
  ui::Table t({"SLOT", "PORTS", "DIR", "SIDECAR", "LOG"});
  for (size_t i = 0; i < rows.size(); ++i) {
    t.add({std::to_string(i), rows[i].ports, rows[i].dir, rows[i].sidecar, rows[i].log});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

int64_t heartbeat_flag(const std::string& value) {
  const int64_t ms = duration_flag("--heartbeat", value);
  if (ms < 100) {
    throw Failure{ExitCode::usage, "--heartbeat: must be at least 100ms"};
  }
  return ms;
}

int64_t deadline_flag(const std::string& value) {
  if (value.empty()) {
    return 0;
  }
  const int64_t ms = duration_flag("--deadline", value);
  if (ms <= 0) {
    throw Failure{ExitCode::usage, "--deadline: must be more than 0"};
  }
  return ms;
}

app::ExecOptions exec_options(const RunOptions& o) {
  app::ExecOptions e;
  e.heartbeat_ms = heartbeat_flag(o.heartbeat);
  e.deadline_ms = deadline_flag(o.deadline);
  e.slots = o.slots;
  e.no_wait = o.no_wait;
  e.wait_locks = o.wait_locks;
  e.halt = flag_value("--halt", agent::parse_halt_on_failure(o.halt));
  return e;
}

int resume_named(const GlobalOptions& g, const RunOptions& o, app::ExecOptions exec,
                 const store::RunRecord& run, const core::RunSettings& wanted) {
  auto resumable = check(app::check_resumable(run, o.name, wanted, o.given));
  exec.retune = std::move(resumable.retuned);
  if (!g.quiet && !g.json) {
    // What runs again, and what does not.
    auto store = open_store(g, store::Create::no, store::Access::read_only);
    const auto counts = check(app::run_status(*store, run.id)).counts;
    const int64_t left = counts.total() - counts.finished();
    std::string what = std::to_string(left) + " job(s) left will run";
    if (counts[core::JobState::succeeded] > 0) {
      what += "; " + std::to_string(counts[core::JobState::succeeded]) +
              " that succeeded will not";
    }
    const int64_t failed =
        counts[core::JobState::failed] + counts[core::JobState::interrupted];
    if (failed > 0) {
      what += "; " + std::to_string(failed) +
              " that failed or were interrupted will not " + "(`muster retry " + o.name +
              "` runs them again)";
    }
    std::fprintf(stderr,
                 "muster: run '%s' exists (%s): continuing it: %s. Its rows were fixed "
                 "when it was created, so the input is not read again\n",
                 o.name.c_str(), run.id.c_str(), what.c_str());
    if (!resumable.applied.empty()) {
      std::fprintf(stderr, "muster: run '%s' takes the new %s from its next job%s\n",
                   o.name.c_str(), resumable.applied.c_str(),
                   o.seed_only ? " (when it runs)" : "");
    }
  }
  if (o.seed_only) {
    if (exec.retune) {
      auto store = open_store(g, store::Create::no);
      check(app::retune_idle(*store, run, *exec.retune));
    }
    std::printf("%s\n", run.id.c_str());
    return to_int(ExitCode::ok);
  }
  auto store = open_store(g, store::Create::no);
  return execute(*store, run, g, exec, o.output);
}

/// Prints what `validate` found: every row was read and is fine.
int report_valid(const GlobalOptions& g, const RunOptions& o, int64_t count) {
  if (g.json) {
    std::printf("%s\n",
                ui::dump({{"ok", true}, {"jobs", count}, {"error", nullptr}}, 2).c_str());
  } else if (!g.quiet) {
    std::printf("ok: %lld jobs%s%s\n", static_cast<long long>(count),
                o.config_used.empty() ? "" : ", config ", o.config_used.c_str());
  }
  return to_int(ExitCode::ok);
}

/// Prints the id of a run created with --seed-only.
int report_seeded(const GlobalOptions& g, const store::RunRecord& run) {
  if (g.json) {
    auto store = open_store(g, store::Create::no, store::Access::read_only);
    const auto counts = check(app::run_status(*store, run.id)).counts;
    std::printf("%s\n", ui::dump(ui::run_json(run, counts, false), 2).c_str());
  } else {
    std::printf("%s\n", run.id.c_str());
    if (!g.quiet && isatty(2)) {
      std::fprintf(stderr,
                   "muster: created run %s with %lld jobs; `muster resume %s` runs it\n",
                   run.id.c_str(), static_cast<long long>(run.total), run.id.c_str());
    }
  }
  return to_int(ExitCode::ok);
}

/// The output flags that can be wrong, checked before anything is created.
void check_output_flags(const OutputFlags& f) {
  if (!f.memfree.empty()) {
    flag_value("--memfree", util::parse_bytes(f.memfree));
  }
  if (!f.tagstring.empty()) {
    flag_value("--tagstring", core::Template::parse_word(f.tagstring));
  }
}

/// What to say of an option `run` does not know: GNU parallel's and xargs'
/// habits get what to use instead; anything else a "did you mean".
std::string unknown_run_option(const std::string& word,
                               const std::vector<std::string>& known) {
  static const std::pair<const char*, const char*> k_instead[] = {
      {"-P", "-P is xargs'; use -j N"},
      {"--max-procs", "--max-procs is xargs'; use -j N"},
      {"--joblog", "a joblog is `muster export RUN --format joblog`"},
      {"--resume",
       "--name NAME runs a named run again where it stopped; or `muster resume RUN`"},
      {"--resume-failed", "failed jobs run again with `muster retry RUN`"},
      {"--retry-failed", "failed jobs run again with `muster retry RUN`"},
      {"--retry", "use --retries N (attempts per job)"},
      {"-a", "use -i FILE, or :::: FILE"},
      {"--arg-file", "use -i FILE, or :::: FILE"},
      {"-n", "muster runs one command per input row; there is no -n"},
      {"--max-args", "muster runs one command per input row; there is no --max-args"},
      {"-I", "muster's placeholder is {} (and {1}, {name}); there is no -I"},
      {"--colsep", "use a CSV or TSV input (--format csv|tsv) and {1}, {2} or {name}"},
      {"--bar", "the progress line is shown on a terminal by default"},
      {"--progress", "the progress line is shown on a terminal by default"},
      {"--eta", "the progress line shows the ETA on a terminal by default"},
  };
  const std::string flag = word.substr(0, word.find('='));
  for (const auto& [name, instead] : k_instead) {
    if (flag == name) {
      return "unknown option '" + word + "': " + instead;
    }
  }
  const std::string near = util::closest(flag, known);
  return "unknown option '" + word + "'" +
         (near.empty() ? "" : "; did you mean " + near + "?") +
         " (see muster run --help; the command goes after --)";
}

/// The lines of `path`, for `:::: FILE`: each is a value (CR LF is fine).
std::vector<std::string> read_value_lines(const std::string& path) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) {
    throw Failure{ExitCode::usage,
                  ":::: " + path + ": cannot read it: " + std::strerror(errno)};
  }
  std::vector<std::string> lines;
  std::string line;
  int c;
  bool any = false;
  while ((c = std::fgetc(f)) != EOF) {
    any = true;
    if (c == '\n') {
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      lines.push_back(std::move(line));
      line.clear();
      any = false;
    } else {
      line += static_cast<char>(c);
    }
  }
  if (any) {
    lines.push_back(std::move(line));
  }
  if (f != stdin) {
    std::fclose(f);
  }
  return lines;
}

} // namespace

int cmd_run(const GlobalOptions& g, RunOptions o) {
  // Split `CMD ARGS ::: a b ::: c d` into the command and argument groups:
  // `:::+` links a group to the one before it, `:::: FILE` reads one from a
  // file's lines (`::::+` linked).
  std::vector<std::vector<std::string>> groups;
  std::vector<bool> linked;
  bool file_next = false;
  for (size_t i = 0; i < o.command.size(); ++i) {
    const std::string& word = o.command[i];
    if (word == ":::" || word == ":::+" || word == "::::" || word == "::::+") {
      groups.emplace_back();
      linked.push_back(word.back() == '+');
      if (linked.back() && groups.size() == 1) {
        throw Failure{ExitCode::usage, word +
                                           " links values to the group before it, and "
                                           "there is none; use " +
                                           word.substr(0, word.size() - 1)};
      }
      file_next = word.rfind("::::", 0) == 0;
      if (file_next && i + 1 == o.command.size()) {
        throw Failure{ExitCode::usage, word + ": expected a file after it"};
      }
      continue;
    }
    if (groups.empty()) {
      o.command_words.push_back(word);
    } else if (file_next) {
      // Every line of the file is one value of the group.
      file_next = false;
      auto lines = read_value_lines(word);
      groups.back() = std::move(lines);
    } else {
      groups.back().push_back(word);
    }
  }
  std::vector<std::string>& command = o.command_words;
  if (!command.empty() && command.front() == "--") {
    command.erase(command.begin());
  } else if (!command.empty() && command.front().size() > 1 &&
             command.front()[0] == '-') {
    // Options end where the command begins; a command never starts with '-'.
    throw Failure{ExitCode::usage, unknown_run_option(command.front(), o.flags)};
  }
  check(apply_config(o));
  if (o.given.contains("--name") && o.name.empty()) {
    throw Failure{ExitCode::usage, "--name: expected a name, not an empty one"};
  }
  if (command.empty() && !groups.empty()) {
    // Such as `::: a b -- echo {}`: the values came first.
    throw Failure{ExitCode::usage,
                  "no command before ':::': the command goes first, as in "
                  "muster run [OPTIONS] [--] COMMAND [ARG...] ::: VALUES..."};
  }
  core::RunSettings settings = settings_from(o, command);
  // Every flag is checked before anything is created.
  const app::ExecOptions exec = exec_options(o);
  check_output_flags(o.output);
  settings.ports = o.ports;
  settings.slot = o.slot;
  const auto ports = check(app::plan_slots(settings));
  if (o.mode == RunMode::show_config && command.empty()) {
    return show_config(g, o, settings, ports);
  }
  const app::JobTemplates templates = check(app::check_templates(settings));
  if (o.mode == RunMode::show_config) {
    return show_config(g, o, settings, ports);
  }
  if (o.mode == RunMode::run) {
    if (auto existing = check(app::find_named(g.store, o.name))) {
      return resume_named(g, o, exec, *existing, settings);
    }
  }
  const bool tell = !g.quiet && !g.json && isatty(STDERR_FILENO);
  if (tell && !o.config_used.empty() && o.config.empty()) {
    std::fprintf(stderr,
                 "muster: using %s from this directory (--config chooses another)\n",
                 o.config_used.c_str());
  }
  if (tell && templates.command.appended_row()) {
    std::fprintf(stderr,
                 "muster: the command has no placeholder, so each job's row is "
                 "appended as its last argument ({}: %s)\n",
                 !groups.empty() ? "the ::: values, joined by a space"
                                 : "the whole line or record of the input");
  }
  if (tell && groups.empty() && o.inputs.empty() && isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "muster: reading rows from the terminal; end them with Ctrl-D "
                         "(or give --input FILE, or ::: VALUES)\n");
  }
  const app::RunInputs inputs{o.inputs, o.format, std::move(groups), std::move(linked),
                              o.json_path};
  if (o.dry_run) {
    check(app::validate_rows(settings, templates, inputs, [&](const auto& argv) {
      if (g.json) {
        std::printf("%s\n", nlohmann::json(argv).dump().c_str());
      } else {
        std::printf("%s\n", util::shell_words(argv).c_str());
      }
    }));
    return to_int(ExitCode::ok);
  }
  if (o.mode == RunMode::validate) {
    return report_valid(g, o, check(app::validate_rows(settings, templates, inputs)));
  }
  app::CreateOptions copts;
  copts.check_locks = !o.seed_only;
  copts.wait_locks = o.wait_locks;
  copts.waiting = lock_waiting(g.quiet || g.json);
  const bool store_existed = !store::is_new(g.store);
  const auto run =
      check(app::create_run(g.store, o.name, settings, templates, inputs, copts));
  if (tell && !store_existed) {
    std::fprintf(stderr,
                 "muster: created the store in %s (--store or MUSTER_STORE chooses "
                 "another)\n",
                 g.store.c_str());
  }
  if (run.total == 0 && !g.quiet) {
    std::fprintf(stderr,
                 "muster: warning: the input has no rows, so run %s has no jobs\n",
                 run.id.c_str());
  }
  if (o.seed_only) {
    return report_seeded(g, run);
  }
  auto store = open_store(g, store::Create::no);
  return execute(*store, run, g, exec, o.output);
}

int cmd_join(const GlobalOptions& g, const JoinOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = check(app::join(*store, o.run, o.slots));
  app::ExecOptions e;
  e.slots = o.slots;
  e.no_wait = o.no_wait;
  e.join = true;
  e.heartbeat_ms = heartbeat_flag(o.heartbeat);
  return execute(*store, run, g, e, o.output);
}

int cmd_resume(const GlobalOptions& g, const ResumeOptions& o) {
  if (o.run.empty() && !o.all) {
    throw Failure{ExitCode::usage, "resume: give a RUN (id, prefix or name), or --all"};
  }
  auto store = open_store(g, store::Create::no);
  if (o.all) {
    const auto resumed = check(app::resume_all(*store, o.slots, o.now));
    if (!g.quiet) {
      std::string ids;
      for (const auto& r : resumed) {
        ids += " " + r.run.id;
      }
      std::fprintf(stderr,
                   "muster: resumed %zu live run(s)%s%s; a run with no live agent "
                   "needs `muster resume RUN`\n",
                   resumed.size(), ids.empty() ? "" : ":", ids.c_str());
    }
    return to_int(ExitCode::ok);
  }
  const auto resumed = check(app::resume(*store, o.run, o.slots, o.now));
  const auto& run = resumed.run;
  if (resumed.agent_alive) {
    if (!g.quiet) {
      std::fprintf(stderr, "muster: run %s: its agent (pid %lld) continues%s\n",
                   run.id.c_str(), static_cast<long long>(run.holder.pid),
                   o.slots > 0 ? (" with " + std::to_string(o.slots) + " slot(s)").c_str()
                               : "");
    }
    return to_int(ExitCode::ok);
  }
  app::ExecOptions e;
  e.slots = o.slots;
  e.no_wait = o.no_wait;
  e.wait_locks = o.wait_locks;
  e.heartbeat_ms = heartbeat_flag(o.heartbeat);
  e.deadline_ms = deadline_flag(o.deadline);
  e.halt = flag_value("--halt", agent::parse_halt_on_failure(o.halt));
  return execute(*store, run, g, e, o.output);
}

} // namespace muster::cli

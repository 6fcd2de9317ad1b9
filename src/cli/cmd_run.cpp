// `muster run`: check everything, create the run and its jobs in one
// transaction, then run them. `muster resume`: run an existing run again.

#include "cli/common.hpp"
#include "core/template.hpp"
#include "input/reader.hpp"
#include "store/codec.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <filesystem>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace muster::cli {

namespace {

int64_t duration_flag(const std::string& flag, const std::string& value) {
  auto ms = util::parse_duration_ms(value);
  if (!ms) {
    throw Failure{ExitCode::usage, flag + ": " + ms.error().message};
  }
  return *ms;
}

core::RunSettings settings_from(const RunOptions& o, std::vector<std::string> command) {
  core::RunSettings s;
  s.command = std::move(command);
  s.shell = o.shell ? core::Shell::yes : core::Shell::no;
  s.slots = o.slots > 0 ? o.slots : std::max<int64_t>(1, std::thread::hardware_concurrency());
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
  return s;
}

/// The rows a run is made of: open readers and what they name.
struct Rows {
  std::vector<std::unique_ptr<input::Reader>> readers;
  std::vector<std::string> labels; ///< file names for messages
  std::vector<std::string> columns;
  input::Format format = input::Format::lines;
  size_t field_count = 1; ///< for unnamed rows
  bool per_row_names = false; ///< JSON Lines: names come with each row
};

Rows open_rows(const RunOptions& o, std::vector<std::vector<std::string>> groups) {
  Rows rows;
  if (!groups.empty()) {
    if (!o.inputs.empty()) {
      throw Failure{ExitCode::usage, "give rows with --input or after :::, not both"};
    }
    rows.field_count = groups.size();
    rows.readers.push_back(input::make_args_reader(std::move(groups)));
    rows.labels.emplace_back(":::");
    return rows;
  }
  std::vector<std::string> paths = o.inputs.empty() ? std::vector<std::string>{"-"} : o.inputs;
  std::optional<input::Format> forced;
  if (!o.format.empty()) {
    forced = input::parse_format(o.format);
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    const auto format = forced ? *forced : input::format_for_path(paths[i]);
    if (i > 0 && format != rows.format) {
      throw Failure{ExitCode::usage, "--input " + paths[i] + ": its format (" +
                                         std::string(input::format_name(format)) +
                                         ") differs from the first input's (" +
                                         std::string(input::format_name(rows.format)) + ")"};
    }
    rows.format = format;
    auto reader = check(input::open_reader(paths[i], format));
    if (i == 0) {
      rows.columns = reader->columns();
    } else if (reader->columns() != rows.columns) {
      throw Failure{ExitCode::usage, "--input " + paths[i] +
                                         ": its header differs from the first input's"};
    }
    rows.readers.push_back(std::move(reader));
    rows.labels.push_back(paths[i] == "-" ? "<stdin>" : paths[i]);
  }
  rows.per_row_names = rows.format == input::Format::jsonl;
  rows.field_count = rows.columns.empty() ? 1 : rows.columns.size();
  return rows;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

int resume_named(const GlobalOptions& g, const RunOptions& o, store::sqlite::SqliteStore& store,
                 const store::RunRecord& run, const std::vector<std::string>& command) {
  if (run.settings.command != command) {
    throw Failure{ExitCode::usage, "a run named '" + o.name + "' exists with another command (" +
                                       util::join(run.settings.command, " ") +
                                       "); use `muster resume " + o.name +
                                       "` or another --name"};
  }
  if (!g.quiet && !g.json) {
    std::fprintf(stderr, "muster: run '%s' exists (%s): continuing it; its rows were fixed when "
                         "it was created, so the input is not read again\n",
                 o.name.c_str(), run.id.c_str());
  }
  if (o.seed_only) {
    std::printf("%s\n", run.id.c_str());
    return to_int(ExitCode::ok);
  }
  return execute(store, run, g, o.slots, !o.no_stdout);
}

} // namespace

int cmd_run(const GlobalOptions& g, RunOptions o) {
  // Split `CMD ARGS ::: a b ::: c d` into the command and argument groups.
  std::vector<std::string> command;
  std::vector<std::vector<std::string>> groups;
  for (auto& word : o.command) {
    if (word == ":::") {
      groups.emplace_back();
    } else if (groups.empty()) {
      command.push_back(word);
    } else {
      groups.back().push_back(word);
    }
  }
  if (!command.empty() && command.front() == "--") {
    command.erase(command.begin());
  } else if (!command.empty() && command.front().size() > 1 && command.front()[0] == '-') {
    // Options end where the command begins; a command never starts with '-'.
    throw Failure{ExitCode::usage, "run: unknown option '" + command.front() +
                                       "' (see muster run --help; the command goes after --)"};
  }
  core::RunSettings settings = settings_from(o, command);
  auto tmpl = core::Template::parse_command(command, settings.shell);
  if (!tmpl) {
    throw Failure{ExitCode::usage, tmpl.error().message};
  }
  std::optional<core::Template> key;
  if (!o.key.empty()) {
    key = check(core::Template::parse_word(o.key));
  }

  if (!o.name.empty() && path_exists(g.store)) {
    auto store = open_store(g, store::sqlite::Create::no);
    auto existing = store->find_run(o.name);
    if (existing && existing->name == o.name) {
      return resume_named(g, o, *store, *existing, command);
    }
  }

  Rows rows = open_rows(o, std::move(groups));
  for (const auto& label : rows.labels) {
    settings.inputs.push_back(label);
  }
  if (!rows.per_row_names) {
    check(tmpl->check_fields(rows.columns, rows.field_count, "the command"));
    if (key) {
      check(key->check_fields(rows.columns, rows.field_count, "--key"));
    }
    if (!o.id_column.empty()) {
      if (rows.columns.empty()) {
        throw Failure{ExitCode::usage, "--id-column " + o.id_column +
                                           ": the input has no named fields (use CSV, TSV "
                                           "or JSON Lines)"};
      }
      if (std::find(rows.columns.begin(), rows.columns.end(), o.id_column) ==
          rows.columns.end()) {
        throw Failure{ExitCode::usage, "--id-column " + o.id_column + ": no such column; the "
                                           "columns are " + util::join(rows.columns, ", ")};
      }
    }
  }

  const bool fresh_store = !path_exists(g.store);
  auto store = open_store(g, store::sqlite::Create::yes);
  store::RunRecord run;
  run.name = o.name;
  run.settings = settings;
  run.columns = rows.columns;

  size_t current = 0;
  int64_t seq = 0;
  input::Record rec;
  auto next = [&](store::NewJob& job) -> util::Result<bool> {
    for (;;) {
      if (current >= rows.readers.size()) {
        return false;
      }
      auto more = rows.readers[current]->next(rec);
      if (!more) {
        return more.error();
      }
      if (*more) {
        break;
      }
      ++current;
    }
    ++seq;
    const std::string where = rows.labels[current] + ":" + std::to_string(rec.line);
    const auto& names = rows.per_row_names ? rec.names : rows.columns;
    if (rows.per_row_names) {
      if (auto r = tmpl->check_fields(names, rec.values.size(), "the command"); !r) {
        return util::Error{where + ": " + r.error().message};
      }
      if (key) {
        if (auto r = key->check_fields(names, rec.values.size(), "--key"); !r) {
          return util::Error{where + ": " + r.error().message};
        }
      }
    }
    core::RowView row{&names, &rec.values, rec.raw};
    if (o.id_column.empty()) {
      job.id = std::to_string(seq);
    } else {
      bool found = false;
      job.id = std::string(core::field_value(row, o.id_column, found));
      if (!found) {
        return util::Error{where + ": no field '" + o.id_column + "' for --id-column"};
      }
      if (job.id.empty()) {
        return util::Error{where + ": empty job id in field '" + o.id_column + "'"};
      }
    }
    job.key = key ? key->render_word(row, core::JobContext{job.id, "", 0, 1}) : "";
    job.fields = store::encode_fields(rows.per_row_names ? &rec.names : nullptr, rec.values);
    const bool raw_is_value = rec.values.size() == 1 && rec.raw == rec.values[0];
    job.raw = raw_is_value ? std::string() : rec.raw;
    job.where = where;
    return true;
  };
  if (auto r = store->create_run(run, next); !r) {
    store.reset();
    if (fresh_store) {
      std::error_code ec;
      std::filesystem::remove_all(g.store, ec);
    }
    throw Failure{ExitCode::usage, r.error().message};
  }
  if (o.seed_only) {
    if (g.json) {
      auto counts = check(store->counts(run.rid));
      std::printf("%s\n", ui::dump(ui::run_json(run, counts, false), 2).c_str());
    } else {
      std::printf("%s\n", run.id.c_str());
      if (!g.quiet && isatty(2)) {
        std::fprintf(stderr, "muster: created run %s with %lld jobs; `muster resume %s` runs it\n",
                     run.id.c_str(), static_cast<long long>(run.total), run.id.c_str());
      }
    }
    return to_int(ExitCode::ok);
  }
  return execute(*store, run, g, settings.slots, !o.no_stdout);
}

int cmd_resume(const GlobalOptions& g, const ResumeOptions& o) {
  auto store = open_store(g, store::sqlite::Create::no);
  auto run = find_run(*store, o.run);
  return execute(*store, run, g, o.slots, !o.no_stdout);
}

} // namespace muster::cli

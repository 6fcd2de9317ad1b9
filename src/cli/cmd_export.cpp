// `muster export`: a run's jobs as CSV, JSON Lines, or GNU parallel's joblog.
// `app::export_rows()` reads them; this writes the format.

#include "app/copy.hpp"
#include "app/export.hpp"
#include "cli/common.hpp"
#include "core/template.hpp"
#include "store/open.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace muster::cli {

namespace {

// The job's columns by default, named and valued as in `muster jobs --json`.
const char* const k_job_columns[] = {
    "id",         "key",   "state", "attempts",   "max_attempts", "exit_code", "signal",
    "error_type", "error", "slot",  "started_at", "finished_at",  "retry_at"};

// One CSV column: an input field (by index), or a key of the job's JSON.
struct Column {
  std::string header;
  int input = -1; ///< index into the input's columns, or -1
  std::string key;
};

// The columns a CSV export prints: `--columns` in its order, or the input's
// fields and then the job's. An input field named like a job column is
// `input.NAME`, so that no two columns share a name.
std::vector<Column> csv_columns(const std::vector<std::string>& inputs,
                                const std::string& chosen) {
  const nlohmann::ordered_json sample = ui::job_json(store::JobRecord{});
  std::vector<Column> all;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool clash = sample.contains(inputs[i]);
    all.push_back({clash ? "input." + inputs[i] : inputs[i], static_cast<int>(i), ""});
  }
  if (chosen.empty()) {
    for (const char* key : k_job_columns) {
      all.push_back({key, -1, key});
    }
    return all;
  }
  std::vector<Column> out;
  std::vector<std::string> wanted;
  for (size_t at = 0; at <= chosen.size();) {
    const size_t comma = std::min(chosen.find(',', at), chosen.size());
    wanted.push_back(chosen.substr(at, comma - at));
    at = comma + 1;
  }
  for (const auto& name : wanted) {
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const Column& c) { return c.header == name; });
    if (it != all.end()) {
      out.push_back(*it);
    } else if (sample.contains(name)) {
      out.push_back({name, -1, name});
    } else {
      std::vector<std::string> names;
      for (const auto& c : all) {
        names.push_back(c.header);
      }
      for (const auto& [key, value] : sample.items()) {
        names.push_back(key);
      }
      throw Failure{ExitCode::usage, "--columns: no column '" + util::printable(name) +
                                         "'; the columns are " + util::join(names, ", ")};
    }
  }
  return out;
}

std::string csv_text(const nlohmann::ordered_json& v) {
  return v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
}

} // namespace

int cmd_export(const GlobalOptions& g, const ExportOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto exported = check(app::export_run(*store, o.run));
  const auto& run = exported.run;
  const auto& columns = exported.columns;
  if (!o.columns.empty() && o.format != "csv") {
    throw Failure{ExitCode::usage, "--columns: only for --format csv"};
  }
  const std::vector<Column> csv =
      o.format == "csv" ? csv_columns(columns, o.columns) : std::vector<Column>{};
  FILE* out = stdout;
  if (!o.output.empty()) {
    out = std::fopen(o.output.c_str(), "w");
    if (!out) {
      throw Failure{ExitCode::usage, "-o " + o.output + ": " + std::strerror(errno)};
    }
  }
  std::string line;

  if (o.format == "csv") {
    line.clear();
    for (const auto& c : csv) {
      util::append_csv_field(line, c.header);
      line += ',';
    }
    line.back() = '\n';
    std::fputs(line.c_str(), out);
  } else if (o.format == "joblog") {
    std::fputs(
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
        out);
  }
  const bool joblog = o.format != "csv" && o.format != "jsonl";
  check(app::export_rows(*store, g.store, run, joblog, [&](const app::ExportRow& r) {
    const auto& j = r.job;
    const auto& names = r.names;
    const auto& values = r.values;
    line.clear();
    if (o.format == "csv") {
      const nlohmann::ordered_json job = ui::job_json(j);
      for (const auto& c : csv) {
        if (c.input < 0) {
          util::append_csv_field(line, csv_text(job[c.key]));
        } else if (names.empty()) {
          const auto i = static_cast<size_t>(c.input);
          util::append_csv_field(line, i < values.size() ? std::string_view(values[i])
                                                         : std::string_view());
        } else {
          bool found = false;
          core::RowView row{&names, &values, j.raw};
          util::append_csv_field(
              line, core::field_value(row, columns[static_cast<size_t>(c.input)], found));
        }
        line += ',';
      }
      line.back() = '\n';
    } else if (o.format == "jsonl") {
      auto obj = ui::job_json(j);
      nlohmann::ordered_json input = nlohmann::ordered_json::object();
      for (size_t i = 0; i < values.size(); ++i) {
        std::string name = !names.empty()           ? names[i]
                           : i < run.columns.size() ? run.columns[i]
                                                    : std::to_string(i + 1);
        input[name] = values[i];
      }
      obj["input"] = input;
      line = ui::dump(obj) + "\n";
    } else {
      if (j.state != core::JobState::succeeded && j.state != core::JobState::failed) {
        return;
      }
      char buf[256];
      std::snprintf(buf, sizeof buf, "%lld\t:\t%.3f\t%.3f\t0\t%lld\t%lld\t%lld\t",
                    static_cast<long long>(j.seq),
                    static_cast<double>(j.started_at) / 1000.0,
                    static_cast<double>(j.finished_at - j.started_at) / 1000.0,
                    static_cast<long long>(r.stdout_bytes),
                    static_cast<long long>(j.exit_code.value_or(j.signal ? -1 : 0)),
                    static_cast<long long>(j.signal.value_or(0)));
      line = buf + r.command + "\n";
    }
    std::fputs(line.c_str(), out);
  }));
  if (out != stdout && std::fclose(out) != 0) {
    throw Failure{ExitCode::usage, "-o " + o.output + ": " + std::strerror(errno)};
  }
  return 0;
}

int cmd_copy(const GlobalOptions& g, const CopyOptions& o) {
  const auto copied = check(app::copy_run(g.store, o.run, o.to));
  const std::string to = store::shown_location(o.to);
  if (g.json) {
    std::printf("%s\n", ui::dump(nlohmann::ordered_json{{"run", copied.run.id},
                                                        {"name", copied.run.name},
                                                        {"jobs", copied.jobs},
                                                        {"files", copied.files},
                                                        {"to", to}},
                                 2)
                            .c_str());
  } else if (!g.quiet) {
    std::printf("copied run %s%s (%lld jobs, %s) to %s\n", copied.run.id.c_str(),
                copied.run.name.empty() ? "" : (" (" + copied.run.name + ")").c_str(),
                static_cast<long long>(copied.jobs),
                core::to_string(copied.run.state).data(), to.c_str());
  }
  return 0;
}

} // namespace muster::cli

// `muster export`: a run's jobs as CSV, JSON Lines, or GNU parallel's joblog.

#include "cli/common.hpp"
#include "core/template.hpp"
#include "store/codec.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace muster::cli {

namespace {

// The input's column names: the run's own, or those of its first row.
std::vector<std::string> input_columns(store::Store& store, const store::RunRecord& run) {
  if (!run.columns.empty()) {
    return run.columns;
  }
  store::JobFilter first;
  first.limit = 1;
  auto jobs = check(store.jobs(run.rid, first));
  if (jobs.empty()) {
    return {};
  }
  std::vector<std::string> names;
  std::vector<std::string> values;
  check(store::decode_fields(jobs.front().fields, names, values));
  if (names.empty()) {
    for (size_t i = 1; i <= values.size(); ++i) {
      names.push_back(std::to_string(i));
    }
  }
  return names;
}

std::string opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; }

} // namespace

int cmd_export(const GlobalOptions& g, const ExportOptions& o) {
  auto store = open_store(g, store::Create::no);
  auto run = find_run(*store, o.run);
  FILE* out = stdout;
  if (!o.output.empty()) {
    out = std::fopen(o.output.c_str(), "w");
    if (!out) {
      throw Failure{ExitCode::usage, "-o " + o.output + ": " + std::strerror(errno)};
    }
  }
  const auto columns = input_columns(*store, run);
  auto tmpl = check(core::Template::parse_command(run.settings.command, run.settings.shell));
  std::vector<std::string> names;
  std::vector<std::string> values;
  std::string line;

  if (o.format == "csv") {
    line.clear();
    for (const auto& c : columns) {
      util::append_csv_field(line, c);
      line += ',';
    }
    line += "job_id,key,status,worker_id,claimed_at,completed_at,error,attempts,max_attempts,"
            "retry_at,error_type\n";
    std::fputs(line.c_str(), out);
  } else if (o.format == "joblog") {
    std::fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", out);
  }
  const core::RunFiles files = run_files(g, run);
  check(store->each_job(run.rid, [&](const store::JobRecord& j) {
    check(store::decode_fields(j.fields, names, values));
    line.clear();
    if (o.format == "csv") {
      for (size_t i = 0; i < columns.size(); ++i) {
        std::string_view v;
        if (names.empty()) {
          v = i < values.size() ? std::string_view(values[i]) : std::string_view();
        } else {
          bool found = false;
          core::RowView row{&names, &values, j.raw};
          v = core::field_value(row, columns[i], found);
        }
        util::append_csv_field(line, v);
        line += ',';
      }
      for (const std::string& v :
           {j.id, j.key, std::string(core::to_string(j.state)), opt(j.slot),
            util::format_timestamp(j.started_at), util::format_timestamp(j.finished_at), j.error,
            std::to_string(j.attempts), std::to_string(j.max_attempts),
            util::format_timestamp(j.retry_at), j.error_type}) {
        util::append_csv_field(line, v);
        line += ',';
      }
      line.back() = '\n';
    } else if (o.format == "jsonl") {
      auto obj = ui::job_json(j);
      nlohmann::ordered_json input = nlohmann::ordered_json::object();
      for (size_t i = 0; i < values.size(); ++i) {
        std::string name = !names.empty() ? names[i]
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
      const auto& row_names = names.empty() ? run.columns : names;
      core::RowView row{&row_names, &values,
                        j.raw.empty() && !values.empty() ? std::string_view(values[0])
                                                         : std::string_view(j.raw)};
      const std::string command =
          tmpl.render_word(row, core::JobContext{j.id, run.id, j.slot.value_or(0), j.attempts});
      struct stat st {};
      const std::string out_file = files.job_stdout(j.seq);
      const long long received = ::stat(out_file.c_str(), &st) == 0 ? st.st_size : 0;
      char buf[256];
      std::snprintf(buf, sizeof buf, "%lld\t:\t%.3f\t%.3f\t0\t%lld\t%lld\t%lld\t",
                    static_cast<long long>(j.seq), static_cast<double>(j.started_at) / 1000.0,
                    static_cast<double>(j.finished_at - j.started_at) / 1000.0, received,
                    static_cast<long long>(j.exit_code.value_or(j.signal ? -1 : 0)),
                    static_cast<long long>(j.signal.value_or(0)));
      line = buf + command + "\n";
    }
    std::fputs(line.c_str(), out);
  }));
  if (out != stdout && std::fclose(out) != 0) {
    throw Failure{ExitCode::usage, "-o " + o.output + ": " + std::strerror(errno)};
  }
  return 0;
}

} // namespace muster::cli

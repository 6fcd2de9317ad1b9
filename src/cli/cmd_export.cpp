// `muster export`: a run's jobs as CSV, JSON Lines, or GNU parallel's joblog.
// `app::export_rows()` reads them; this writes the format.

#include "app/export.hpp"
#include "cli/common.hpp"
#include "core/template.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <cstring>

namespace muster::cli {

namespace {

std::string opt(const std::optional<int64_t>& v) {
  return v ? std::to_string(*v) : "";
}

} // namespace

int cmd_export(const GlobalOptions& g, const ExportOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto exported = check(app::export_run(*store, o.run));
  const auto& run = exported.run;
  const auto& columns = exported.columns;
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
    for (const auto& c : columns) {
      util::append_csv_field(line, c);
      line += ',';
    }
    line +=
        "job_id,key,status,worker_id,claimed_at,completed_at,error,attempts,max_attempts,"
        "retry_at,error_type\n";
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
            util::format_timestamp(j.started_at), util::format_timestamp(j.finished_at),
            j.error, std::to_string(j.attempts), std::to_string(j.max_attempts),
            util::format_timestamp(j.retry_at), j.error_type}) {
        util::append_csv_field(line, v);
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

} // namespace muster::cli

#include "app/export.hpp"

#include "app/store.hpp"
#include "core/template.hpp"
#include "store/codec.hpp"

#include <optional>
#include <sys/stat.h>

namespace muster::app {

util::Result<ExportRun> export_run(store::Store& store, const std::string& ref) {
  auto run = find_run(store, ref);
  if (!run) {
    return run.error();
  }
  // A command that does not parse fails here, before anything is written.
  if (auto t = core::Template::parse_command(run->settings.command, run->settings.shell);
      !t) {
    return t.error();
  }
  ExportRun out{std::move(*run), {}};
  if (!out.run.columns.empty()) {
    out.columns = out.run.columns;
    return out;
  }
  store::JobFilter first;
  first.limit = 1;
  auto jobs = store.jobs(out.run.rid, first);
  if (!jobs) {
    return jobs.error();
  }
  if (jobs->empty()) {
    return out;
  }
  std::vector<std::string> values;
  if (auto r = store::decode_fields(jobs->front().fields, out.columns, values); !r) {
    return r.error();
  }
  if (out.columns.empty()) {
    for (size_t i = 1; i <= values.size(); ++i) {
      out.columns.push_back(std::to_string(i));
    }
  }
  return out;
}

util::Result<void> export_rows(store::Store& store, const std::string& location,
                               const store::RunRecord& run, bool commands,
                               const std::function<void(const ExportRow&)>& each) {
  auto tmpl = core::Template::parse_command(run.settings.command, run.settings.shell);
  if (!tmpl) {
    return tmpl.error();
  }
  const core::RunFiles files = run_files(location, run.id);
  std::vector<std::string> names;
  std::vector<std::string> values;
  // each_job cannot stop early: after an error, the rest are skipped.
  std::optional<util::Error> failed;
  auto r = store.each_job(run.rid, [&](const store::JobRecord& j) {
    if (failed) {
      return;
    }
    if (auto d = store::decode_fields(j.fields, names, values); !d) {
      failed = d.error();
      return;
    }
    ExportRow row{j, names, values, {}, 0};
    if (commands &&
        (j.state == core::JobState::succeeded || j.state == core::JobState::failed)) {
      const auto view =
          core::RowView::stored(names.empty() ? run.columns : names, values, j.raw);
      row.command = tmpl->render_word(
          view, core::JobContext{j.id, run.id, j.slot.value_or(0), j.attempts});
      struct stat st {};
      row.stdout_bytes =
          ::stat(files.job_stdout(j.seq).c_str(), &st) == 0 ? st.st_size : 0;
    }
    each(row);
  });
  if (!r) {
    return r.error();
  }
  if (failed) {
    return *failed;
  }
  return {};
}

} // namespace muster::app

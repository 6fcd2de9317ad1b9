// `muster jobs` and `muster logs`: a run's jobs and one job's output.

#include "app/queries.hpp"
#include "cli/common.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

namespace muster::cli {

int cmd_jobs(const GlobalOptions& g, const JobsOptions& o) {
  auto store = open_store(g, store::Create::no);
  auto run = find_run(*store, o.run);
  store::JobFilter filter;
  filter.limit = o.limit;
  if (!o.state.empty()) {
    filter.state = core::parse_job_state(o.state);
    if (!filter.state) {
      throw Failure{ExitCode::usage,
                    "--state " + o.state +
                        ": expected one of pending, running, "
                        "succeeded, failed, retrying, waiting, interrupted, "
                        "skipped, cancelled"};
    }
  }
  const auto jobs = check(app::jobs(*store, run.id, filter));
  const int64_t now = util::now_ms();
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& j : jobs) {
      arr.push_back(ui::job_json(j));
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return 0;
  }
  ui::Table t(
      {"JOB", "STATE", "ATTEMPTS", "EXIT", "SLOT", "TIME", "KEY", "ERROR / REASON"});
  for (const auto& j : jobs) {
    std::string exit = j.exit_code ? std::to_string(*j.exit_code)
                       : j.signal  ? "SIG" + std::to_string(*j.signal)
                                   : "-";
    t.add({j.id, std::string(core::to_string(j.state)),
           std::to_string(j.attempts - j.interrupts) + "/" +
               std::to_string(j.max_attempts) +
               (j.interrupts > 0 ? " +" + std::to_string(j.interrupts) + " interrupted"
                                 : ""),
           exit, j.slot ? std::to_string(*j.slot) : "-", ui::job_duration(j, now),
           j.key.empty() ? "-" : j.key,
           j.state == core::JobState::waiting && !j.reason.empty() ? j.reason : j.error});
  }
  t.print(stdout);
  return 0;
}

int cmd_logs(const GlobalOptions& g, const LogsOptions& o) {
  auto store = open_store(g, store::Create::no);
  if (o.slot >= 0) {
    const auto log = check(app::slot_log(*store, g.store, o.run, o.slot));
    if (!util::copy_file_to(log.path, stdout)) {
      // It went away since app looked: the same answer.
      throw failure(util::Error{"no log for slot " + std::to_string(o.slot) + " of run " +
                                    log.run.id + " (" + log.path + ")",
                                util::ErrorKind::not_found});
    }
    return 0;
  }
  if (o.job.empty()) {
    find_run(*store, o.run); // an unknown run is the first thing to say
    throw Failure{ExitCode::usage, "logs: give a JOB, or --slot N"};
  }
  const auto output = check(app::job_output(*store, g.store, o.run, o.job));
  std::fflush(stdout);
  if (!o.stderr_only) {
    util::copy_file_to(output.stdout_path, stdout);
    std::fflush(stdout);
  }
  if (!o.stdout_only) {
    util::copy_file_to(output.stderr_path, o.stderr_only ? stdout : stderr);
  }
  return 0;
}

} // namespace muster::cli

// `muster workers`, `summary` and `cleanup`: the store as a whole.

#include "app/overview.hpp"
#include "app/queries.hpp"
#include "cli/common.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <nlohmann/json.hpp>

namespace muster::cli {

int cmd_workers(const GlobalOptions& g, const WorkersOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const int64_t now = util::now_ms();
  const auto views = check(app::workers(
      *store, o.run, o.status.empty() ? std::nullopt : app::parse_worker_state(o.status),
      now, o.all));
  const auto sidecar = [](const app::SlotView& v) {
    return v.sidecar ? std::string(store::to_string(*v.sidecar)) : std::string();
  };
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& v : views) {
      arr.push_back(
          {{"agent", v.agent.aid},
           {"run", v.agent.run_id},
           {"host", v.agent.who.host},
           {"pid", v.agent.who.pid},
           {"slot", v.slot >= 0 ? nlohmann::ordered_json(v.slot) : nullptr},
           {"worker_id", v.slot >= 0 ? nlohmann::ordered_json(v.agent.who.host + ":" +
                                                              std::to_string(v.slot))
                                     : nullptr},
           {"state", app::to_string(v.state)},
           {"job", v.job.empty() ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(v.job)},
           {"running_ms", v.since > 0 ? nlohmann::ordered_json(now - v.since)
                                      : nlohmann::ordered_json(nullptr)},
           {"sidecar", v.sidecar ? nlohmann::ordered_json(sidecar(v))
                                 : nlohmann::ordered_json(nullptr)},
           {"heartbeat_ms_ago", now - v.agent.who.heartbeat_at}});
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return to_int(ExitCode::ok);
  }
  if (views.empty()) {
    if (!g.quiet) {
      std::printf("no workers%s\n", o.status.empty() ? "" : (" " + o.status).c_str());
    }
    return to_int(ExitCode::ok);
  }
  ui::Table t({"AGENT", "RUN", "HOST", "PID", "SLOT", "STATE", "JOB", "RUNNING",
               "SIDECAR", "HEARTBEAT"});
  for (const auto& v : views) {
    t.add({std::to_string(v.agent.aid), v.agent.run_id, v.agent.who.host,
           std::to_string(v.agent.who.pid), v.slot >= 0 ? std::to_string(v.slot) : "-",
           std::string(app::to_string(v.state)), v.job.empty() ? "-" : v.job,
           v.since > 0 ? util::format_duration(now - v.since) : "-",
           v.sidecar ? sidecar(v) : "-",
           util::format_duration(now - v.agent.who.heartbeat_at) + " ago"});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

int cmd_summary(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto sum = check(app::summary(*store, util::now_ms()));
  const int64_t idle = sum.idle, busy = sum.busy, offline = sum.offline,
                starting = sum.starting;
  const auto& all = sum.jobs;
  using S = core::JobState;
  const int64_t queued = sum.queued;
  const double utilisation = sum.utilisation;
  if (g.json) {
    nlohmann::ordered_json j = {
        {"workers",
         {{"idle", idle},
          {"busy", busy},
          {"offline", offline},
          {"starting", starting},
          {"utilisation", utilisation}}},
        {"runs", {{"active", sum.active_runs}, {"total", sum.total_runs}}},
        {"jobs",
         {{"done", all[S::succeeded]},
          {"failed", all[S::failed]},
          {"queued", queued},
          {"running", all[S::running]},
          {"total", all.total()}}}};
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return to_int(ExitCode::ok);
  }
  std::printf(
      "workers: %lld busy, %lld idle, %lld offline, %lld starting (%.0f%% busy)\n",
      static_cast<long long>(busy), static_cast<long long>(idle),
      static_cast<long long>(offline), static_cast<long long>(starting),
      utilisation * 100.0);
  std::printf("runs:    %lld active, %lld in all\n",
              static_cast<long long>(sum.active_runs),
              static_cast<long long>(sum.total_runs));
  std::printf("jobs:    %lld done, %lld failed, %lld queued, %lld running, %lld in all\n",
              static_cast<long long>(all[S::succeeded]),
              static_cast<long long>(all[S::failed]), static_cast<long long>(queued),
              static_cast<long long>(all[S::running]),
              static_cast<long long>(all.total()));
  return to_int(ExitCode::ok);
}

int cmd_cleanup(const GlobalOptions& g, const CleanupOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto old = check(app::cleanup(*store, g.store, o.days, o.dry_run));
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& run : old) {
      arr.push_back(run.id);
    }
    nlohmann::ordered_json j = {{"dry_run", o.dry_run}, {"runs", arr}};
    std::printf("%s\n", ui::dump(j, 2).c_str());
  } else if (!g.quiet) {
    for (const auto& run : old) {
      std::printf("%s %s %s (%s, last changed %s)\n",
                  o.dry_run ? "would delete" : "deleted", run.id.c_str(),
                  run.name.empty() ? "-" : run.name.c_str(),
                  std::string(core::to_string(run.state)).c_str(),
                  util::format_timestamp(run.updated_at).substr(0, 19).c_str());
    }
    std::printf("%s %zu finished run(s) older than %g day(s)\n",
                o.dry_run ? "would delete" : "deleted", old.size(), o.days);
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli

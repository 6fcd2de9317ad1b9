// `muster workers`, `summary` and `cleanup`: the store as a whole.

#include "app/queries.hpp"
#include "cli/common.hpp"
#include "core/liveness.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <nlohmann/json.hpp>

namespace muster::cli {

namespace {

/// One slot of one agent, as `workers` shows it.
struct SlotView {
  const store::AgentRecord* agent = nullptr;
  int64_t slot = 0;
  std::string state; ///< idle, busy, starting, restarting, failed, retired, offline
  std::string job;
  int64_t since = 0;
  std::string sidecar;
};

/// An agent in state running whose heartbeats stopped is offline, even
/// before someone recovers its jobs.
bool agent_offline(const store::AgentRecord& a, int64_t now) {
  return a.state == store::AgentState::offline ||
         (a.state == store::AgentState::running &&
          (!app::holder_alive(a.who) ||
           core::is_offline(now, a.who.heartbeat_at, a.who.heartbeat_ms)));
}

std::vector<SlotView> slot_views(const std::vector<store::AgentRecord>& agents, int64_t now) {
  std::vector<SlotView> out;
  for (const auto& a : agents) {
    if (a.state == store::AgentState::stopped) {
      continue;
    }
    const bool offline = agent_offline(a, now);
    nlohmann::json slots = nlohmann::json::parse(a.slot_states, nullptr, false);
    if (!slots.is_array() || slots.empty()) {
      // No heartbeat with slots yet: the agent is starting.
      SlotView v;
      v.agent = &a;
      v.slot = -1;
      v.state = offline ? "offline" : "starting";
      out.push_back(v);
      continue;
    }
    for (const auto& s : slots) {
      SlotView v;
      v.agent = &a;
      v.slot = s.value("slot", int64_t{-1});
      v.state = offline ? "offline" : s.value("state", "");
      v.job = s.value("job", "");
      v.since = s.value("since", int64_t{0});
      v.sidecar = s.value("sidecar", "none");
      out.push_back(v);
    }
  }
  return out;
}

} // namespace

int cmd_workers(const GlobalOptions& g, const WorkersOptions& o) {
  auto store = open_store(g, store::Create::no);
  const int64_t rid = o.run.empty() ? 0 : find_run(*store, o.run).rid;
  const auto agents = check(store->agents(rid));
  const int64_t now = util::now_ms();
  std::vector<SlotView> views;
  for (auto& v : slot_views(agents, now)) {
    if (o.status.empty() || v.state == o.status ||
        (o.status == "starting" && v.state == "restarting")) {
      views.push_back(std::move(v));
    }
  }
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& v : views) {
      arr.push_back({{"agent", v.agent->aid},
                     {"run", v.agent->run_id},
                     {"host", v.agent->who.host},
                     {"pid", v.agent->who.pid},
                     {"slot", v.slot >= 0 ? nlohmann::ordered_json(v.slot) : nullptr},
                     {"state", v.state},
                     {"job", v.job.empty() ? nlohmann::ordered_json(nullptr)
                                           : nlohmann::ordered_json(v.job)},
                     {"running_ms", v.since > 0 ? nlohmann::ordered_json(now - v.since)
                                                : nlohmann::ordered_json(nullptr)},
                     {"sidecar", v.sidecar.empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(v.sidecar)},
                     {"heartbeat_ms_ago", now - v.agent->who.heartbeat_at}});
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
  ui::Table t({"AGENT", "RUN", "HOST", "PID", "SLOT", "STATE", "JOB", "RUNNING", "SIDECAR",
               "HEARTBEAT"});
  for (const auto& v : views) {
    t.add({std::to_string(v.agent->aid), v.agent->run_id, v.agent->who.host,
           std::to_string(v.agent->who.pid), v.slot >= 0 ? std::to_string(v.slot) : "-", v.state,
           v.job.empty() ? "-" : v.job,
           v.since > 0 ? util::format_duration(now - v.since) : "-",
           v.sidecar.empty() ? "-" : v.sidecar,
           util::format_duration(now - v.agent->who.heartbeat_at) + " ago"});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

int cmd_summary(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no);
  const int64_t now = util::now_ms();
  const auto agents = check(store->agents(0));
  int64_t idle = 0, busy = 0, offline = 0, starting = 0;
  for (const auto& v : slot_views(agents, now)) {
    if (v.state == "busy") {
      ++busy;
    } else if (v.state == "idle") {
      ++idle;
    } else if (v.state == "offline") {
      ++offline;
    } else if (v.state == "starting" || v.state == "restarting") {
      ++starting;
    }
  }
  const auto runs = check(store->list_runs());
  int64_t active = 0;
  core::Counts all;
  for (const auto& run : runs) {
    if (app::holder_alive(run.holder)) {
      ++active;
    }
    const auto c = check(store->counts(run.rid));
    for (size_t i = 0; i < std::size(all.by_state); ++i) {
      all.by_state[i] += c.by_state[i];
    }
  }
  using S = core::JobState;
  const int64_t queued = all[S::pending] + all[S::retrying] + all[S::waiting];
  const double utilisation =
      idle + busy > 0 ? static_cast<double>(busy) / static_cast<double>(idle + busy) : 0.0;
  if (g.json) {
    nlohmann::ordered_json j = {
        {"workers", {{"idle", idle}, {"busy", busy}, {"offline", offline}, {"starting", starting},
                     {"utilisation", utilisation}}},
        {"runs", {{"active", active}, {"total", static_cast<int64_t>(runs.size())}}},
        {"jobs", {{"done", all[S::succeeded]}, {"failed", all[S::failed]}, {"queued", queued},
                  {"running", all[S::running]}, {"total", all.total()}}}};
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return to_int(ExitCode::ok);
  }
  std::printf("workers: %lld busy, %lld idle, %lld offline, %lld starting (%.0f%% busy)\n",
              static_cast<long long>(busy), static_cast<long long>(idle),
              static_cast<long long>(offline), static_cast<long long>(starting),
              utilisation * 100.0);
  std::printf("runs:    %lld active, %lld in all\n", static_cast<long long>(active),
              static_cast<long long>(runs.size()));
  std::printf("jobs:    %lld done, %lld failed, %lld queued, %lld running, %lld in all\n",
              static_cast<long long>(all[S::succeeded]), static_cast<long long>(all[S::failed]),
              static_cast<long long>(queued), static_cast<long long>(all[S::running]),
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
      std::printf("%s %s %s (%s, last changed %s)\n", o.dry_run ? "would delete" : "deleted",
                  run.id.c_str(), run.name.empty() ? "-" : run.name.c_str(),
                  std::string(core::to_string(run.state)).c_str(),
                  util::format_timestamp(run.updated_at).substr(0, 19).c_str());
    }
    std::printf("%s %zu finished run(s) older than %g day(s)\n",
                o.dry_run ? "would delete" : "deleted", old.size(), o.days);
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli

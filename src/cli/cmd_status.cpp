// `muster status` and `muster list`: read-only views of runs.

#include "app/doctor.hpp"
#include "app/queries.hpp"
#include "app/store.hpp"
#include "cli/common.hpp"
#include "store/open.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace muster::cli {

namespace {

std::string counts_summary(const core::Counts& c) {
  std::string s;
  for (size_t i = 0; i < 9; ++i) {
    if (c.by_state[i] > 0) {
      s += (s.empty() ? "" : ", ") + std::to_string(c.by_state[i]) + " " +
           std::string(core::to_string(static_cast<core::JobState>(i)));
    }
  }
  return s.empty() ? "no jobs" : s;
}

} // namespace

int cmd_status(const GlobalOptions& g, const StatusOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto view = check(app::status(*store, g.store, o.run));
  const auto& run = view.run;
  const auto& counts = view.counts;
  const bool alive = view.agent_alive;
  const auto& active = view.running;
  const int64_t now = util::now_ms();
  if (g.json) {
    auto j = ui::run_json(run, counts, alive);
    auto slots = nlohmann::ordered_json::array();
    for (const auto& job : active) {
      slots.push_back(
          {{"slot", job.slot ? *job.slot : -1},
           {"job", job.id},
           {"attempt", job.attempts},
           {"pid", job.pid ? nlohmann::ordered_json(*job.pid) : nullptr},
           {"agent", job.agent > 0 ? nlohmann::ordered_json(job.agent) : nullptr},
           {"agent_alive", view.live_agents.count(job.agent) > 0},
           {"running_ms", now - job.started_at}});
    }
    j["running"] = slots;
    if (store::is_postgres(g.store)) {
      j["store"] = store::shown_location(g.store);
    }
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return 0;
  }
  std::printf("run %s%s: %s\n", run.id.c_str(),
              run.name.empty() ? "" : (" (" + run.name + ")").c_str(),
              app::shown_state(run, counts, alive).c_str());
  std::printf("  command: %s\n", ui::command_text(run.settings, 1000).c_str());
  if (store::is_postgres(g.store)) {
    std::printf("  store:   %s\n", store::shown_location(g.store).c_str());
  }
  std::printf("  jobs:    %lld total: %s\n", static_cast<long long>(run.total),
              counts_summary(counts).c_str());
  if (run.resume_at > now) {
    std::printf(
        "  halted:  until %s (%s left): %s\n", util::format_clock(run.resume_at).c_str(),
        util::format_duration(run.resume_at - now).c_str(), run.halt_reason.c_str());
  }
  if (counts[core::JobState::waiting] > 0) {
    for (const auto& job : view.waiting) {
      std::printf("  waiting: job %s: %s\n", job.id.c_str(), job.reason.c_str());
    }
    if (counts[core::JobState::waiting] > 3) {
      std::printf("           and %lld more (muster jobs %s --state waiting)\n",
                  static_cast<long long>(counts[core::JobState::waiting] - 3),
                  run.id.c_str());
    }
  }
  if (alive && !app::holder_alive(run.holder)) {
    std::printf("  agent:   its holder is gone; %zu joined agent(s) still run it\n",
                view.live_agents.size());
  } else if (alive) {
    const int64_t eta = ui::run_eta_ms(run, counts, alive, util::now_ms());
    std::printf("  agent:   pid %lld on %s, %s, ETA %s\n",
                static_cast<long long>(run.holder.pid), run.holder.host.c_str(),
                util::format_rate(run.rate).c_str(),
                eta >= 0 ? util::format_duration(eta).c_str() : "-");
    if (const app::Containment c = app::containment(); !c.cgroup) {
      std::printf(
          "  containment: process groups, weaker than cgroups: a process that "
          "leaves its job's group is found only by its environment (muster doctor)\n");
    }
  } else if (counts[core::JobState::running] > 0) {
    std::printf("  agent:   none alive; `muster resume %s` recovers its running jobs\n",
                run.id.c_str());
  }
  if (!active.empty()) {
    ui::Table t({"  SLOT", "JOB", "ATTEMPT", "PID", "RUNNING"});
    for (const auto& job : active) {
      t.add({"  " + (job.slot ? std::to_string(*job.slot) : std::string("-")), job.id,
             std::to_string(job.attempts), job.pid ? std::to_string(*job.pid) : "-",
             view.live_agents.count(job.agent) > 0 ? ui::job_duration(job, now)
                                                   : "agent gone"});
    }
    t.print(stdout);
  }
  return 0;
}

int cmd_list(const GlobalOptions& g, const ListOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto runs = check(app::list_runs(*store, o.status, o.limit));
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& r : runs) {
      arr.push_back(ui::run_json(r.run, r.counts, r.agent_alive));
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return 0;
  }
  ui::Table t({"ID", "NAME", "STATE", "DONE", "FAILED", "TOTAL", "CREATED", "COMMAND"});
  for (const auto& [run, c, alive] : runs) {
    t.add({run.id, run.name.empty() ? "-" : run.name, app::shown_state(run, c, alive),
           std::to_string(c[core::JobState::succeeded]),
           std::to_string(c[core::JobState::failed]), std::to_string(run.total),
           util::format_timestamp(run.created_at).substr(0, 19),
           ui::command_text(run.settings, 80)});
  }
  t.print(stdout);
  return 0;
}

} // namespace muster::cli

// `muster stop-all`: every live agent of this store drains and stops (and so
// tears its slots down); for a run whose agent died, its slots are torn down
// here.

#include "cli/common.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>
#include <unistd.h>

namespace muster::cli {

int cmd_stop_all(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no);
  const auto runs = check(store->list_runs());
  std::vector<store::RunRecord> live;
  for (const auto& run : runs) {
    if (run.holder.empty()) {
      continue;
    }
    if (app::holder_alive(run.holder)) {
      if (run.holder.host != app::this_holder().host) {
        std::fprintf(stderr, "muster: run %s is held by pid %lld on %s; stop it there\n",
                     run.id.c_str(), static_cast<long long>(run.holder.pid),
                     run.holder.host.c_str());
        continue;
      }
      // SIGTERM is the drain signal: no new claims, running jobs get --grace.
      ::kill(static_cast<pid_t>(run.holder.pid), SIGTERM);
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: asked pid %lld to drain and stop\n",
                     run.id.c_str(), static_cast<long long>(run.holder.pid));
      }
      live.push_back(run);
    } else if (run.settings.slot.any()) {
      // Its agent died: nothing else will run its teardown hooks.
      check(app::teardown(*store, g.store, run, false));
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: its agent was gone; tore its slots down\n",
                     run.id.c_str());
      }
    }
  }
  // Agents that joined a run drain too.
  for (const auto& a : check(store->agents(0))) {
    if (a.state != store::AgentState::running || a.who.host != app::this_holder().host || !app::holder_alive(a.who)) {
      continue;
    }
    const bool holder = std::any_of(live.begin(), live.end(), [&](const store::RunRecord& r) {
      return r.holder.pid == a.who.pid;
    });
    if (!holder) {
      ::kill(static_cast<pid_t>(a.who.pid), SIGTERM);
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: asked agent pid %lld to drain and stop\n",
                     a.run_id.c_str(), static_cast<long long>(a.who.pid));
      }
      store::RunRecord joined;
      joined.id = a.run_id;
      joined.holder = a.who;
      joined.settings.grace_ms = 30'000;
      joined.settings.kill_grace_ms = 10'000;
      live.push_back(joined);
    }
  }
  // Wait for the live ones: their drain and teardown take a while.
  for (const auto& run : live) {
    const int64_t until = util::monotonic_ms() + run.settings.grace_ms +
                          2 * run.settings.kill_grace_ms + 30'000;
    while (app::holder_alive(run.holder) && util::monotonic_ms() < until) {
      usleep(100'000);
    }
    if (app::holder_alive(run.holder)) {
      throw Failure{ExitCode::usage, "run " + run.id + ": pid " +
                                         std::to_string(run.holder.pid) + " did not stop"};
    }
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli

// `muster stop-all`: every live agent of this store drains and stops (and so
// tears its slots down); for a run whose agent died, its slots are torn down
// here. `app::stop_all()` does it; this says what it did.

#include "app/overview.hpp"
#include "cli/common.hpp"

namespace muster::cli {

int cmd_stop_all(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no);
  using Kind = app::StopAction::Kind;
  const auto report = [&](const app::StopAction& a) {
    const auto& run = a.run;
    const auto pid = static_cast<long long>(run.holder.pid);
    switch (a.kind) {
    case Kind::elsewhere:
      // Said even with --quiet: that run goes on.
      std::fprintf(stderr, "muster: run %s is held by pid %lld on %s; stop it there\n",
                   run.id.c_str(), pid, run.holder.host.c_str());
      break;
    case Kind::drained_run:
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: asked pid %lld to drain and stop\n",
                     run.id.c_str(), pid);
      }
      break;
    case Kind::torn_down:
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: its agent was gone; tore its slots down\n",
                     run.id.c_str());
      }
      break;
    case Kind::drained_agent:
      if (!g.quiet) {
        std::fprintf(stderr, "muster: run %s: asked agent pid %lld to drain and stop\n",
                     run.id.c_str(), pid);
      }
      break;
    }
  };
  const auto actions = check(app::stop_all(*store, g.store, report));
  if (actions.empty() && !g.quiet) {
    std::fprintf(stderr,
                 "muster: nothing to stop: no live agent, and no dead one's slots "
                 "left to tear down\n");
  }
  if (const auto left = app::wait_stopped(actions)) {
    // Still running after its grace periods: busy, as a run another muster holds.
    throw Failure{ExitCode::busy,
                  "run " + left->run.id + ": pid " +
                      std::to_string(left->run.holder.pid) +
                      " did not stop within its grace periods and 30s more"};
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli

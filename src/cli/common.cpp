#include "cli/common.hpp"

#include "agent/agent.hpp"
#include "exec/local_runner.hpp"
#include "exec/ports.hpp"
#include "exec/proc.hpp"
#include "ui/progress.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::cli {

std::unique_ptr<store::sqlite::SqliteStore> open_store(const GlobalOptions& g,
                                                      store::sqlite::Create create) {
  return check(store::sqlite::SqliteStore::open(g.store, create));
}

store::RunRecord find_run(store::Store& store, const std::string& ref) {
  return check(store.find_run(ref));
}

store::Holder this_holder() {
  store::Holder h;
  h.pid = getpid();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  h.host = host;
  h.start_time = exec::process_start_ticks(getpid());
  return h;
}

bool holder_alive(const store::Holder& h) {
  if (h.empty()) {
    return false;
  }
  static const std::string k_host = this_holder().host;
  if (h.host == k_host) {
    return exec::process_alive(static_cast<pid_t>(h.pid), h.start_time);
  }
  // Another host shares this store: trust its heartbeat for a while.
  return util::now_ms() - h.heartbeat_at < 60'000;
}

util::Result<void> ports_free(const std::vector<core::SlotPorts>& ports) {
  for (const auto& slot : ports) {
    for (const auto& [name, range] : slot.ports) {
      for (int64_t port = range.first; port <= range.second; ++port) {
        if (auto r = exec::check_port_free(port); !r) {
          return util::Error{"slot " + std::to_string(slot.slot) + ", port " + name + ": " +
                             r.error().message};
        }
      }
    }
  }
  return {};
}

std::string output_dir(const GlobalOptions& g, const store::RunRecord& run) {
  return g.store + "/runs/" + run.id + "/out";
}

agent::AgentOptions agent_options(const GlobalOptions& g, const store::RunRecord& run,
                                  int64_t slots) {
  agent::AgentOptions opts;
  opts.slots = slots > 0 ? slots : run.settings.slots;
  opts.store_dir = g.store;
  opts.me = this_holder();
  opts.is_alive = holder_alive;
  opts.reap_orphans = [](const std::string& run_id, const std::vector<store::Orphan>& orphans) {
    std::vector<exec::Leftover> left;
    for (const auto& o : orphans) {
      left.push_back(exec::Leftover{o.id, o.pgid.value_or(0), o.started_at});
    }
    exec::kill_leftovers(run_id, left);
  };
  return opts;
}

int execute(store::sqlite::SqliteStore& store, const store::RunRecord& run,
            const GlobalOptions& g, int64_t slots, bool pass_stdout) {
  const int64_t slot_count = slots > 0 ? slots : run.settings.slots;
  check(ports_free(check(core::plan_ports(run.settings.ports, slot_count))));
  auto runner = check(exec::LocalRunner::create());
  if (run.settings.on_interrupt == core::OnInterrupt::hold) {
    // At most once: a claim must survive power loss, not only a crash.
    check(store.set_durability(store::sqlite::Durability::full));
  }
  ui::ProgressOptions popts;
  popts.quiet = g.quiet || g.json;
  // With --json, stdout carries the JSON alone; `muster logs` has the output.
  popts.pass_stdout = pass_stdout && !g.json;
  ui::ProgressPrinter printer(popts, ui::Terminal::detect(stderr));

  agent::Agent agent(store, *runner, printer, agent_options(g, run, slots));
  auto result = check(agent.run(run.rid));
  if (result.ending == agent::Ending::busy) {
    throw Failure{ExitCode::busy,
                  "run " + run.id + " is held by a live muster (pid " +
                      std::to_string(result.holder->pid) + " on " + result.holder->host +
                      "); wait for it to end, or stop it with `kill " +
                      std::to_string(result.holder->pid) + "`"};
  }
  if (g.json) {
    // The same shape as `muster status --json`.
    auto after = check(store.find_run(run.id));
    std::printf("%s\n", ui::dump(ui::run_json(after, check(store.counts(run.rid)), false), 2).c_str());
  }
  if (result.ending == agent::Ending::interrupted) {
    return to_int(ExitCode::interrupted);
  }
  if (result.ending == agent::Ending::held) {
    return to_int(ExitCode::jobs_failed);
  }
  return result.counts[core::JobState::failed] > 0 ? to_int(ExitCode::jobs_failed)
                                                   : to_int(ExitCode::ok);
}

} // namespace muster::cli

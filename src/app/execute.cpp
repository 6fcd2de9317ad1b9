#include "app/execute.hpp"

#include "app/store.hpp"
#include "exec/instant_runner.hpp"
#include "exec/local_runner.hpp"
#include "exec/ports.hpp"
#include "exec/proc.hpp"

#include <cstdlib>
#include <string_view>

namespace muster::app {

util::Result<void> ports_free(const std::vector<core::SlotPorts>& ports) {
  for (const auto& slot : ports) {
    for (const auto& [name, range] : slot.ports) {
      for (int64_t port = range.first; port <= range.second; ++port) {
        if (auto r = exec::check_port_free(port); !r) {
          return util::Error{"slot " + std::to_string(slot.slot) + ", port " + name +
                             ": " + r.error().message};
        }
      }
    }
  }
  return {};
}

agent::AgentOptions agent_options(const std::string& location,
                                  const store::RunRecord& run, int64_t slots) {
  agent::AgentOptions opts;
  opts.slots = slots > 0 ? slots : run.settings.slots;
  opts.store_dir = store::files_dir(location);
  opts.me = this_holder();
  opts.me.heartbeat_ms = opts.heartbeat_ms;
  opts.me.user = make_event("", "").user;
  opts.is_alive = holder_alive;
  opts.reap_orphans = [host = opts.me.host](const std::string& run_id,
                                            const std::vector<store::Orphan>& orphans) {
    // Process groups are numbered per host (per pid namespace): another
    // host's job is not this host's process of the same number, and its own
    // host killed it (fencing) before its lease ran out.
    std::vector<exec::Leftover> left;
    for (const auto& o : orphans) {
      if (o.host.empty() || o.host == host) {
        left.push_back(exec::Leftover{o.id, o.pgid.value_or(0), o.started_at});
      }
    }
    exec::kill_leftovers(run_id, left);
  };
  return opts;
}

namespace {

util::Error held_error(const store::RunRecord& run, const store::Holder& holder) {
  return util::Error{"run " + run.id + " is held by a live muster (pid " +
                         std::to_string(holder.pid) + " on " + holder.host +
                         "); `muster join " + run.id +
                         "` adds this terminal as another agent, "
                         "or stop it with `kill " +
                         std::to_string(holder.pid) + "`",
                     util::ErrorKind::busy};
}

util::Error busy_error(const store::RunRecord& run, const agent::AgentResult& result) {
  if (result.ending == agent::Ending::busy) {
    return held_error(run, *result.holder);
  }
  return util::Error{"run " + run.id + " cannot start: " + describe_lock(*result.lock) +
                         " (--wait-locks waits for it)",
                     util::ErrorKind::busy};
}

std::string waiting_reason(store::Store& store, int64_t rid) {
  store::JobFilter f;
  f.state = core::JobState::waiting;
  f.limit = 1;
  if (auto waiting = store.jobs(rid, f); waiting && !waiting->empty()) {
    return waiting->front().reason;
  }
  return "";
}

// The runner of job processes; with MUSTER_BENCH_INSTANT_JOBS=1, one that
// starts none (a benchmark of the store alone), which it says.
util::Result<std::unique_ptr<exec::Runner>> make_runner(agent::Reporter& reporter) {
  auto local = exec::LocalRunner::create();
  if (!local) {
    return local.error();
  }
  std::unique_ptr<exec::Runner> runner = std::move(*local);
  const char* instant = std::getenv("MUSTER_BENCH_INSTANT_JOBS");
  if (instant && std::string_view(instant) == "1") {
    reporter.warning("MUSTER_BENCH_INSTANT_JOBS=1, a benchmark mode: no job process is "
                     "started, and every job succeeds at once");
    runner = std::make_unique<exec::InstantRunner>(std::move(runner));
  }
  return runner;
}

} // namespace

util::Result<RunOutcome> run_agent(store::Store& store, const std::string& location,
                                   const store::RunRecord& run, const ExecOptions& e,
                                   agent::Reporter& reporter,
                                   const LockWaiting& waiting) {
  const int64_t slot_count = e.slots > 0 ? e.slots : run.settings.slots;
  auto ports = core::plan_ports(run.settings.ports, slot_count);
  if (!ports) {
    return ports.error();
  }
  // A live holder's slots own these ports: say who holds the run (exit 3),
  // not that its ports are in use.
  if (!e.join && holder_alive(run.holder)) {
    return held_error(run, run.holder);
  }
  if (auto r = ports_free(*ports); !r) {
    return r.error();
  }
  auto runner = make_runner(reporter);
  if (!runner) {
    return runner.error();
  }
  if (run.settings.on_interrupt == core::OnInterrupt::hold) {
    // At most once: a claim must survive power loss, not only a crash.
    if (auto r = store.set_durability(store::Durability::full); !r) {
      return r.error();
    }
  }
  auto options = agent_options(location, run, e.slots);
  options.heartbeat_ms = e.heartbeat_ms;
  options.me.heartbeat_ms = e.heartbeat_ms;
  options.no_wait = e.no_wait;
  options.deadline_ms = e.deadline_ms;
  options.join = e.join;
  options.stream_output = e.stream_output;
  options.tag = e.tag;
  options.halt_on_failure = e.halt;
  options.max_load = e.max_load;
  options.min_free_bytes = e.min_free_bytes;
  options.retune = e.retune;
  RunOutcome out;
  for (;;) {
    if (e.wait_locks && !run.settings.locks.empty()) {
      if (auto r = wait_for_locks(store, run.rid, run.settings.locks, true, waiting);
          !r) {
        return r.error();
      }
    }
    agent::Agent agent(store, **runner, reporter, options);
    auto result = agent.run(run.rid);
    if (!result) {
      return result.error();
    }
    out.result = std::move(*result);
    // Taking the run checks its locks again, atomically: another run may
    // have taken one since.
    if (out.result.ending != agent::Ending::locked || !e.wait_locks) {
      break;
    }
  }
  if (out.result.ending == agent::Ending::busy ||
      out.result.ending == agent::Ending::locked) {
    return busy_error(run, out.result);
  }
  if (out.result.ending == agent::Ending::waiting) {
    out.waiting_reason = waiting_reason(store, run.rid);
  }
  return out;
}

util::Result<agent::AgentResult> teardown(store::Store& store,
                                          const std::string& location,
                                          const store::RunRecord& run, bool cancel) {
  auto runner = exec::LocalRunner::create();
  if (!runner) {
    return runner.error();
  }
  agent::Reporter quiet;
  agent::Agent agent(store, **runner, quiet, agent_options(location, run, 0));
  return agent.teardown(run.rid, cancel);
}

} // namespace muster::app

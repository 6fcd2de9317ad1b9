#include "cli/common.hpp"

#include "agent/agent.hpp"
#include "core/limits.hpp"
#include "exec/local_runner.hpp"
#include "exec/ports.hpp"
#include "exec/proc.hpp"
#include "ui/progress.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

#include <pwd.h>
#include <unistd.h>

namespace muster::cli {

std::unique_ptr<store::Store> open_store(const GlobalOptions& g, store::Create create) {
  return check(store::open(g.store, create));
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
  // Another host shares this store: alive while its heartbeats come (three
  // intervals), or for a minute when its interval is not known.
  return !core::is_offline(util::now_ms(), h.heartbeat_at, h.heartbeat_ms);
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

void refuse_ended(const store::RunRecord& run, const std::string& what) {
  if (run.state == core::RunState::completed || run.state == core::RunState::cancelled) {
    throw Failure{ExitCode::usage, "run " + run.id + " has ended (" +
                                       std::string(core::to_string(run.state)) +
                                       "): there is nothing to " + what};
  }
}

store::Event make_event(const std::string& action, const std::string& detail) {
  store::Event e;
  e.at = util::now_ms();
  e.host = this_holder().host;
  e.pid = getpid();
  if (const struct passwd* pw = getpwuid(geteuid())) {
    e.user = pw->pw_name;
  } else {
    e.user = std::to_string(geteuid());
  }
  e.action = action;
  e.detail = detail;
  return e;
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
  opts.me.heartbeat_ms = opts.heartbeat_ms;
  opts.me.user = make_event("", "").user;
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

std::string describe_lock(const store::LockRecord& lock) {
  return core::describe_lock({lock.name, lock.run_id, lock.run_name, lock.job_id, lock.since});
}

void wait_for_locks(store::Store& store, int64_t rid, const std::vector<std::string>& names,
                    bool wait, bool quiet) {
  bool told = false;
  for (;;) {
    auto held = check(store.lock_conflict(names, rid, holder_alive));
    if (!held) {
      return;
    }
    if (!wait) {
      throw Failure{ExitCode::busy, describe_lock(*held) +
                                        " (--wait-locks waits for it; `muster locks` lists them)"};
    }
    if (!told && !quiet) {
      std::fprintf(stderr, "muster: waiting: %s\n", describe_lock(*held).c_str());
      told = true;
    }
    ::usleep(250'000);
  }
}

int execute(store::Store& store, const store::RunRecord& run,
            const GlobalOptions& g, const ExecOptions& e) {
  const int64_t slot_count = e.slots > 0 ? e.slots : run.settings.slots;
  check(ports_free(check(core::plan_ports(run.settings.ports, slot_count))));
  auto runner = check(exec::LocalRunner::create());
  if (run.settings.on_interrupt == core::OnInterrupt::hold) {
    // At most once: a claim must survive power loss, not only a crash.
    check(store.set_durability(store::Durability::full));
  }
  ui::ProgressOptions popts;
  popts.quiet = g.quiet || g.json;
  // With --json, stdout carries the JSON alone; `muster logs` has the output.
  popts.pass_stdout = e.pass_stdout && !g.json;
  ui::ProgressPrinter printer(popts, ui::Terminal::detect(stderr));

  auto options = agent_options(g, run, e.slots);
  options.heartbeat_ms = e.heartbeat_ms;
  options.me.heartbeat_ms = e.heartbeat_ms;
  options.no_wait = e.no_wait;
  options.join = e.join;
  agent::AgentResult result;
  for (;;) {
    if (e.wait_locks && !run.settings.locks.empty()) {
      wait_for_locks(store, run.rid, run.settings.locks, true, popts.quiet);
    }
    agent::Agent agent(store, *runner, printer, options);
    result = check(agent.run(run.rid));
    // Taking the run checks its locks again, atomically: another run may
    // have taken one since.
    if (result.ending != agent::Ending::locked || !e.wait_locks) {
      break;
    }
  }
  if (result.ending == agent::Ending::busy) {
    throw Failure{ExitCode::busy,
                  "run " + run.id + " is held by a live muster (pid " +
                      std::to_string(result.holder->pid) + " on " + result.holder->host +
                      "); `muster join " + run.id + "` adds this terminal as another agent, "
                      "or stop it with `kill " + std::to_string(result.holder->pid) + "`"};
  }
  if (result.ending == agent::Ending::locked) {
    throw Failure{ExitCode::busy, "run " + run.id + " cannot start: " +
                                      describe_lock(*result.lock) +
                                      " (--wait-locks waits for it)"};
  }
  if (g.json) {
    // The same shape as `muster status --json`.
    auto after = check(store.find_run(run.id));
    std::printf("%s\n", ui::dump(ui::run_json(after, check(store.counts(run.rid)), false), 2).c_str());
  }
  const std::string name = run.name.empty() ? run.id : run.name;
  if (result.ending == agent::Ending::halted) {
    if (!g.quiet) {
      std::fprintf(stderr, "muster: run %s halted until %s: %s; `muster resume %s` continues it\n",
                   run.id.c_str(), util::format_clock(result.resume_at).c_str(),
                   result.reason.c_str(), name.c_str());
    }
    return to_int(ExitCode::busy);
  }
  if (result.ending == agent::Ending::waiting) {
    std::string why;
    store::JobFilter f;
    f.state = core::JobState::waiting;
    f.limit = 1;
    if (auto waiting = store.jobs(run.rid, f); waiting && !waiting->empty()) {
      why = ": " + waiting->front().reason;
    }
    if (!g.quiet) {
      const std::string when =
          result.resume_at > 0
              ? " after " + core::format_in_zone(result.resume_at, run.settings.limits.timezone)
              : "";
      std::fprintf(stderr, "muster: run %s: every job left waits%s; `muster resume %s`%s "
                           "continues it\n",
                   run.id.c_str(), why.c_str(), name.c_str(), when.c_str());
    }
    return to_int(ExitCode::waiting);
  }
  if (result.ending == agent::Ending::interrupted) {
    return to_int(ExitCode::interrupted);
  }
  if (result.ending == agent::Ending::held || result.ending == agent::Ending::cancelled) {
    return to_int(ExitCode::jobs_failed);
  }
  return result.counts[core::JobState::failed] > 0 ? to_int(ExitCode::jobs_failed)
                                                   : to_int(ExitCode::ok);
}

} // namespace muster::cli

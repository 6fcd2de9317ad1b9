// The slot pool's processes: hooks run to their end, and sidecars started,
// probed until ready, and stopped. While the pool waits for one, every other
// event goes on being served by the loop around it.

#include "agent/slot_pool.hpp"
#include "core/backoff.hpp"
#include "core/template.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <csignal>
#include <sys/wait.h>

namespace muster::agent {

exec::StartRequest SlotPool::request(size_t slot) const {
  exec::StartRequest req;
  req.env = {"MUSTER_RUN_ID=" + m_run.id, "MUSTER_SLOT=" + std::to_string(number(slot))};
  req.env.insert(req.env.end(), m_slots[slot].env.begin(), m_slots[slot].env.end());
  // Its output goes to the slot's log as it is written, to be followed live.
  req.stdout_path = log_path(slot);
  req.stderr_path = req.stdout_path;
  req.append = true;
  return req;
}

util::Result<pid_t> SlotPool::start_script(size_t slot, const std::string& script,
                                           const std::vector<std::string>& env) {
  exec::StartRequest req = request(slot);
  req.argv = {"/bin/sh", "-c", script};
  req.env.insert(req.env.end(), env.begin(), env.end());
  return m_runner.start(req);
}

util::Result<int> SlotPool::serve(int64_t wait_ms, pid_t own) {
  auto events = m_runner.wait(util::monotonic_ms() + wait_ms);
  if (!events) {
    return events.error();
  }
  for (int sig : events->signals) {
    m_loop.on_signal(sig);
  }
  for (const auto& o : events->output) {
    m_loop.on_output(o);
  }
  int status = -1;
  for (const auto& e : events->exited) {
    if (own != 0 && e.pid == own) {
      status = e.status;
    } else if (!on_exit(e)) {
      m_loop.on_job_exit(e);
    }
  }
  m_loop.after_wait();
  return status;
}

bool SlotPool::start_sidecar(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  core::JobContext ctx{"", m_run.id, number(s), 0, &slot.values};
  exec::StartRequest req = request(s);
  for (const auto& word : cfg.sidecar) {
    req.argv.push_back(core::render_without_row(word, core::Shell::no, ctx));
  }
  log(s, "sidecar: " + util::join(req.argv, " "));
  auto pid = m_runner.start(req);
  if (!pid) {
    slot.error = "sidecar could not start: " + pid.error().message;
    log(s, slot.error);
    return false;
  }
  slot.sidecar = *pid;
  slot.stopping = false;
  m_sidecars[*pid] = s;
  // Ready: the probe passes. Meanwhile other slots' jobs go on being reaped.
  const std::string ready = core::render_without_row(cfg.ready, core::Shell::no, ctx);
  const int64_t deadline = util::monotonic_ms() + cfg.ready_timeout_ms;
  for (;;) {
    if (slot.sidecar == 0) {
      slot.error = "sidecar exited before it was ready (see " + log_path(s) + ")";
      return false;
    }
    bool ok = ready.empty();
    if (!ok && ready.rfind("cmd:", 0) == 0) {
      auto rc = run_hook(s, "ready", ready.substr(4));
      ok = rc && *rc == 0;
    } else if (!ok) {
      ok = m_runner.probe(ready, 500);
    }
    if (ok) {
      log(s, "sidecar ready");
      return true;
    }
    if (m_loop.draining() || util::monotonic_ms() >= deadline) {
      slot.error = m_loop.draining() ? "stopped while its sidecar was starting"
                                     : "sidecar not ready within " +
                                           util::format_duration(cfg.ready_timeout_ms) +
                                           " (" + ready + ")";
      stop_sidecar(s);
      const std::string tail = util::read_file(log_path(s));
      slot.error += "; the end of its log:\n" +
                    tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0);
      return false;
    }
    // A failed wait is tried again at the next probe, until the ready deadline.
    if (auto served = serve(200, 0); !served) {
      log(s, "waiting for the sidecar: " + served.error().message);
    }
  }
}

void SlotPool::stop_sidecar(size_t s) {
  Slot& slot = m_slots[s];
  if (slot.sidecar == 0) {
    return;
  }
  const pid_t pid = slot.sidecar;
  slot.stopping = true;
  m_runner.signal_group(pid, SIGTERM);
  const int64_t kill_at = util::monotonic_ms() + m_run.settings.kill_grace_ms;
  bool killed = false;
  while (slot.sidecar == pid) {
    if (!killed && (util::monotonic_ms() >= kill_at || m_loop.stop_at_once())) {
      m_runner.signal_group(pid, SIGKILL);
      killed = true;
    }
    if (auto served = serve(100, 0); !served) {
      break; // the runner cannot wait any more; the keeper kills the group when muster
             // exits
    }
  }
}

bool SlotPool::on_exit(const exec::Exited& exited) {
  auto it = m_sidecars.find(exited.pid);
  if (it == m_sidecars.end()) {
    return false;
  }
  const size_t slot = it->second;
  m_sidecars.erase(it);
  on_sidecar_exit(slot, exited);
  return true;
}

void SlotPool::on_sidecar_exit(size_t s, const exec::Exited& exited) {
  Slot& slot = m_slots[s];
  slot.sidecar = 0;
  log(s, std::string("sidecar exited (") +
             (WIFEXITED(exited.status)
                  ? "code " + std::to_string(WEXITSTATUS(exited.status))
                  : "signal " + std::to_string(WTERMSIG(exited.status))) +
             ")");
  if (slot.stopping || slot.state != SlotState::ready) {
    return;
  }
  // It died while the run went on: the slot's job cannot trust it either.
  m_loop.on_sidecar_died(s);
  if (slot.restarts >= m_run.settings.slot.max_restarts) {
    fail(s, "sidecar died and was restarted " + std::to_string(slot.restarts) + " times",
         false);
    return;
  }
  ++slot.restarts;
  slot.state = SlotState::restarting;
  slot.restart_at = util::monotonic_ms() +
                    core::backoff_delay_ms(m_run.settings.backoff, slot.restarts, 0);
  log(s, "sidecar restarts in " +
             util::format_duration(slot.restart_at - util::monotonic_ms()));
}

void SlotPool::teardown_all() {
  for (size_t s = 0; s < m_slots.size(); ++s) {
    teardown(s);
  }
}

void SlotPool::teardown(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  if (!slot.set_up) {
    return;
  }
  slot.set_up = false; // once, whatever happens below
  stop_sidecar(s);
  if (!cfg.teardown.empty()) {
    auto rc = run_hook(s, "teardown", cfg.teardown);
    if (!rc || *rc != 0) {
      m_reporter.warning("slot " + std::to_string(number(s)) + ": teardown " +
                         (rc ? "exited " + std::to_string(*rc) : rc.error().message));
    }
  }
  if (!slot.dir.empty() && !cfg.dir_keep) {
    // Reported, not retried: teardown goes on for the other slots, and what
    // is left costs only disk; the next setup of this slot makes it afresh.
    if (auto removed = util::remove_tree(slot.dir); !removed) {
      m_reporter.warning("slot " + std::to_string(number(s)) + ": cannot remove " +
                         slot.dir + ": " + removed.error().message);
    }
  }
}

util::Result<int> SlotPool::run_hook(size_t slot, const std::string& what,
                                     const std::string& script) {
  // Values in a hook are quoted for sh, as with --shell.
  core::JobContext ctx{"", m_run.id, number(slot), 0, &m_slots[slot].values};
  exec::StartRequest req = request(slot);
  req.argv = {"/bin/sh", "-c", core::render_without_row(script, core::Shell::yes, ctx)};
  log(slot, what + ": " + req.argv.back());
  auto pid = m_runner.start(req);
  if (!pid) {
    log(slot, what + " could not start: " + pid.error().message);
    return pid.error();
  }
  int status = -1;
  bool killed = false;
  while (status < 0) {
    auto served = serve(100, *pid);
    if (!served) {
      return served.error();
    }
    status = *served;
    if (status < 0 && m_loop.stop_at_once() && !killed) {
      m_runner.signal_group(*pid, SIGKILL); // "stop at once" covers hooks too
      killed = true;
    }
  }
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  log(slot, what + " exited " + std::to_string(rc));
  return rc;
}

} // namespace muster::agent

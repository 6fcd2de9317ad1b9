// The slot pool's processes: hooks, and sidecars started, probed until ready,
// and stopped. Each is started here and returns at once; its exit comes back
// through on_exit, and its deadlines through advance(), so that a slot's life
// is a chain of events of the agent's loop and never a wait of its own.

#include "agent/slot_pool.hpp"
#include "core/backoff.hpp"
#include "core/template.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <csignal>
#include <sys/wait.h>

namespace muster::agent {

namespace {

// A readiness probe waits at most this long for its answer, and failed ones
// are tried again this often: the loop serves everything else in between.
constexpr int64_t k_probe_timeout_ms = 200;
constexpr int64_t k_probe_every_ms = 200;
// While a probe waits for its answer, the loop looks again this often.
constexpr int64_t k_probe_poll_ms = 10;

const char* hook_name(int kind) {
  static const char* const names[] = {"", "setup", "ready", "teardown"};
  return names[kind];
}

} // namespace

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

bool SlotPool::start_hook(size_t s, Hook kind, const std::string& script) {
  // Values in a hook are quoted for sh, as with --shell.
  Slot& slot = m_slots[s];
  core::JobContext ctx{"", m_run.id, number(s), 0, &slot.values};
  const std::string what = hook_name(static_cast<int>(kind));
  const std::string text = core::render_without_row(script, core::Shell::yes, ctx);
  log(s, what + ": " + text);
  auto pid = start_script(s, text, {});
  if (!pid) {
    log(s, what + " could not start: " + pid.error().message);
    slot.error = what + " could not start: " + pid.error().message;
    return false;
  }
  slot.hook = *pid;
  slot.hook_kind = kind;
  slot.hook_stopping = false;
  m_hooks[*pid] = s;
  return true;
}

void SlotPool::start_sidecar(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  core::JobContext ctx{"", m_run.id, number(s), 0, &slot.values};
  exec::StartRequest req = request(s);
  for (const auto& word : cfg.sidecar) {
    req.argv.push_back(core::render_without_row(word, core::Shell::no, ctx));
  }
  log(s, "sidecar: " + util::join(req.argv, " "));
  slot.state = SlotState::starting;
  auto pid = m_runner.start(req);
  if (!pid) {
    log(s, "sidecar could not start: " + pid.error().message);
    sidecar_failed(s, "sidecar could not start: " + pid.error().message);
    return;
  }
  slot.sidecar = *pid;
  slot.stopping = false;
  m_sidecars[*pid] = s;
  const int64_t now = util::monotonic_ms();
  slot.ready_by = now + cfg.ready_timeout_ms;
  slot.probe_at = now;
  slot.probe.reset();
  check_ready(s, now);
}

void SlotPool::check_ready(size_t s, int64_t now) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  if (slot.hook != 0 || slot.sidecar == 0 || slot.stopping) {
    return; // a `cmd:` check runs, or the sidecar's exit is on its way
  }
  core::JobContext ctx{"", m_run.id, number(s), 0, &slot.values};
  const std::string ready = core::render_without_row(cfg.ready, core::Shell::no, ctx);
  if (now >= slot.ready_by) {
    std::string error = "sidecar not ready within " +
                        util::format_duration(cfg.ready_timeout_ms) + " (" + ready + ")";
    const std::string tail = util::read_file(log_path(s));
    error += "; the end of its log:\n" +
             tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0);
    stop_sidecar(s);
    sidecar_failed(s, std::move(error));
    return;
  }
  if (now < slot.probe_at) {
    return;
  }
  if (!slot.probe) {
    slot.probe_at = now + k_probe_every_ms;
    if (ready.empty()) {
      became_ready(s);
      return;
    }
    if (ready.rfind("cmd:", 0) == 0) {
      if (!start_hook(s, Hook::ready, cfg.ready.substr(4))) {
        stop_sidecar(s);
        sidecar_failed(s, slot.error);
      }
      return;
    }
    slot.probe = m_runner.probe(ready, now + k_probe_timeout_ms);
  }
  // The probe goes on from the loop: it never waits for its answer here.
  switch (slot.probe->check(now)) {
  case exec::Probe::Status::ready:
    slot.probe.reset();
    became_ready(s);
    break;
  case exec::Probe::Status::failed:
    slot.probe.reset(); // the next one at probe_at
    break;
  case exec::Probe::Status::pending:
    slot.probe_at = now + k_probe_poll_ms;
    break;
  }
}

void SlotPool::became_ready(size_t s) {
  Slot& slot = m_slots[s];
  log(s, "sidecar ready");
  slot.state = SlotState::ready;
  slot.ever_ready = true;
  slot.probe_at = slot.ready_by = -1;
  slot.probe.reset();
}

void SlotPool::sidecar_failed(size_t s, std::string error) {
  Slot& slot = m_slots[s];
  slot.error = std::move(error);
  slot.probe_at = slot.ready_by = -1;
  slot.probe.reset();
  if (!slot.ever_ready || ++slot.restarts > m_run.settings.slot.max_restarts) {
    fail(s, slot.error, false);
    return;
  }
  slot.state = SlotState::restarting;
  slot.restart_at = util::monotonic_ms() +
                    core::backoff_delay_ms(m_run.settings.backoff, slot.restarts, 0);
  log(s, slot.error + "; restarts in " +
             util::format_duration(slot.restart_at - util::monotonic_ms()));
}

void SlotPool::stop(Slot& slot, pid_t pid, bool& stopping) {
  if (pid == 0 || stopping) {
    return;
  }
  stopping = true;
  m_runner.signal_group(pid, SIGTERM);
  if (slot.kill_at < 0) {
    slot.kill_at = util::monotonic_ms() + m_run.settings.kill_grace_ms;
  }
}

void SlotPool::stop_sidecar(size_t s) {
  Slot& slot = m_slots[s];
  stop(slot, slot.sidecar, slot.stopping);
}

void SlotPool::stop_hook(size_t s) {
  Slot& slot = m_slots[s];
  stop(slot, slot.hook, slot.hook_stopping);
}

void SlotPool::advance() {
  const int64_t now = util::monotonic_ms();
  const bool at_once = m_loop.stop_at_once(); // "stop at once" covers hooks too
  for (size_t s = 0; s < m_slots.size(); ++s) {
    Slot& slot = m_slots[s];
    if (at_once || (slot.kill_at >= 0 && now >= slot.kill_at)) {
      slot.kill_at = -1;
      if (slot.hook != 0 && (at_once || slot.hook_stopping)) {
        m_runner.signal_group(slot.hook, SIGKILL);
      }
      if (slot.sidecar != 0 && (at_once || slot.stopping)) {
        m_runner.signal_group(slot.sidecar, SIGKILL);
      }
    }
    if (slot.state == SlotState::starting && !slot.tearing_down) {
      check_ready(s, now);
    }
  }
}

bool SlotPool::on_exit(const exec::Exited& exited) {
  if (auto it = m_hooks.find(exited.pid); it != m_hooks.end()) {
    const size_t slot = it->second;
    m_hooks.erase(it);
    on_hook_exit(slot, exited.status);
    return true;
  }
  auto it = m_sidecars.find(exited.pid);
  if (it == m_sidecars.end()) {
    return false;
  }
  const size_t slot = it->second;
  m_sidecars.erase(it);
  on_sidecar_exit(slot, exited);
  return true;
}

void SlotPool::on_hook_exit(size_t s, int status) {
  Slot& slot = m_slots[s];
  const Hook kind = slot.hook_kind;
  slot.hook = 0;
  slot.hook_kind = Hook::none;
  slot.hook_stopping = false;
  if (slot.sidecar == 0 || !slot.stopping) {
    slot.kill_at = -1;
  }
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const std::string what = hook_name(static_cast<int>(kind));
  log(s, what + " exited " + std::to_string(rc));
  if (slot.tearing_down) {
    if (kind == Hook::teardown && rc != 0) {
      m_reporter.warning("slot " + std::to_string(number(s)) + ": teardown exited " +
                         std::to_string(rc));
    }
    continue_teardown(s);
    return;
  }
  if (kind == Hook::setup) {
    if (rc != 0) {
      fail(s, "setup exited " + std::to_string(rc), true);
    } else {
      after_setup(s);
    }
  } else if (kind == Hook::ready && slot.state == SlotState::starting) {
    if (rc == 0) {
      became_ready(s);
    } else {
      check_ready(s, util::monotonic_ms()); // the deadline may have passed
    }
  }
}

void SlotPool::on_sidecar_exit(size_t s, const exec::Exited& exited) {
  Slot& slot = m_slots[s];
  const bool on_purpose = slot.stopping;
  slot.sidecar = 0;
  slot.stopping = false;
  if (slot.hook == 0 || !slot.hook_stopping) {
    slot.kill_at = -1;
  }
  log(s, std::string("sidecar exited (") +
             (WIFEXITED(exited.status)
                  ? "code " + std::to_string(WEXITSTATUS(exited.status))
                  : "signal " + std::to_string(WTERMSIG(exited.status))) +
             ")");
  if (slot.tearing_down) {
    continue_teardown(s);
    return;
  }
  if (on_purpose) {
    return;
  }
  if (slot.state == SlotState::starting) {
    if (slot.hook != 0) {
      stop_hook(s); // its ready check asks a sidecar that is gone
    }
    sidecar_failed(s, "sidecar exited before it was ready (see " + log_path(s) + ")");
    return;
  }
  if (slot.state != SlotState::ready) {
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
  m_closing = true;
  for (size_t s = 0; s < m_slots.size(); ++s) {
    begin_teardown(s);
  }
}

bool SlotPool::tearing_down() const {
  for (const Slot& slot : m_slots) {
    if (slot.tearing_down) {
      return true;
    }
  }
  return false;
}

void SlotPool::begin_teardown(size_t s) {
  Slot& slot = m_slots[s];
  if (!slot.set_up || slot.tearing_down) {
    if (!slot.tearing_down && (m_closing || slot.retiring)) {
      slot.state = SlotState::retired; // never set up: nothing to undo
      slot.retiring = false;
    }
    return;
  }
  slot.set_up = false; // once, whatever happens below
  slot.tearing_down = true;
  slot.teardown_ran = false;
  continue_teardown(s);
}

void SlotPool::continue_teardown(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  if (slot.hook != 0) {
    if (slot.hook_kind != Hook::teardown) {
      stop_hook(s); // a setup or ready check still running
    }
    return;
  }
  if (slot.sidecar != 0) {
    stop_sidecar(s);
    return;
  }
  if (!slot.teardown_ran && !cfg.teardown.empty()) {
    slot.teardown_ran = true;
    if (start_hook(s, Hook::teardown, cfg.teardown)) {
      return;
    }
    m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error);
  }
  if (!slot.dir.empty() && !cfg.dir_keep) {
    // Reported, not retried: teardown goes on for the other slots, and what
    // is left costs only disk; the next setup of this slot makes it afresh.
    if (auto removed = util::remove_tree(slot.dir); !removed) {
      m_reporter.warning("slot " + std::to_string(number(s)) + ": cannot remove " +
                         slot.dir + ": " + removed.error().message);
    }
  }
  slot.tearing_down = false;
  if (m_closing || slot.retiring) {
    if (slot.retiring) {
      log(s, "retired: the run was scaled down");
    }
    slot.state = SlotState::retired;
    slot.retiring = false;
  } else {
    // Scaled up again while it was torn down: it is set up afresh.
    slot.state = SlotState::waiting;
    slot.start_at = util::monotonic_ms();
  }
}

} // namespace muster::agent

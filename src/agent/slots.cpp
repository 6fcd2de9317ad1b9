// A slot's life: its stagger, directory, setup hook and sidecar; the sidecar's
// restarts; and teardown, once, on every way out. Hooks and sidecars run
// through the same Runner as jobs, so exits keep being reaped and dispatched
// while a slot waits for one.

#include "agent/agent.hpp"

#include <algorithm>

#include "core/backoff.hpp"
#include "core/run_files.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::agent {

util::Result<AgentResult> Agent::teardown(int64_t rid, bool cancel) {
  auto busy = take_over(rid);
  if (!busy) {
    return busy.error();
  }
  if (*busy) {
    return **busy;
  }
  AgentResult result;
  auto ports = core::plan_ports(m_run.settings.ports, std::max<int64_t>(m_opts.slots, 1));
  if (ports && m_run.settings.slot.any()) {
    prepare_slots(*ports);
    // Which slots the dead agent had set up is not recorded: tear down all;
    // teardown hooks must tolerate a slot that never started.
    for (auto& slot : m_slots) {
      slot.set_up = true;
    }
    teardown_slots();
  }
  if (cancel) {
    if (auto r = m_store.cancel_rest(rid, util::now_ms()); !r) {
      return r.error();
    }
  }
  auto counts = m_store.counts(rid);
  if (counts) {
    result.counts = *counts;
  }
  leave(rid, cancel ? core::RunState::cancelled : core::RunState::paused);
  result.ending = cancel ? Ending::cancelled : Ending::interrupted;
  return ports ? util::Result<AgentResult>(result) : util::Result<AgentResult>(ports.error());
}

std::string Agent::slot_log(size_t slot) const {
  return core::RunFiles(m_opts.store_dir, m_run.id).slot_log(number(slot));
}

void Agent::move_output_to_log(size_t slot, const std::string& base) const {
  for (const char* ext : {".out", ".err"}) {
    const std::string out = util::read_file(base + ext);
    if (!out.empty()) {
      util::append_file(slot_log(slot), out + (out.back() == '\n' ? "" : "\n"));
    }
    ::unlink((base + ext).c_str());
  }
}

void Agent::log_slot(size_t slot, const std::string& line) const {
  util::append_file(slot_log(slot), util::format_timestamp(util::now_ms()) + " " + line + "\n");
}

util::Result<std::vector<core::SlotPorts>> Agent::lease_slots(int64_t n) {
  // Numbers unique on this host for the run, so joined agents' ports differ.
  auto taken = m_store.take_slots(m_run.rid, m_aid, m_opts.me.host, n);
  if (!taken) {
    return taken.error();
  }
  const std::vector<int64_t>& numbers = *taken;
  const int64_t highest = numbers.empty() ? 0 : *std::max_element(numbers.begin(), numbers.end());
  auto plan = core::plan_ports(m_run.settings.ports, highest + 1);
  if (!plan) {
    return plan.error();
  }
  std::vector<core::SlotPorts> out;
  for (int64_t number : numbers) {
    out.push_back((*plan)[static_cast<size_t>(number)]);
  }
  return out;
}

void Agent::prepare_slots(const std::vector<core::SlotPorts>& ports) {
  ::mkdir(core::RunFiles(m_opts.store_dir, m_run.id).logs_dir().c_str(), 0755);
  const int64_t now = util::monotonic_ms();
  m_slots.clear();
  m_slot_index.clear();
  m_slot_values.clear();
  m_slot_env.clear();
  m_slot_busy.clear();
  for (size_t i = 0; i < ports.size(); ++i) {
    add_slot(ports[i], now + static_cast<int64_t>(i) * m_run.settings.slot.stagger_ms);
  }
}

void Agent::add_slot(const core::SlotPorts& ports, int64_t start_at) {
  const auto& cfg = m_run.settings.slot;
  std::string base = m_opts.store_dir;
  if (!base.empty() && base[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
      base = std::string(cwd) + "/" + base;
    }
  }
  Slot slot;
  auto values = core::slot_values(ports);
  auto env = core::slot_env(ports);
  if (cfg.dir) {
    slot.dir = core::RunFiles(base, m_run.id).slot_dir(ports.slot);
    values["slot_dir"] = slot.dir;
    env.push_back("MUSTER_SLOT_DIR=" + slot.dir);
  }
  slot.start_at = start_at;
  slot.number = ports.slot;
  m_slot_index[ports.slot] = m_slots.size();
  m_slots.push_back(std::move(slot));
  m_slot_values.push_back(std::move(values));
  m_slot_env.push_back(std::move(env));
  m_slot_busy.push_back(false);
}

void Agent::scale_to(int64_t slots) {
  const auto want = static_cast<size_t>(std::max<int64_t>(1, slots));
  const int64_t now = util::monotonic_ms();
  for (size_t s = 0; s < std::min(want, m_slots.size()); ++s) {
    m_slots[s].retiring = false;
    if (m_slots[s].state == SlotState::retired) {
      m_slots[s].state = SlotState::waiting; // set up again
      m_slots[s].start_at = now;
    }
  }
  if (want > m_slots.size()) {
    auto ports = lease_slots(static_cast<int64_t>(want - m_slots.size()));
    if (!ports) {
      m_reporter.warning("cannot scale to " + std::to_string(want) + " slots: " +
                         ports.error().message);
      return;
    }
    for (size_t i = 0; i < ports->size(); ++i) {
      add_slot((*ports)[i], now + static_cast<int64_t>(i) * m_run.settings.slot.stagger_ms);
    }
  }
  for (size_t s = want; s < m_slots.size(); ++s) {
    if (m_slots[s].state != SlotState::retired) {
      m_slots[s].retiring = true;
    }
  }
  m_reporter.notice("scaled to " + std::to_string(want) + " slot(s)");
}

void Agent::retire_idle_slots() {
  for (size_t s = 0; s < m_slots.size(); ++s) {
    Slot& slot = m_slots[s];
    if (slot.retiring && !m_slot_busy[s]) {
      teardown_slot(s);
      slot.retiring = false;
      slot.state = SlotState::retired;
      log_slot(s, "retired: the run was scaled down");
    }
  }
}

void Agent::activate_due_slots() {
  const auto& cfg = m_run.settings.slot;
  const int64_t now = util::monotonic_ms();
  for (size_t s = 0; s < m_slots.size() && !m_draining; ++s) {
    Slot& slot = m_slots[s];
    if (slot.state != SlotState::waiting || slot.start_at > now || slot.retiring) {
      continue;
    }
    slot.set_up = true;
    if (cfg.dir) {
      auto made = cfg.dir_from.empty()
                      ? util::make_dirs(slot.dir)
                      : util::copy_tree(cfg.dir_from, slot.dir, cfg.dir_exclude);
      if (!made) {
        slot.state = SlotState::failed;
        slot.error = made.error().message;
        log_slot(s, "directory: " + slot.error);
        m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error);
        continue;
      }
      log_slot(s, "directory " + slot.dir + (cfg.dir_from.empty() ? "" : " from " + cfg.dir_from));
    }
    if (!cfg.setup.empty()) {
      auto rc = run_hook(s, "setup", cfg.setup);
      if (!rc || *rc != 0) {
        slot.state = SlotState::failed;
        slot.error = rc ? "setup exited " + std::to_string(*rc) : rc.error().message;
        m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error + " (see " +
                           slot_log(s) + ")");
        continue;
      }
    }
    if (!cfg.sidecar.empty() && !start_sidecar(s)) {
      slot.state = SlotState::failed;
      m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error);
      continue;
    }
    slot.state = SlotState::ready;
  }
  // Sidecars that died between jobs come back, with backoff.
  for (size_t s = 0; s < m_slots.size() && !m_draining; ++s) {
    Slot& slot = m_slots[s];
    if (slot.state != SlotState::restarting || slot.restart_at > util::monotonic_ms()) {
      continue;
    }
    if (start_sidecar(s)) {
      slot.state = SlotState::ready;
    } else if (++slot.restarts > cfg.max_restarts) {
      slot.state = SlotState::failed;
      m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error);
    } else {
      slot.restart_at = util::monotonic_ms() +
                        core::backoff_delay_ms(m_run.settings.backoff, slot.restarts, 0);
    }
  }
}

bool Agent::start_sidecar(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  core::JobContext ctx{"", m_run.id, number(s), 0, &m_slot_values[s]};
  exec::StartRequest req;
  for (const auto& word : cfg.sidecar) {
    req.argv.push_back(core::render_without_row(word, core::Shell::no, ctx));
  }
  req.env = {"MUSTER_RUN_ID=" + m_run.id, "MUSTER_SLOT=" + std::to_string(number(s))};
  req.env.insert(req.env.end(), m_slot_env[s].begin(), m_slot_env[s].end());
  const std::string base =
      core::RunFiles(m_opts.store_dir, m_run.id).slot_stem(number(s), "sidecar");
  req.stdout_path = base + ".out";
  req.stderr_path = base + ".err";
  req.max_output = m_run.settings.max_output;
  log_slot(s, "sidecar: " + util::join(req.argv, " "));
  auto pid = m_runner.start(req);
  if (!pid) {
    slot.error = "sidecar could not start: " + pid.error().message;
    log_slot(s, slot.error);
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
      slot.error = "sidecar exited before it was ready (see " + slot_log(s) + ")";
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
      log_slot(s, "sidecar ready");
      return true;
    }
    if (m_draining || util::monotonic_ms() >= deadline) {
      slot.error = m_draining ? "stopped while its sidecar was starting"
                              : "sidecar not ready within " +
                                    util::format_duration(cfg.ready_timeout_ms) + " (" + ready +
                                    ")";
      stop_sidecar(s);
      const std::string tail = util::read_file(slot_log(s));
      slot.error += "; the end of its log:\n" +
                    tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0);
      return false;
    }
    auto events = m_runner.wait(util::monotonic_ms() + 200);
    if (events) {
      for (int sig : events->signals) {
        on_signal(sig);
      }
      for (const auto& e : events->exited) {
        dispatch_exit(e);
      }
    }
    check_deadlines(util::monotonic_ms());
  }
}

void Agent::stop_sidecar(size_t s) {
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
    if (!killed && (util::monotonic_ms() >= kill_at || m_signals_seen >= 2)) {
      m_runner.signal_group(pid, SIGKILL);
      killed = true;
    }
    auto events = m_runner.wait(util::monotonic_ms() + 100);
    if (!events) {
      break;
    }
    for (int sig : events->signals) {
      on_signal(sig);
    }
    for (const auto& e : events->exited) {
      dispatch_exit(e);
    }
  }
}

void Agent::on_sidecar_exit(size_t s, const exec::Exited& exited) {
  Slot& slot = m_slots[s];
  slot.sidecar = 0;
  const std::string base =
      core::RunFiles(m_opts.store_dir, m_run.id).slot_stem(number(s), "sidecar");
  move_output_to_log(s, base);
  log_slot(s, std::string("sidecar exited (") +
                  (WIFEXITED(exited.status) ? "code " + std::to_string(WEXITSTATUS(exited.status))
                                            : "signal " + std::to_string(WTERMSIG(exited.status))) +
                  ")");
  if (slot.stopping || slot.state != SlotState::ready) {
    return;
  }
  // It died while the run went on: the slot's job cannot trust it either.
  for (auto& [pid, a] : m_active) {
    if (a.claim.slot == static_cast<int64_t>(s)) {
      a.sidecar_died = true;
      m_runner.signal_group(pid, SIGTERM);
      a.kill_at = util::monotonic_ms() + m_run.settings.kill_grace_ms;
    }
  }
  if (slot.restarts >= m_run.settings.slot.max_restarts) {
    slot.state = SlotState::failed;
    slot.error = "sidecar died and was restarted " + std::to_string(slot.restarts) + " times";
    m_reporter.warning("slot " + std::to_string(number(s)) + ": " + slot.error);
    return;
  }
  ++slot.restarts;
  slot.state = SlotState::restarting;
  slot.restart_at = util::monotonic_ms() +
                    core::backoff_delay_ms(m_run.settings.backoff, slot.restarts, 0);
  log_slot(s, "sidecar restarts in " + util::format_duration(slot.restart_at - util::monotonic_ms()));
}

void Agent::teardown_slots() {
  for (size_t s = 0; s < m_slots.size(); ++s) {
    teardown_slot(s);
  }
}

void Agent::teardown_slot(size_t s) {
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
    (void)util::remove_tree(slot.dir);
  }
}

util::Result<int> Agent::run_hook(size_t slot, const std::string& what,
                                  const std::string& script) {
  // Values in a hook are quoted for sh, as with --shell.
  core::JobContext ctx{"", m_run.id, number(slot), 0, &m_slot_values[slot]};
  exec::StartRequest req;
  req.argv = {"/bin/sh", "-c", core::render_without_row(script, core::Shell::yes, ctx)};
  req.env = {"MUSTER_RUN_ID=" + m_run.id, "MUSTER_SLOT=" + std::to_string(number(slot))};
  req.env.insert(req.env.end(), m_slot_env[slot].begin(), m_slot_env[slot].end());
  const std::string base =
      core::RunFiles(m_opts.store_dir, m_run.id).slot_stem(number(slot), what);
  req.stdout_path = base + ".out";
  req.stderr_path = base + ".err";
  req.max_output = m_run.settings.max_output;
  log_slot(slot, what + ": " + req.argv.back());
  auto pid = m_runner.start(req);
  if (!pid) {
    log_slot(slot, what + " could not start: " + pid.error().message);
    return pid.error();
  }
  int status = -1;
  bool killed = false;
  while (status < 0) {
    auto events = m_runner.wait(util::monotonic_ms() + 100);
    if (!events) {
      return events.error();
    }
    for (int sig : events->signals) {
      on_signal(sig);
    }
    if (m_signals_seen >= 2 && !killed) {
      m_runner.signal_group(*pid, SIGKILL); // "stop at once" covers hooks too
      killed = true;
    }
    for (const auto& e : events->exited) {
      if (e.pid == *pid) {
        status = WIFEXITED(e.status) ? WEXITSTATUS(e.status) : 128 + WTERMSIG(e.status);
      } else {
        dispatch_exit(e);
      }
    }
    check_deadlines(util::monotonic_ms());
  }
  move_output_to_log(slot, base);
  log_slot(slot, what + " exited " + std::to_string(status));
  return status;
}

} // namespace muster::agent

#include "agent/slot_pool.hpp"

#include "core/backoff.hpp"
#include "core/run_files.hpp"
#include "core/template.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::agent {

SlotPool::SlotPool(store::Store& store, exec::Runner& runner, Reporter& reporter,
                   PoolLoop& loop, const store::RunRecord& run,
                   const std::string& store_dir, const std::string& host)
    : m_store(store), m_runner(runner), m_reporter(reporter), m_loop(loop), m_run(run),
      m_store_dir(store_dir), m_host(host) {}

util::Result<void> SlotPool::open(int64_t n, int64_t aid) {
  auto ports = lease(n, aid);
  if (!ports) {
    return ports.error();
  }
  prepare(*ports);
  return {};
}

util::Result<void> SlotPool::adopt(int64_t n) {
  auto ports = core::plan_ports(m_run.settings.ports, n);
  if (!ports) {
    return ports.error();
  }
  if (m_run.settings.slot.any()) {
    prepare(*ports);
    // Teardown hooks must tolerate a slot that never started.
    for (auto& slot : m_slots) {
      slot.set_up = true;
    }
  }
  return {};
}

util::Result<std::vector<core::SlotPorts>> SlotPool::lease(int64_t n, int64_t aid) {
  // Numbers unique on this host for the run, so joined agents' ports differ.
  auto taken = m_store.take_slots(m_run.rid, aid, m_host, n);
  if (!taken) {
    return taken.error();
  }
  const std::vector<int64_t>& numbers = *taken;
  const int64_t highest =
      numbers.empty() ? 0 : *std::max_element(numbers.begin(), numbers.end());
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

void SlotPool::prepare(const std::vector<core::SlotPorts>& ports) {
  ::mkdir(core::RunFiles(m_store_dir, m_run.id).logs_dir().c_str(), 0777);
  const int64_t now = util::monotonic_ms();
  m_slots.clear();
  m_index.clear();
  for (size_t i = 0; i < ports.size(); ++i) {
    add(ports[i], now + static_cast<int64_t>(i) * m_run.settings.slot.stagger_ms);
  }
}

void SlotPool::add(const core::SlotPorts& ports, int64_t start_at) {
  std::string base = m_store_dir;
  if (!base.empty() && base[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
      base = std::string(cwd) + "/" + base;
    }
  }
  Slot slot;
  slot.values = core::slot_values(ports);
  slot.env = core::slot_env(ports);
  if (m_run.settings.slot.dir) {
    slot.dir = core::RunFiles(base, m_run.id).slot_dir(ports.slot);
    slot.values["slot_dir"] = slot.dir;
    slot.env.push_back("MUSTER_SLOT_DIR=" + slot.dir);
  }
  slot.start_at = start_at;
  slot.number = ports.slot;
  m_index[ports.slot] = m_slots.size();
  m_slots.push_back(std::move(slot));
}

void SlotPool::scale_to(int64_t n, int64_t aid) {
  const auto want = static_cast<size_t>(std::max<int64_t>(1, n));
  const int64_t now = util::monotonic_ms();
  for (size_t s = 0; s < std::min(want, m_slots.size()); ++s) {
    m_slots[s].retiring = false;
    if (m_slots[s].state == SlotState::retired) {
      m_slots[s].state = SlotState::waiting; // set up again
      m_slots[s].start_at = now;
    }
  }
  if (want > m_slots.size()) {
    auto ports = lease(static_cast<int64_t>(want - m_slots.size()), aid);
    if (!ports) {
      m_reporter.warning("cannot scale to " + std::to_string(want) +
                         " slots: " + ports.error().message);
      return;
    }
    for (size_t i = 0; i < ports->size(); ++i) {
      add((*ports)[i], now + static_cast<int64_t>(i) * m_run.settings.slot.stagger_ms);
    }
  }
  for (size_t s = want; s < m_slots.size(); ++s) {
    if (m_slots[s].state != SlotState::retired) {
      m_slots[s].retiring = true;
    }
  }
  m_reporter.notice("scaled to " + std::to_string(want) + " slot(s)");
}

void SlotPool::retire_idle() {
  for (size_t s = 0; s < m_slots.size(); ++s) {
    Slot& slot = m_slots[s];
    if (slot.retiring && !slot.busy && !slot.tearing_down) {
      begin_teardown(s);
    }
  }
}

void SlotPool::activate_due() {
  const int64_t now = util::monotonic_ms();
  for (size_t s = 0; s < m_slots.size() && !m_loop.draining(); ++s) {
    const Slot& slot = m_slots[s];
    if (slot.state == SlotState::waiting && slot.start_at <= now && !slot.retiring) {
      set_up(s);
    }
  }
  // Sidecars that died between jobs come back, with backoff.
  for (size_t s = 0; s < m_slots.size() && !m_loop.draining(); ++s) {
    const Slot& slot = m_slots[s];
    if (slot.state == SlotState::restarting && slot.restart_at <= util::monotonic_ms() &&
        slot.sidecar == 0 && !slot.tearing_down) {
      start_sidecar(s);
    }
  }
}

void SlotPool::fail(size_t s, const std::string& error, bool see_log) {
  m_slots[s].state = SlotState::failed;
  m_slots[s].error = error;
  m_reporter.warning("slot " + std::to_string(number(s)) + ": " + error +
                     (see_log ? " (see " + log_path(s) + ")" : ""));
}

void SlotPool::set_up(size_t s) {
  const auto& cfg = m_run.settings.slot;
  Slot& slot = m_slots[s];
  slot.set_up = true;
  slot.state = SlotState::setting_up;
  if (cfg.dir) {
    auto made = cfg.dir_from.empty()
                    ? util::make_dirs(slot.dir)
                    : util::copy_tree(cfg.dir_from, slot.dir, cfg.dir_exclude);
    if (!made) {
      log(s, "directory: " + made.error().message);
      fail(s, made.error().message, false);
      return;
    }
    log(s,
        "directory " + slot.dir + (cfg.dir_from.empty() ? "" : " from " + cfg.dir_from));
  }
  if (cfg.setup.empty()) {
    after_setup(s);
  } else if (!start_hook(s, Hook::setup, cfg.setup)) {
    fail(s, slot.error, true);
  }
}

void SlotPool::after_setup(size_t s) {
  if (m_loop.draining()) {
    return; // stopped while it was set up: only its teardown is left
  }
  if (m_run.settings.slot.sidecar.empty()) {
    m_slots[s].state = SlotState::ready;
  } else {
    start_sidecar(s);
  }
}

bool SlotPool::any_usable() const {
  return std::any_of(m_slots.begin(), m_slots.end(), [](const Slot& s) {
    return s.state != SlotState::failed && s.state != SlotState::retired && !s.retiring;
  });
}

bool SlotPool::any_starting() const {
  return std::any_of(m_slots.begin(), m_slots.end(), [](const Slot& s) {
    return !s.retiring && !s.tearing_down &&
           (s.state == SlotState::waiting || s.state == SlotState::setting_up ||
            s.state == SlotState::starting || s.state == SlotState::restarting);
  });
}

const std::vector<int64_t>& SlotPool::free_numbers() {
  m_free.clear();
  for (const Slot& slot : m_slots) {
    if (!slot.busy && slot.state == SlotState::ready && !slot.retiring &&
        !slot.tearing_down) {
      m_free.push_back(slot.number);
    }
  }
  return m_free;
}

std::string SlotPool::failure() const {
  return "no slot could be set up; slot 0: " + m_slots[0].error + " (see " + log_path(0) +
         ")";
}

int64_t SlotPool::next_deadline(int64_t next) const {
  auto consider = [&](int64_t t) {
    if (t >= 0 && t < next) {
      next = t;
    }
  };
  for (const auto& slot : m_slots) {
    consider(slot.kill_at);
    if (slot.state == SlotState::starting && slot.hook == 0) {
      consider(std::min(slot.probe_at, slot.ready_by));
    }
    if (!m_loop.draining()) {
      consider(slot.state == SlotState::waiting      ? slot.start_at
               : slot.state == SlotState::restarting ? slot.restart_at
                                                     : -1);
    }
  }
  return next;
}

std::vector<store::SlotReport>
SlotPool::reports(const std::vector<BusySlot>& busy) const {
  using store::SidecarState;
  using store::SlotActivity;
  const int64_t now = util::now_ms();
  const int64_t mono = util::monotonic_ms();
  std::vector<store::SlotReport> out;
  out.reserve(m_slots.size());
  for (size_t s = 0; s < m_slots.size(); ++s) {
    const Slot& slot = m_slots[s];
    store::SlotReport r;
    r.slot = slot.number;
    switch (slot.state) {
    case SlotState::waiting:
    case SlotState::setting_up:
    case SlotState::starting:
      r.activity = SlotActivity::starting;
      break;
    case SlotState::ready:
      r.activity = SlotActivity::idle;
      break;
    case SlotState::restarting:
      r.activity = SlotActivity::restarting;
      break;
    case SlotState::failed:
      r.activity = SlotActivity::failed;
      break;
    case SlotState::retired:
      r.activity = SlotActivity::retired;
      break;
    }
    auto it = std::find_if(busy.begin(), busy.end(),
                           [&](const BusySlot& b) { return b.slot == s; });
    if (it != busy.end()) {
      r.activity = SlotActivity::busy;
      r.job = *it->job_id;
      r.since = now - (mono - it->started_mono);
    }
    if (!m_run.settings.slot.sidecar.empty()) {
      r.sidecar = slot.tearing_down                     ? SidecarState::stopped
                  : slot.state == SlotState::ready      ? SidecarState::ready
                  : slot.state == SlotState::restarting ? SidecarState::restarting
                  : slot.state == SlotState::failed     ? SidecarState::failed
                  : slot.sidecar != 0                   ? SidecarState::starting
                                                        : SidecarState::stopped;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string SlotPool::log_path(size_t slot) const {
  return core::RunFiles(m_store_dir, m_run.id).slot_log(number(slot));
}

void SlotPool::log(size_t slot, const std::string& line) {
  util::Fd& fd = m_slots[slot].log;
  if (!fd.valid()) {
    fd.reset(
        ::open(log_path(slot).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666));
  }
  // One write per line: O_APPEND keeps it whole among the hooks' own output.
  const std::string text = util::format_timestamp(util::now_ms()) + " " + line + "\n";
  if (fd.valid() && ::write(fd.get(), text.data(), text.size()) < 0) {
    fd.reset(); // tried again at the next line
  }
}

} // namespace muster::agent

#include "agent/fence_timer.hpp"

#include "util/time.hpp"

#include <chrono>
#include <csignal>

namespace muster::agent {

FenceTimer::FenceTimer() : m_thread([this] { loop(); }) {}

FenceTimer::~FenceTimer() {
  {
    const std::lock_guard lock(m_mu);
    m_stop = true;
  }
  m_cv.notify_one();
  m_thread.join();
}

void FenceTimer::set_groups(std::vector<pid_t> groups) {
  const std::lock_guard lock(m_mu);
  m_groups = std::move(groups);
}

void FenceTimer::arm(int64_t deadline_mono_ms) {
  {
    const std::lock_guard lock(m_mu);
    m_deadline = deadline_mono_ms;
    m_fired = false;
  }
  m_cv.notify_one();
}

bool FenceTimer::fired() const {
  const std::lock_guard lock(m_mu);
  return m_fired;
}

void FenceTimer::loop() {
  std::unique_lock lock(m_mu);
  while (!m_stop) {
    if (m_deadline == 0 || m_fired) {
      m_cv.wait(lock);
      continue;
    }
    const int64_t left = m_deadline - util::monotonic_ms();
    if (left > 0) {
      m_cv.wait_for(lock, std::chrono::milliseconds(left));
      continue;
    }
    // The lease runs out soon and no heartbeat renewed it: another agent
    // may take these jobs, so they stop here now. The agent's own loop
    // stops what is left (processes that left their group) when it runs.
    for (const pid_t pgid : m_groups) {
      if (pgid > 0) {
        ::kill(-pgid, SIGKILL);
      }
    }
    m_fired = true;
  }
}

} // namespace muster::agent

#include "exec/instant_runner.hpp"

namespace muster::exec {

util::Result<pid_t> InstantRunner::start(const StartRequest&) {
  const pid_t pid = m_next_pid++;
  m_running.insert(pid);
  return pid;
}

util::Result<Events> InstantRunner::wait(int64_t deadline_ms) {
  // Signals still end the wait (Ctrl-C stops a benchmark).
  auto events = m_real->wait(m_running.empty() ? deadline_ms : 0);
  if (!events) {
    return events.error();
  }
  for (const pid_t pid : m_running) {
    events->exited.push_back(Exited{pid, 0, 0, 0, {}, {}, {}});
  }
  m_running.clear();
  return events;
}

} // namespace muster::exec

#pragma once
// The fencing deadline, kept by a thread of its own: unless a heartbeat
// renews it in time, it kills the process groups of the running jobs. A
// store call blocked on a lost network (a TCP timeout, a server that never
// answers) cannot delay it, so a job never outlives its lease.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace muster::agent {

class FenceTimer {
public:
  FenceTimer();
  ~FenceTimer();
  FenceTimer(const FenceTimer&) = delete;
  FenceTimer& operator=(const FenceTimer&) = delete;

  /// The process groups of the jobs running now: those it kills.
  void set_groups(std::vector<pid_t> groups);
  /// Kills them at `deadline_mono_ms` (monotonic), unless armed again first.
  void arm(int64_t deadline_mono_ms);
  /// Whether the deadline passed and the groups were killed.
  bool fired() const;

private:
  void loop();
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::vector<pid_t> m_groups;
  int64_t m_deadline = 0; ///< 0: not armed
  bool m_stop = false;
  bool m_fired = false;
  std::thread m_thread;
};

} // namespace muster::agent

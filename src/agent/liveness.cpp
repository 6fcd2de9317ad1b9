#include "agent/liveness.hpp"

#include "util/time.hpp"

#include <csignal>

namespace muster::agent {

Liveness::Liveness(store::Store& store, Reporter& reporter, Attempts& attempts,
                   int64_t heartbeat_ms, const IsAlive& is_alive,
                   const ReapOrphans& reap_orphans)
    : m_store(store), m_reporter(reporter), m_attempts(attempts),
      m_heartbeat_ms(heartbeat_ms), m_is_alive(is_alive), m_reap_orphans(reap_orphans) {}

void Liveness::start(int64_t mono_ms) {
  m_last_beat = mono_ms;
  m_last_beat_ok = mono_ms;
  m_timer.arm(mono_ms + fence_after_ms());
}

util::Result<size_t> Liveness::beat(int64_t rid, int64_t aid, const std::string& run_id,
                                    double rate,
                                    const std::vector<store::SlotReport>& slots,
                                    int64_t mono_ms) {
  m_last_beat = mono_ms;
  const int64_t now = util::now_ms();
  auto beat = m_store.beat(rid, aid, rate, slots, now, lease_ms());
  if (m_timer.fired() && m_attempts.running() > 0) {
    // The call took so long that the timer killed the jobs meanwhile: they
    // are fenced, whatever the store answered in the end.
    return fence_for_silence(beat ? "" : beat.error().message);
  }
  if (!beat) {
    const bool in_time = mono_ms - m_last_beat_ok < fence_after_ms();
    if (in_time || m_attempts.running() == 0) {
      m_reporter.warning("heartbeat failed: " + beat.error().message);
      return size_t{0}; // its leases still hold; try again next time
    }
    return fence_for_silence(beat.error().message);
  }
  m_last_beat_ok = mono_ms;
  m_timer.arm(mono_ms + fence_after_ms());
  if (beat->offline) {
    // Exit 5, as for any fencing: a supervisor (systemd, a Job's pod
    // policy) starts the agent again, and it joins afresh.
    m_fenced = true;
    m_attempts.fence_all();
    return util::Error{"another agent found this one gone and took over its jobs; they "
                       "were stopped here so that none runs twice",
                       util::ErrorKind::store_unavailable};
  }
  m_attempts.fence(beat->held);
  auto orphans = m_store.recover(rid, aid, m_is_alive, now);
  if (!orphans && orphans.error().kind == util::ErrorKind::store_unavailable) {
    m_reporter.warning("recovering gone agents failed: " + orphans.error().message);
    return size_t{0}; // the next beat looks again
  }
  if (!orphans) {
    return orphans.error();
  }
  // Locks of `muster lock` whose process died or whose time ran out free
  // up, so that jobs waiting on them wake.
  if (auto r = m_store.free_gone_locks(now, m_is_alive); !r) {
    m_reporter.warning("freeing the locks of gone holders failed: " + r.error().message);
  }
  if (!orphans->empty()) {
    reap(run_id, *orphans);
    m_reporter.notice("recovered " + std::to_string(orphans->size()) +
                      " job(s) of an agent that is gone");
  }
  return orphans->size();
}

util::Result<void> Liveness::check_fence() {
  if (!m_timer.fired() || m_attempts.running() == 0) {
    return {};
  }
  return fence_for_silence("");
}

util::Error Liveness::fence_for_silence(const std::string& why) {
  // Before the leases run out, another agent may take these jobs, so they
  // must not run on here. The timer killed their groups already if it
  // fired; this stops whatever is left.
  m_fenced = true;
  m_attempts.stop_all(SIGKILL, core::ErrorType::interrupted);
  return util::Error{"the store has not taken a heartbeat for " +
                         util::format_duration(util::monotonic_ms() - m_last_beat_ok) +
                         "; every job was stopped before its lease ran out, so that none "
                         "runs twice" +
                         (why.empty() ? "" : ": " + why),
                     util::ErrorKind::store_unavailable};
}

void Liveness::reap(const std::string& run_id,
                    const std::vector<store::Orphan>& orphans) const {
  if (!orphans.empty() && m_reap_orphans) {
    m_reap_orphans(run_id, orphans);
  }
}

} // namespace muster::agent

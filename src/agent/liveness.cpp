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
}

util::Result<size_t> Liveness::beat(int64_t rid, int64_t aid, const std::string& run_id,
                                    double rate,
                                    const std::vector<store::SlotReport>& slots,
                                    int64_t mono_ms) {
  m_last_beat = mono_ms;
  const int64_t now = util::now_ms();
  auto beat = m_store.beat(rid, aid, rate, slots, now, lease_ms());
  if (!beat) {
    if (mono_ms - m_last_beat_ok <= lease_ms()) {
      m_reporter.warning("heartbeat failed: " + beat.error().message);
      return size_t{0}; // its leases still hold; try again next time
    }
    // Fencing: once the leases have run out, another agent may take these
    // jobs, so they must not run on here.
    m_attempts.stop_all(SIGKILL, core::ErrorType::interrupted);
    return util::Error{
        "the store has not taken a heartbeat for " +
        util::format_duration(mono_ms - m_last_beat_ok) +
        "; every job was stopped, as its lease ran out: " + beat.error().message};
  }
  m_last_beat_ok = mono_ms;
  if (beat->offline) {
    m_attempts.fence_all();
    return util::Error{
        "another agent found this one gone and took over its jobs; they were "
        "stopped here so that none runs twice"};
  }
  m_attempts.fence(beat->held);
  auto orphans = m_store.recover(rid, aid, m_is_alive, now);
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

void Liveness::reap(const std::string& run_id,
                    const std::vector<store::Orphan>& orphans) const {
  if (!orphans.empty() && m_reap_orphans) {
    m_reap_orphans(run_id, orphans);
  }
}

} // namespace muster::agent

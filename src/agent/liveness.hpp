#pragma once
// Liveness: the heartbeat every interval, which renews this agent's row and
// its jobs' leases; fencing, which stops attempts whose lease another agent
// took (or all of them, when this agent was found gone or the store has been
// out of reach for longer than a lease); and the recovery of agents that are
// gone. The lease arithmetic lives here and nowhere else in the agent.

#include "agent/attempts.hpp"
#include "agent/fence_timer.hpp"
#include "agent/reporter.hpp"
#include "core/liveness.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace muster::agent {

/// Kills what dead agents left running, before their jobs run again.
using ReapOrphans =
    std::function<void(const std::string& run_id, const std::vector<store::Orphan>&)>;
/// Whether a recorded agent process still runs.
using IsAlive = std::function<bool(const store::Holder&)>;

/// This agent's heartbeat, and what follows from the store's answer.
class Liveness {
public:
  Liveness(store::Store& store, Reporter& reporter, Attempts& attempts,
           int64_t heartbeat_ms, const IsAlive& is_alive,
           const ReapOrphans& reap_orphans);
  /// Starts the clocks: the first beat is one interval after `mono_ms`.
  void start(int64_t mono_ms);
  bool due(int64_t mono_ms) const { return mono_ms - m_last_beat >= m_heartbeat_ms; }
  /// How long a claim or a beat holds a job: three heartbeat intervals.
  int64_t lease_ms() const { return core::lease_ms(m_heartbeat_ms); }
  /// How long after the start of the last beat the store took this agent
  /// stops its jobs when no beat gets through: before the lease runs out,
  /// by a margin for the clocks and the kill (half an interval, at least
  /// 500 ms, but never more than one interval, so that the next beat is
  /// always in time to renew it).
  int64_t fence_after_ms() const {
    return lease_ms() -
           std::min(m_heartbeat_ms, std::max<int64_t>(500, m_heartbeat_ms / 2));
  }
  /// Hands the running jobs' process groups to the fencing timer; the
  /// agent calls it every turn.
  void watch() { m_timer.set_groups(m_attempts.groups()); }
  /// Whether this agent stopped its jobs for want of a heartbeat.
  bool fenced() const { return m_fenced; }
  /// After the fencing timer killed the running jobs (a store call blocked
  /// past the deadline): marks them stopped, and says why the agent must
  /// stop. Checked before the loop reaps exits, so they count as
  /// interrupted, not failed.
  util::Result<void> check_fence();
  /// Beats for agent `aid` of run `rid`, fences what is no longer this
  /// agent's, and recovers the jobs of gone agents. Returns how many were
  /// recovered (the run's counts changed), or why this agent must stop.
  util::Result<size_t> beat(int64_t rid, int64_t aid, const std::string& run_id,
                            double rate, const std::vector<store::SlotReport>& slots,
                            int64_t mono_ms);
  /// Kills what `orphans` left running (jobs of a dead agent).
  void reap(const std::string& run_id, const std::vector<store::Orphan>& orphans) const;

private:
  /// Fences: the store took no heartbeat in time, so another agent may take
  /// the jobs. Kills what the timer did not, and says why (`why`: the
  /// store's error, if any).
  util::Error fence_for_silence(const std::string& why);
  store::Store& m_store;
  Reporter& m_reporter;
  Attempts& m_attempts;
  int64_t m_heartbeat_ms;
  const IsAlive& m_is_alive;
  const ReapOrphans& m_reap_orphans;
  int64_t m_last_beat = 0;    ///< monotonic ms of the last beat tried
  int64_t m_last_beat_ok = 0; ///< monotonic ms of the last beat the store took
  bool m_fenced = false;
  FenceTimer m_timer;
};

} // namespace muster::agent

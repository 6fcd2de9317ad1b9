#pragma once
// The control poller: reads what other terminals asked of the run
// (Store::control, a primary-key lookup, every 250 ms, or at once when the
// store notifies and every 2 s besides) and turns it into
// actions for the agent: pause, pause and stop, resume, cancel, scale, jobs
// added, a halt lifted. It is the one place in the agent that reads control
// requests, and it records the run state a pause or a resume implies.

#include "agent/reporter.hpp"
#include "core/run.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <optional>

namespace muster::agent {

/// What one read of the control requests asks the agent to do.
struct ControlActions {
  bool jobs_added = false; ///< the run's generation moved: count again
  int64_t scale_to = 0;    ///< grow or shrink to this many slots; 0: no change
  int64_t resume_at = 0; ///< a halt's end as the store has it (`resume --now` lowers it)
  bool cancel = false;   ///< `muster cancel`, seen for the first time
  bool pause = false;    ///< `muster pause`, seen for the first time
  bool stop_running = false; ///< `muster pause --stop`: running jobs stop too
  bool resume = false;       ///< the pause was lifted
  bool was_paused = false;   ///< paused before this read
};

/// Reads control requests when due, and remembers what is in force.
class ControlPoller {
public:
  ControlPoller(store::Store& store, Reporter& reporter, int64_t interval_ms);
  /// The slot count in force when the agent starts, so only a change scales.
  void start(int64_t slots) { m_target_slots = slots; }
  bool due(int64_t mono_ms) const { return mono_ms - m_last_poll >= m_interval_ms; }
  int64_t next_due() const { return m_last_poll + m_interval_ms; }
  /// Polls this often from now on: less often where the store notifies.
  void set_interval(int64_t ms) { m_interval_ms = ms; }
  /// Makes the next poll due at once (the store said something changed).
  void poll_now() { m_last_poll = -m_interval_ms; }
  /// Reads the requests of run `rid`. `halted_until` (epoch ms) is the end of
  /// a rule's cooldown as the agent knows it: a resume within it leaves the
  /// run halted rather than running.
  util::Result<ControlActions> poll(int64_t rid, int64_t halted_until, int64_t mono_ms);
  bool paused() const { return m_paused; }
  bool cancelling() const { return m_cancelling; }

private:
  /// Writes the run state a pause or a resume implies. A failed write is
  /// reported and tried again at the next poll: the state only tells other
  /// terminals what is going on, and claims follow the request, not it.
  void write_state(int64_t rid);

  store::Store& m_store;
  Reporter& m_reporter;
  int64_t m_interval_ms;
  int64_t m_last_poll = 0;   ///< monotonic ms
  int64_t m_generation = -1; ///< the run's generation last seen (added jobs)
  int64_t m_target_slots = 0;
  bool m_paused = false;     ///< `muster pause`: no claims until resumed
  bool m_cancelling = false; ///< `muster cancel`: stop everything, cancel the rest
  std::optional<core::RunState> m_owed_state; ///< a state not yet written
  bool m_state_warned = false;
};

} // namespace muster::agent

// How an agent's stint ends: the last commit, every slot's teardown, the
// ending and the run's state, and giving the run up; also the teardown of a
// dead agent's run. Store failures on the way out are handled where each one
// is made, and each says why its handling is right.

#include "agent/agent.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>

namespace muster::agent {

util::Result<AgentResult> Agent::finish(int64_t rid, AgentResult result) {
  if (auto r = m_store.commit(rid, m_attempts.updates(), {}, util::now_ms(), m_aid); !r) {
    tear_down_slots(rid);
    ship_slot_logs(rid, true);
    return r.error();
  }
  m_attempts.updates().clear();
  tear_down_slots(rid);
  ship_slot_logs(rid, true);
  const int64_t left_in_store = left_to_do() + m_counts[core::JobState::running] +
                                m_counts[core::JobState::interrupted];
  if (left_in_store > 0) {
    // Other agents may have finished the rest meanwhile: count what the store has.
    recount_or_warn(rid);
  }
  if (m_control.cancelling()) {
    // Everything that has not run is cancelled; the running ones were stopped.
    if (auto r = m_store.cancel_rest(rid, util::now_ms()); !r) {
      return r.error();
    }
    recount_or_warn(rid);
    leave(rid, core::RunState::cancelled);
    result.ending = Ending::cancelled;
    result.counts = m_counts;
    m_reporter.ended(progress());
    return result;
  }
  leave(rid, conclude(result));
  result.counts = m_counts;
  result.failed_fast = m_failed_fast;
  m_reporter.ended(progress());
  return result;
}

core::RunState Agent::conclude(AgentResult& result) const {
  const int64_t unclaimed = left_to_do();
  const bool complete = unclaimed + m_counts[core::JobState::running] +
                            m_counts[core::JobState::interrupted] ==
                        0;
  const bool only_held =
      !m_draining && unclaimed + m_counts[core::JobState::running] == 0;
  if (result.ending == Ending::halted && !complete) {
    result.resume_at = m_halted_until;
    result.reason = m_halt_reason;
    return core::RunState::halted;
  }
  if (m_deadline_passed && !complete) {
    result.ending = Ending::deadline;
    return core::RunState::paused;
  }
  if (result.ending != Ending::waiting || complete) {
    result.ending = complete    ? Ending::completed
                    : only_held ? Ending::held
                                : Ending::interrupted;
    if (!complete && !m_draining && m_counts[core::JobState::running] > 0 &&
        unclaimed == 0) {
      // Nothing is left to claim; other agents are running the last jobs.
      result.ending = Ending::completed;
    }
  }
  return complete ? core::RunState::completed : core::RunState::paused;
}

util::Result<AgentResult> Agent::fail(int64_t rid, const util::Error& error) {
  // Something failed in the loop: stop every job, record what we can.
  m_attempts.stop_all(SIGKILL, core::ErrorType::interrupted);
  while (m_attempts.running() > 0) {
    auto events = m_runner.wait(util::monotonic_ms() + 1000);
    if (!events) {
      break;
    }
    for (const auto& e : events->exited) {
      if (!m_pool.on_exit(e)) {
        on_job_exit(e);
      }
    }
    m_pool.advance();
  }
  // Tried twice, as the failure may be the store's own and passing. If it
  // stays, the attempts stay `running` under this agent in the store, and the
  // next takeover or a live agent's recovery handles them per on_interrupt:
  // nothing is lost, and the error that stopped the loop is still returned.
  auto committed = m_store.commit(rid, m_attempts.updates(), {}, util::now_ms(), m_aid);
  // A fenced agent found the store out of reach already: a second try, and
  // the calls of leave(), would each wait for the network's timeouts.
  m_store_lost = !committed && m_liveness.fenced() &&
                 committed.error().kind == util::ErrorKind::store_unavailable;
  if (!committed && !m_store_lost) {
    committed = m_store.commit(rid, m_attempts.updates(), {}, util::now_ms(), m_aid);
  }
  if (!committed) {
    m_reporter.warning("cannot record how the last jobs ended (they are recovered at the "
                       "next takeover): " +
                       committed.error().message);
  }
  m_attempts.updates().clear();
  tear_down_slots(rid);
  ship_slot_logs(rid, true);
  // A run none of whose slots could be set up "could not run at all".
  leave(rid, m_could_not_run ? core::RunState::failed : core::RunState::paused);
  return error;
}

void Agent::tear_down_slots(int64_t rid) {
  m_pool.teardown_all();
  while (m_pool.tearing_down()) {
    auto events = m_runner.wait(next_deadline());
    if (!events) {
      // The runner cannot wait any more: the keeper kills what is left when
      // muster exits.
      m_reporter.warning("cannot wait for the slots' teardown: " +
                         events.error().message);
      return;
    }
    serve(*events);
    const int64_t mono = util::monotonic_ms();
    if (m_started_mono > 0 && !m_store_lost && m_liveness.due(mono)) { // ran jobs
      if (auto r = heartbeat(rid, mono); !r) {
        m_reporter.warning("cannot send a heartbeat during teardown: " +
                           r.error().message);
      }
    }
  }
}

void Agent::recount_or_warn(int64_t rid) {
  if (auto r = recount(rid); !r) {
    m_reporter.warning("cannot count the run's jobs again; judging the ending from this "
                       "agent's own counts: " +
                       r.error().message);
  }
}

void Agent::leave(int64_t rid, core::RunState state) {
  if (m_store_lost) {
    return; // its heartbeats stopped: recovery on another agent takes over
  }
  // Reported, not retried: an agent recorded as running stops sending
  // heartbeats, so recovery takes it for gone and frees its slot numbers.
  if (auto r = m_store.stop_agent(m_aid, util::now_ms()); !r) {
    m_reporter.warning(
        "cannot record this agent as stopped (it is taken for gone once its "
        "heartbeats stop): " +
        r.error().message);
  }
  auto run = m_store.find_run(m_run.id);
  const auto& me = m_opts.me;
  if (run && !run->holder.empty() &&
      !(run->holder.pid == me.pid && run->holder.host == me.host &&
        run->holder.start_time == me.start_time)) {
    return; // another agent holds the run now; it decides the run's state
  }
  // Tried twice, as a busy store often passes. If it stays, the run keeps
  // this agent, now gone, as its holder, and the next takeover recovers it
  // (as after a crash); what the jobs did is committed already.
  auto released = m_store.release(rid, state);
  if (!released) {
    released = m_store.release(rid, state);
  }
  if (!released) {
    m_reporter.warning(
        "cannot give the run up as " + std::string(core::to_string(state)) +
        " (the next `muster resume` takes it over): " + released.error().message);
  }
}

util::Result<AgentResult> Agent::teardown(int64_t rid, bool cancel) {
  auto busy = take_over(rid);
  if (!busy) {
    return busy.error();
  }
  if (*busy) {
    return **busy;
  }
  AgentResult result;
  // Which slots the dead agent had set up is not recorded: tear down all.
  auto adopted = m_pool.adopt(std::max<int64_t>(m_opts.slots, 1));
  if (adopted) {
    tear_down_slots(rid);
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
  return adopted ? util::Result<AgentResult>(result)
                 : util::Result<AgentResult>(adopted.error());
}

} // namespace muster::agent

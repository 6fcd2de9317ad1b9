// How the agent answers what stops or steers it: control requests from other
// terminals (pause, cancel, scale, resume, added jobs), signals, a rule's
// halt, and --halt's count of failed jobs.

#include "agent/agent.hpp"
#include "util/time.hpp"

#include <csignal>

namespace muster::agent {

void Agent::count_failure() {
  if (!m_fail_fast.failed(m_counts.total()) || m_draining) {
    return;
  }
  m_failed_fast = true;
  m_draining = true;
  m_drain_deadline = -1; // "soon": running jobs finish, however long they take
  const HaltOnFailure& h = m_fail_fast.rule();
  m_reporter.notice("--halt " + h.text + ": " + std::to_string(m_fail_fast.failures()) +
                    " job(s) failed; no new jobs" +
                    (h.now ? ", and the running ones are stopped" : ""));
  if (h.now) {
    m_attempts.stop_all(SIGTERM, core::ErrorType::interrupted);
  }
}

void Agent::on_signal(int sig) {
  ++m_signals_seen;
  if (m_signals_seen == 1) {
    m_draining = true;
    m_drain_deadline = util::monotonic_ms() + m_run.settings.grace_ms;
    m_reporter.draining(sig, m_run.settings.grace_ms,
                        static_cast<int64_t>(m_attempts.running()));
    if (m_run.settings.grace_ms <= 0) {
      m_attempts.stop_all(SIGTERM, core::ErrorType::interrupted);
    }
    return;
  }
  // A second signal: stop at once.
  if (m_signals_seen == 2 && m_attempts.running() > 0) {
    m_reporter.notice("again: stopping " + std::to_string(m_attempts.running()) +
                      " running job(s) now");
  }
  m_attempts.stop_all(SIGKILL, core::ErrorType::interrupted);
}

util::Result<void> Agent::poll_control(int64_t rid, int64_t mono) {
  auto act = m_control.poll(rid, m_halted_until, mono);
  if (!act) {
    return act.error();
  }
  if (act->jobs_added) {
    // Jobs were added: count again, so the loop sees them.
    if (auto r = recount(rid); !r) {
      return r;
    }
    m_reporter.notice("jobs were added to the run; " + std::to_string(m_counts.total()) +
                      " in all");
  }
  if (m_halted_until > util::now_ms() && act->resume_at < m_halted_until) {
    // `muster resume --now` ended the cooldown.
    m_halted_until = act->resume_at;
    if (m_halted_until <= util::now_ms() && !act->was_paused) {
      m_paused_shown = false;
      m_reporter.unpaused();
    }
  }
  if (act->scale_to > 0) {
    m_pool.scale_to(act->scale_to, m_aid);
  }
  if (act->cancel) {
    m_reporter.paused("cancelled by `muster cancel`: stopping " +
                          std::to_string(m_attempts.running()) + " running job(s)",
                      0);
    m_attempts.stop_all(SIGTERM, core::ErrorType::cancelled);
  }
  if (act->pause) {
    m_reporter.paused(std::string("paused by `muster pause`") +
                          (act->stop_running ? "; stopping running jobs" : "") +
                          "; `muster resume` continues",
                      0);
    m_paused_shown = true;
  }
  if (act->stop_running && m_attempts.any_unstopped()) {
    m_attempts.stop_all(SIGTERM, core::ErrorType::paused);
  }
  if (act->resume) {
    m_paused_shown = false;
    m_reporter.unpaused();
  }
  return {};
}

void Agent::on_halt(int64_t until, const std::string& reason) {
  if (until <= m_halted_until) {
    return;
  }
  const bool was_halted = m_halted_until > util::now_ms();
  m_halted_until = until;
  m_halt_reason = reason;
  if (!was_halted) {
    m_reporter.paused("halted: " + reason, until);
    m_paused_shown = true;
  }
  if (m_run.settings.halt_mode == core::HaltMode::stop) {
    m_attempts.stop_all(SIGTERM, core::ErrorType::halted);
  }
}

} // namespace muster::agent

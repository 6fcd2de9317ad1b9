#include "agent/control_poller.hpp"

#include "util/time.hpp"

namespace muster::agent {

ControlPoller::ControlPoller(store::Store& store, Reporter& reporter, int64_t interval_ms)
    : m_store(store), m_reporter(reporter), m_interval_ms(interval_ms) {}

util::Result<ControlActions> ControlPoller::poll(int64_t rid, int64_t halted_until,
                                                 int64_t mono_ms) {
  m_last_poll = mono_ms;
  auto c = m_store.control(rid);
  if (!c) {
    return c.error();
  }
  ControlActions act;
  act.jobs_added = m_generation >= 0 && c->generation != m_generation;
  m_generation = c->generation;
  act.resume_at = c->resume_at;
  act.was_paused = m_paused;
  const int64_t now = util::now_ms();
  if (halted_until > now && c->resume_at < halted_until) {
    halted_until = c->resume_at; // `muster resume --now` ended the cooldown
  }
  const bool halted = halted_until > now;
  if (c->target_slots > 0 && c->target_slots != m_target_slots) {
    m_target_slots = c->target_slots;
    act.scale_to = c->target_slots;
  }
  const bool cancel = c->request == store::ControlRequest::cancel;
  const bool stop = c->request == store::ControlRequest::pause_stop;
  const bool pause = stop || c->request == store::ControlRequest::pause;
  if (cancel) {
    act.cancel = !m_cancelling;
    m_cancelling = true;
  } else if (pause) {
    act.pause = !m_paused;
    act.stop_running = stop;
    if (!m_paused) {
      m_paused = true;
      m_owed_state = core::RunState::paused;
    }
  } else if (m_paused) {
    m_paused = false;
    act.resume = true;
    m_owed_state = halted ? core::RunState::halted : core::RunState::running;
  }
  write_state(rid);
  return act;
}

void ControlPoller::write_state(int64_t rid) {
  if (!m_owed_state) {
    return;
  }
  if (auto r = m_store.set_run_state(rid, *m_owed_state); !r) {
    if (!m_state_warned) {
      m_reporter.warning("cannot record the run as " +
                         std::string(core::to_string(*m_owed_state)) +
                         " (trying again): " + r.error().message);
      m_state_warned = true;
    }
    return;
  }
  m_owed_state.reset();
  m_state_warned = false;
}

} // namespace muster::agent

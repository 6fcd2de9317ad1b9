#include "agent/agent.hpp"

#include "core/eta.hpp"
#include "core/run_files.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>
#include <sys/stat.h>

namespace muster::agent {

namespace {
// An agent's transactions never wait on it (see limit_idle_transactions):
// 2 s is far above any gap between their statements, and within the
// shortest lease (a 1 s heartbeat: 3 s, fenced at 2.5 s) of the others.
constexpr int64_t k_idle_transaction_ms = 2000;
} // namespace

namespace {

// Claims for no slot, when a commit only records.
const std::vector<int64_t> k_no_slots;

} // namespace

Agent::Agent(store::Store& store, exec::Runner& runner, Reporter& reporter,
             AgentOptions options)
    : m_store(store), m_runner(runner), m_reporter(reporter), m_opts(std::move(options)),
      m_pool(store, runner, reporter, *this, m_run, m_opts.store_dir, m_opts.me.host),
      m_attempts(runner, reporter, m_pool, m_run, m_opts.store_dir),
      m_liveness(store, reporter, m_attempts, m_opts.heartbeat_ms, m_opts.is_alive,
                 m_opts.reap_orphans),
      m_control(store, reporter, m_opts.control_ms),
      m_machine(m_opts.max_load, m_opts.min_free_bytes),
      m_fail_fast(m_opts.halt_on_failure) {}

util::Result<AgentResult> Agent::run(int64_t rid) {
  auto busy = take_over(rid);
  if (!busy) {
    return busy.error();
  }
  if (*busy) {
    return **busy;
  }
  if (auto started = start(rid); !started) {
    return started.error();
  }
  if (m_store.keeps_output()) {
    m_slot_logs.emplace(core::RunFiles(m_opts.store_dir, m_run.id).logs_dir(),
                        m_opts.me.host);
  }
  AgentResult result;
  util::Result<Step> step = Step::go_on;
  while (step && *step != Step::stop) {
    step = claim_turn(rid);
    if (step && *step == Step::go_on) {
      step = idle_check(rid, result);
    }
    if (step && *step == Step::go_on) {
      step = wait_turn(rid);
    }
    if (!step && ride_out(step.error())) {
      step = Step::go_on;
    }
  }
  if (!step) {
    return fail(rid, step.error());
  }
  return finish(rid, std::move(result));
}

util::Result<std::optional<AgentResult>> Agent::take_over(int64_t rid) {
  auto takeover = m_opts.join ? m_store.join(rid, m_opts.me, m_opts.is_alive)
                              : m_store.acquire(rid, m_opts.me, m_opts.is_alive);
  if (!takeover) {
    return takeover.error();
  }
  if (takeover->held_by) {
    AgentResult busy;
    busy.ending = Ending::busy;
    busy.holder = takeover->held_by;
    return std::optional<AgentResult>(busy);
  }
  if (takeover->lock_conflict) {
    AgentResult locked;
    locked.ending = Ending::locked;
    locked.lock = takeover->lock_conflict;
    return std::optional<AgentResult>(locked);
  }
  m_run = std::move(takeover->run);
  m_aid = takeover->aid;
  if (m_opts.retune && !m_opts.join) {
    if (auto r = m_store.retune(rid, *m_opts.retune); !r) {
      leave(rid, core::RunState::paused);
      return r.error();
    }
    m_run.settings = *m_opts.retune;
  }
  m_liveness.reap(m_run.id, takeover->orphans);
  return std::optional<AgentResult>();
}

util::Result<void> Agent::start(int64_t rid) {
  const core::RunFiles files(m_opts.store_dir, m_run.id);
  ::mkdir(files.dir().c_str(), 0777);
  ::mkdir(files.out_dir().c_str(), 0777);
  if (auto r = m_store.listen(rid); !r) {
    return r;
  }
  if (auto r = m_store.limit_idle_transactions(k_idle_transaction_ms); !r) {
    return r;
  }
  if (m_store.wake_fd() >= 0) {
    m_control.set_interval(m_opts.notified_control_ms);
  }
  m_attempts.keep_output(m_store.keeps_output());
  if (auto r = recount(rid); !r) {
    return r;
  }
  if (auto r = m_attempts.prepare(m_opts.stream_output, m_opts.tag); !r) {
    leave(rid, core::RunState::paused);
    return r;
  }
  if (m_run.resume_at > util::now_ms()) {
    on_halt(m_run.resume_at, m_run.halt_reason);
  }
  if (auto r = m_pool.open(std::max<int64_t>(m_opts.slots, 1), m_aid); !r) {
    leave(rid, core::RunState::paused);
    return r;
  }
  m_control.start(static_cast<int64_t>(m_pool.size()));
  m_started_mono = util::monotonic_ms();
  if (m_opts.deadline_ms > 0) {
    m_deadline_at = m_started_mono + m_opts.deadline_ms;
  }
  m_liveness.start(m_started_mono);
  m_reporter.started(m_run.id, progress());
  return {};
}

int64_t Agent::left_to_do() const {
  return m_counts[core::JobState::pending] + m_counts[core::JobState::retrying] +
         m_counts[core::JobState::waiting];
}

bool Agent::ride_out(const util::Error& e) {
  // A store that does not answer (a restarting or unreachable server, a
  // lost connection) is waited for: running jobs go on, their results wait
  // in updates(), and fencing stops them before their leases run out.
  if (e.kind != util::ErrorKind::store_unavailable || m_liveness.fenced()) {
    return false;
  }
  if (!m_store_down) {
    m_store_down = true;
    m_reporter.warning(e.message +
                       "; trying again: running jobs go on, and stop "
                       "before their leases run out if it stays out of reach");
  }
  m_store_retry_at = util::monotonic_ms() + k_store_retry_ms;
  return true;
}

bool Agent::store_resting(int64_t mono) const {
  return m_store_down && mono < m_store_retry_at;
}

void Agent::store_answered() {
  if (m_store_down) {
    m_store_down = false;
    m_reporter.notice("the store answers again");
  }
}

util::Result<Agent::Step> Agent::claim_turn(int64_t rid) {
  const int64_t now_ms = util::now_ms();
  const int64_t mono_now = util::monotonic_ms();
  m_liveness.watch();
  if (auto r = m_liveness.check_fence(); !r) {
    return r.error();
  }
  if (store_resting(mono_now)) {
    return Step::go_on;
  }
  // A halt, a pause or a cancel: no new claims, and no new slots.
  // A reader of the output that lags far behind holds new claims back too.
  bool claims_stopped = m_halted_until > now_ms || m_control.paused() ||
                        m_control.cancelling() || m_reporter.backlogged();
  if (m_machine.enabled()) {
    const std::string& busy = m_machine.holding(mono_now);
    // Said again only when another limit holds: the figures move all the time.
    if (m_machine.limit() != m_machine_told) {
      m_machine_told = m_machine.limit();
      if (busy.empty()) {
        m_reporter.unpaused();
      } else {
        m_reporter.paused("no new jobs: " + busy, 0);
      }
    }
    claims_stopped = claims_stopped || !busy.empty();
  }
  const int64_t due_retries = m_next_retry_at > 0 && m_next_retry_at <= now_ms
                                  ? m_counts[core::JobState::retrying]
                                  : 0;
  if (!m_draining && left_to_do() > 0 && !claims_stopped) {
    m_pool.activate_due();
    if (!m_pool.any_usable()) {
      m_could_not_run = true;
      return util::Error{m_pool.failure()};
    }
  }
  // Jobs waiting on a limit become claimable by time, or when others
  // finish: look again when that time comes, and now and then.
  const bool look_at_waiting =
      m_counts[core::JobState::waiting] > 0 && ((m_wake_at > 0 && m_wake_at <= now_ms) ||
                                                mono_now - m_last_poll >= m_opts.poll_ms);
  const bool may_claim =
      !m_draining && !claims_stopped &&
      (m_counts[core::JobState::pending] + due_retries > 0 || look_at_waiting);
  const std::vector<int64_t>& free_slots = may_claim ? m_pool.free_numbers() : k_no_slots;
  auto& updates = m_attempts.updates();
  if (updates.empty() && free_slots.empty()) {
    return Step::go_on;
  }
  // One transaction: every result since the last turn, then the claims.
  // After a halt's cooldown, the first claim lifts it for every agent.
  auto committed = m_store.commit(rid, updates, free_slots, now_ms, m_aid);
  if (!committed) {
    return committed.error();
  }
  store_answered();
  updates.clear();
  if (!free_slots.empty()) {
    m_last_poll = mono_now;
  }
  const size_t claimed = committed->claims.size();
  const bool nothing_moved =
      std::all_of(std::begin(committed->moved.by_state),
                  std::end(committed->moved.by_state), [](int64_t n) { return n == 0; });
  apply_commit(*committed);
  if (!committed->ignored.empty()) {
    // Another agent took these jobs over while this one was silent (frozen,
    // or cut off): the counts this agent kept for them are wrong.
    m_reporter.warning(std::to_string(committed->ignored.size()) +
                       " result(s) ignored: another agent took the job(s) over "
                       "(see muster events)");
  }
  if (!committed->ignored.empty() ||
      (!free_slots.empty() && claimed == 0 && nothing_moved &&
       committed->halted_until == 0 && m_counts[core::JobState::pending] > 0)) {
    // Another agent took what this one counted as pending or finished: count
    // again.
    if (auto r = recount(rid); !r) {
      return r.error();
    }
  }
  if (m_counts[core::JobState::retrying] <= 0) {
    m_next_retry_at = 0; // retries the limits moved to waiting are not due any more
  } else if (free_slots.size() > claimed) {
    // Unknown (0) on an error: the idle check counts again before it waits.
    auto next = m_store.next_retry_at(rid);
    m_next_retry_at = next ? *next : 0;
  }
  if (m_attempts.running() == 0 && !updates.empty()) {
    return Step::again; // every claim failed to start: record that, and claim again
  }
  return Step::go_on;
}

util::Result<Agent::Step> Agent::idle_check(int64_t rid, AgentResult& result) {
  if (m_attempts.running() > 0 || store_resting(util::monotonic_ms())) {
    return Step::go_on;
  }
  if (m_control.cancelling()) {
    return Step::stop;
  }
  const bool work_remains = left_to_do() > 0;
  const bool halted_now = m_halted_until > util::now_ms();
  if (m_draining) {
    return Step::stop;
  }
  if (!work_remains) {
    // Other agents run the last jobs. The run ends when they do: finished
    // by their agent, or recovered here once it is found gone.
    if (m_counts[core::JobState::running] <= 0) {
      return Step::stop;
    }
    const int64_t mono = util::monotonic_ms();
    if (mono - m_last_recount >= m_opts.poll_ms) {
      m_last_recount = mono;
      if (auto r = recount(rid); !r) {
        return r.error();
      }
    }
    return left_to_do() > 0 || m_counts[core::JobState::running] > 0 ? Step::go_on
                                                                     : Step::stop;
  }
  if (m_pool.any_starting() && !halted_now && !m_control.paused()) {
    return Step::go_on;
  }
  if (m_control.paused()) {
    return Step::go_on; // paused by another terminal: wait for `muster resume` or
                        // `cancel`
  }
  if (halted_now) {
    if (!m_opts.no_wait) {
      return Step::go_on;
    }
    result.ending = Ending::halted;
    return Step::stop;
  }
  if (m_counts[core::JobState::pending] > 0 || m_next_retry_at != 0) {
    return Step::go_on;
  }
  // Counts drifted (someone else changed the run): read them again.
  if (auto r = recount(rid); !r) {
    return r.error();
  }
  if (left_to_do() == 0) {
    return Step::stop;
  }
  if (m_counts[core::JobState::pending] == 0 && m_next_retry_at == 0) {
    // All that is left waits on a limit.
    if (m_opts.no_wait) {
      result.ending = Ending::waiting;
      result.resume_at = m_wake_at;
      return Step::stop;
    }
    if (!m_paused_shown) {
      m_paused_shown = true;
      m_reporter.paused("every job left waits on a limit", m_wake_at);
    }
  }
  return Step::go_on;
}

util::Result<Agent::Step> Agent::wait_turn(int64_t rid) {
  // The jobs this turn started are the fencing timer's too, before the
  // heartbeat below can block on the store.
  m_liveness.watch();
  // What the store told us of (other terminals' control requests, jobs
  // added, retried or recovered) is read at once, not at the next poll.
  m_runner.watch(m_store.wake_fd());
  const bool news = m_store.changed();
  auto events = m_runner.wait(news ? 0 : next_deadline());
  if (!events) {
    return events.error();
  }
  // Before the exits are classified: jobs the fencing timer killed were
  // interrupted, not failed.
  auto fenced = m_liveness.check_fence();
  serve(*events);
  if (!fenced) {
    return fenced.error();
  }
  if (news || m_store.changed()) {
    m_control.poll_now();
    if (auto r = recount(rid); !r) {
      return r.error();
    }
  }
  const int64_t mono = util::monotonic_ms();
  if (mono - m_last_tick >= m_opts.tick_ms) {
    m_last_tick = mono;
    m_reporter.tick(progress());
  }
  if (m_liveness.due(mono)) {
    if (auto r = heartbeat(rid, mono); !r) {
      return r.error();
    }
  }
  if (m_control.due(mono)) {
    if (auto r = poll_control(rid, mono); !r) {
      return r.error();
    }
  }
  m_pool.retire_idle();
  return Step::go_on;
}

void Agent::apply_commit(store::CommitResult& result) {
  for (size_t s = 0; s < std::size(result.moved.by_state); ++s) {
    m_counts.by_state[s] += result.moved.by_state[s];
  }
  if (result.halted_until > 0) {
    on_halt(result.halted_until, result.halt_reason);
  } else if (!result.claims.empty() && m_paused_shown) {
    m_paused_shown = false;
    m_halted_until = 0;
    m_reporter.unpaused();
  }
  m_wake_at = result.wake_at;
  for (auto& c : result.claims) {
    const size_t slot = m_pool.index_of(c.slot); // the store speaks in numbers
    c.slot = static_cast<int64_t>(slot);
    if (m_counts[c.from] <= 0 && m_counts[core::JobState::waiting] > 0) {
      // Another agent's finish made a waiting job pending since we counted.
      m_counts[core::JobState::waiting] -= 1;
      m_counts[c.from] += 1;
    }
    m_counts[c.from] -= 1;
    m_counts[core::JobState::running] += 1;
    m_pool.set_busy(slot, true);
    if (auto ended = m_attempts.start(std::move(c))) {
      on_ended(*ended);
    }
  }
}

void Agent::on_ended(Ended& ended) {
  m_counts[core::JobState::running] -= 1;
  if (!ended.hook_running) {
    m_pool.set_busy(ended.slot, false); // else once its after_job ends
  }
  if (!ended.recorded) {
    m_attempts.keep_tails(ended.finished);
    return;
  }
  if (ended.halt_until > 0) {
    on_halt(ended.halt_until, ended.halt_reason);
  }
  if (ended.retry_at > 0 && (m_next_retry_at == 0 || ended.retry_at < m_next_retry_at)) {
    m_next_retry_at = ended.retry_at;
  }
  m_counts[ended.finished.state] += 1;
  m_rate.note(ended.ended_mono);
  m_reporter.finished(ended.finished, progress());
  m_attempts.keep_tails(ended.finished);
  if (ended.finished.state == core::JobState::failed) {
    count_failure();
  }
}

void Agent::serve(const exec::Events& events) {
  for (int sig : events.signals) {
    on_signal(sig);
  }
  for (const auto& o : events.output) {
    on_output(o);
  }
  for (const auto& e : events.exited) {
    if (!m_pool.on_exit(e)) {
      on_job_exit(e);
    }
  }
  after_wait();
}

void Agent::on_output(const exec::Output& output) {
  m_reporter.output(output.pid, output.is_stderr, output.data);
}

void Agent::on_job_exit(const exec::Exited& exited) {
  if (auto slot = m_attempts.on_hook_exit(exited)) {
    m_pool.set_busy(*slot, false);
    return;
  }
  if (auto ended = m_attempts.on_exit(exited)) {
    on_ended(*ended);
  }
}

void Agent::after_wait() {
  const int64_t now = util::monotonic_ms();
  if (m_signals_seen == 0 && m_reporter.output_closed()) {
    on_signal(SIGPIPE); // drain as for SIGTERM; the reporter stays quiet
  }
  if (m_deadline_at >= 0 && now >= m_deadline_at && !m_deadline_passed) {
    m_deadline_passed = true;
    m_draining = true;
    m_drain_deadline = -1;
    m_reporter.notice("--deadline " + util::format_duration(m_opts.deadline_ms) +
                      " passed: stopping " + std::to_string(m_attempts.running()) +
                      " running job(s); the rest stay pending");
    m_attempts.stop_all(SIGTERM, core::ErrorType::interrupted);
  }
  if (m_draining && m_drain_deadline >= 0 && now >= m_drain_deadline) {
    m_drain_deadline = -1;
    m_attempts.stop_all(SIGTERM, core::ErrorType::interrupted);
  }
  m_attempts.check_deadlines(now);
  m_pool.advance();
}

util::Result<void> Agent::heartbeat(int64_t rid, int64_t mono) {
  auto reports = m_pool.reports(m_attempts.busy_slots());
  for (auto& r : reports) {
    if (r.activity != store::SlotActivity::busy) {
      r.held = m_machine.last_reason(); // --load, --memfree: for `muster why`
    }
  }
  auto recovered = m_liveness.beat(rid, m_aid, m_run.id, progress().rate, reports, mono);
  if (!recovered) {
    return recovered.error();
  }
  ship_slot_logs(rid, false);
  return *recovered > 0 ? recount(rid) : util::Result<void>();
}

void Agent::ship_slot_logs(int64_t rid, bool last) {
  if (m_slot_logs && !m_liveness.fenced()) {
    (void)m_slot_logs->ship(m_store, rid, util::monotonic_ms(), last);
  }
}

util::Result<void> Agent::recount(int64_t rid) {
  auto counts = m_store.counts(rid);
  if (!counts) {
    return counts.error();
  }
  m_counts = *counts;
  m_next_retry_at = 0;
  if (m_counts[core::JobState::retrying] > 0) {
    auto next = m_store.next_retry_at(rid);
    if (!next) {
      return next.error();
    }
    m_next_retry_at = *next;
  }
  return {};
}

int64_t Agent::next_deadline() const {
  const int64_t now = util::monotonic_ms();
  int64_t next = now + std::min(m_opts.tick_ms, m_opts.heartbeat_ms);
  auto consider = [&](int64_t t) {
    if (t >= 0 && t < next) {
      next = t;
    }
  };
  consider(m_drain_deadline);
  if (m_store_down) {
    consider(m_store_retry_at);
  }
  if (!m_deadline_passed) {
    consider(m_deadline_at);
  }
  next = m_pool.next_deadline(next);
  next = m_attempts.next_deadline(next);
  const int64_t wall = util::now_ms();
  if (!m_draining) {
    if (m_next_retry_at > 0) {
      consider(now + std::max<int64_t>(0, m_next_retry_at - wall));
    }
    if (m_halted_until > 0) {
      consider(now + std::max<int64_t>(0, m_halted_until - wall));
    }
    if (m_wake_at > 0) {
      consider(now + std::max<int64_t>(0, m_wake_at - wall));
    }
    if (m_counts[core::JobState::waiting] > 0) {
      consider(m_last_poll + m_opts.poll_ms);
    }
  }
  consider(m_control.next_due());
  return next;
}

Progress Agent::progress() const {
  Progress p;
  p.counts = m_counts;
  p.total = m_counts.total();
  const int64_t now = util::monotonic_ms();
  p.elapsed_ms = now - m_started_mono;
  p.draining = m_draining;
  p.rate = m_rate.rate(now, p.elapsed_ms);
  core::EtaInput eta;
  eta.left = p.total - m_counts.finished();
  eta.rate = p.rate;
  eta.rate_interval_us = m_run.settings.limits.rate_interval_us;
  eta.now_ms = util::now_ms();
  eta.halted_until = m_halted_until;
  eta.retry_at = m_counts[core::JobState::retrying] > 0 ? m_next_retry_at : 0;
  eta.paused = m_control.paused();
  p.eta_ms = core::eta_ms(eta);
  return p;
}

} // namespace muster::agent

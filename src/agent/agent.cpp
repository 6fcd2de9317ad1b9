#include "agent/agent.hpp"

#include "core/backoff.hpp"
#include "core/template.hpp"
#include "store/codec.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <unordered_set>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::agent {

namespace {

core::Outcome outcome_from_status(int status) {
  if (WIFEXITED(status)) {
    return core::Outcome::exited(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return core::Outcome::signaled(WTERMSIG(status));
  }
  return core::Outcome::exited(255);
}

// The argv as a shell would need it typed, for people.
std::string display_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += (out.empty() ? "" : " ") + util::sh_quote(a);
  }
  return out;
}

} // namespace

Agent::Agent(store::Store& store, exec::Runner& runner, Reporter& reporter,
             AgentOptions options)
    : m_store(store), m_runner(runner), m_reporter(reporter), m_opts(std::move(options)),
      m_rng(std::random_device{}()) {}

std::string Agent::out_path(int64_t seq, const char* ext) const {
  return m_opts.store_dir + "/runs/" + m_run.id + "/out/" + std::to_string(seq) + ext;
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
  if (!takeover->orphans.empty() && m_opts.reap_orphans) {
    m_opts.reap_orphans(m_run.id, takeover->orphans);
  }
  return std::optional<AgentResult>();
}

util::Result<AgentResult> Agent::run(int64_t rid) {
  auto busy = take_over(rid);
  if (!busy) {
    return busy.error();
  }
  if (*busy) {
    return **busy;
  }
  AgentResult result;
  const std::string run_dir = m_opts.store_dir + "/runs/" + m_run.id;
  ::mkdir(run_dir.c_str(), 0755);
  ::mkdir((run_dir + "/out").c_str(), 0755);
  if (auto r = recount(rid); !r) {
    return r.error();
  }
  auto tmpl = core::Template::parse_command(m_run.settings.command, m_run.settings.shell);
  if (!tmpl) {
    leave(rid, core::RunState::paused);
    return tmpl.error();
  }
  auto rules = core::RuleSet::compile(m_run.settings.rules);
  if (!rules) {
    leave(rid, core::RunState::paused);
    return rules.error();
  }
  m_rules = std::move(*rules);
  m_read_output = m_rules.needs_output();
  if (m_run.resume_at > util::now_ms()) {
    on_halt(m_run.resume_at, m_run.halt_reason);
  }
  auto ports = lease_slots(std::max<int64_t>(m_opts.slots, 1));
  if (!ports) {
    leave(rid, core::RunState::paused);
    return ports.error();
  }
  prepare_slots(*ports);
  m_target_slots = static_cast<int64_t>(m_slots.size());
  // Job lines in the slot logs cost a write each: only where slots own things.
  m_slot_logs = m_run.settings.slot.any() || !m_run.settings.ports.empty();
  m_started_mono = util::monotonic_ms();
  m_last_heartbeat = m_started_mono;
  m_last_beat_ok = m_started_mono;
  m_reporter.started(m_run.id, progress());

  m_command = std::move(*tmpl);
  util::Result<void> failure;

  auto left_to_do = [&] {
    return m_counts[core::JobState::pending] + m_counts[core::JobState::retrying] +
           m_counts[core::JobState::waiting];
  };
  for (;;) {
    const int64_t now_ms = util::now_ms();
    const int64_t mono_now = util::monotonic_ms();
    // A halt, a pause or a cancel: no new claims, and no new slots.
    const bool claims_stopped = m_halted_until > now_ms || m_user_paused || m_cancelling;
    const int64_t due_retries =
        m_next_retry_at > 0 && m_next_retry_at <= now_ms ? m_counts[core::JobState::retrying] : 0;
    const bool work_left = left_to_do() > 0;
    if (!m_draining && work_left && !claims_stopped) {
      activate_due_slots();
      const bool any_usable = std::any_of(m_slots.begin(), m_slots.end(), [](const Slot& s) {
        return s.state != SlotState::failed && s.state != SlotState::retired && !s.retiring;
      });
      if (!any_usable) {
        m_could_not_run = true;
        failure = util::Error{"no slot could be set up; slot 0: " + m_slots[0].error +
                              " (see " + slot_log(0) + ")"};
        break;
      }
    }
    // Jobs waiting on a limit become claimable by time, or when others
    // finish: look again when that time comes, and now and then.
    const bool look_at_waiting =
        m_counts[core::JobState::waiting] > 0 &&
        ((m_wake_at > 0 && m_wake_at <= now_ms) || mono_now - m_last_poll >= m_opts.poll_ms);
    std::vector<int64_t> free_slots;
    if (!m_draining && !claims_stopped &&
        (m_counts[core::JobState::pending] + due_retries > 0 || look_at_waiting)) {
      for (size_t s = 0; s < m_slot_busy.size(); ++s) {
        if (!m_slot_busy[s] && m_slots[s].state == SlotState::ready && !m_slots[s].retiring) {
          free_slots.push_back(number(s));
        }
      }
    }
    if (!m_updates.empty() || !free_slots.empty()) {
      // One transaction: every result since the last turn, then the claims.
      // After a halt's cooldown, the first claim lifts it for every agent.
      auto committed = m_store.commit(rid, m_updates, free_slots, now_ms, m_aid);
      if (!committed) {
        failure = committed.error();
        break;
      }
      m_updates.clear();
      if (!free_slots.empty()) {
        m_last_poll = mono_now;
      }
      const size_t claimed = committed->claims.size();
      const bool nothing_moved =
          std::all_of(std::begin(committed->moved.by_state), std::end(committed->moved.by_state),
                      [](int64_t n) { return n == 0; });
      apply_commit(*committed);
      if (!free_slots.empty() && claimed == 0 && nothing_moved && committed->halted_until == 0 &&
          m_counts[core::JobState::pending] > 0) {
        // Another agent took what this one counted as pending: count again.
        if (auto r = recount(rid); !r) {
          failure = r.error();
          break;
        }
      }
      if (m_counts[core::JobState::retrying] <= 0) {
        m_next_retry_at = 0; // retries the limits moved to waiting are not due any more
      } else if (free_slots.size() > claimed) {
        auto next = m_store.next_retry_at(rid);
        m_next_retry_at = next ? *next : 0;
      }
      if (m_active.size() == 0 && !m_updates.empty()) {
        continue; // every claim failed to start: record that, and claim again
      }
    }

    const bool slots_waiting = std::any_of(m_slots.begin(), m_slots.end(), [](const Slot& s) {
      return !s.retiring && (s.state == SlotState::waiting || s.state == SlotState::restarting);
    });
    const bool work_remains = left_to_do() > 0;
    const bool halted_now = m_halted_until > util::now_ms();
    if (m_active.size() == 0 && m_cancelling) {
      break;
    }
    if (m_active.size() == 0 &&
        (m_draining || !slots_waiting || !work_remains || halted_now || m_user_paused)) {
      if (m_draining || !work_remains) {
        break;
      }
      if (m_user_paused) {
        // Paused by another terminal: wait for `muster resume` or `cancel`.
      } else if (halted_now) {
        if (m_opts.no_wait) {
          result.ending = Ending::halted;
          break;
        }
      } else if (m_counts[core::JobState::pending] == 0 && m_next_retry_at == 0) {
        // Counts drifted (someone else changed the run): read them again.
        if (auto r = recount(rid); !r) {
          failure = r.error();
          break;
        }
        if (left_to_do() == 0) {
          break;
        }
        if (m_counts[core::JobState::pending] == 0 && m_next_retry_at == 0) {
          // All that is left waits on a limit.
          if (m_opts.no_wait) {
            result.ending = Ending::waiting;
            result.resume_at = m_wake_at;
            break;
          }
          if (!m_paused_shown) {
            m_paused_shown = true;
            m_reporter.paused("every job left waits on a limit", m_wake_at);
          }
        }
      }
    }

    auto events = m_runner.wait(next_deadline());
    if (!events) {
      failure = events.error();
      break;
    }
    for (int sig : events->signals) {
      on_signal(sig);
    }
    for (const auto& e : events->exited) {
      dispatch_exit(e);
    }
    const int64_t mono = util::monotonic_ms();
    check_deadlines(mono);
    if (mono - m_last_tick >= m_opts.tick_ms) {
      m_last_tick = mono;
      m_reporter.tick(progress());
    }
    if (mono - m_last_heartbeat >= m_opts.heartbeat_ms) {
      m_last_heartbeat = mono;
      if (auto r = heartbeat(rid); !r) {
        failure = r.error();
        break;
      }
    }
    if (mono - m_last_control >= m_opts.control_ms) {
      m_last_control = mono;
      if (auto r = poll_control(rid); !r) {
        failure = r.error();
        break;
      }
    }
    retire_idle_slots();
  }

  if (!failure) {
    // Something failed in the loop: stop every job, record what we can.
    stop_all(SIGKILL, core::ErrorType::interrupted);
    while (m_active.size() > 0) {
      auto events = m_runner.wait(util::monotonic_ms() + 1000);
      if (!events) {
        break;
      }
      for (const auto& e : events->exited) {
        dispatch_exit(e);
      }
    }
    (void)m_store.commit(rid, m_updates, {}, util::now_ms(), m_aid);
    teardown_slots();
    // A run none of whose slots could be set up "could not run at all".
    leave(rid, m_could_not_run ? core::RunState::failed : core::RunState::paused);
    return failure.error();
  }
  if (auto r = m_store.commit(rid, m_updates, {}, util::now_ms(), m_aid); !r) {
    teardown_slots();
    return r.error();
  }
  m_updates.clear();
  teardown_slots();
  auto left_in_store = [&] {
    return m_counts[core::JobState::pending] + m_counts[core::JobState::retrying] +
           m_counts[core::JobState::running] + m_counts[core::JobState::interrupted] +
           m_counts[core::JobState::waiting];
  };
  if (left_in_store() > 0) {
    // Other agents may have finished the rest meanwhile: count what the store has.
    (void)recount(rid);
  }
  const bool complete =
      m_counts[core::JobState::pending] + m_counts[core::JobState::retrying] +
          m_counts[core::JobState::running] + m_counts[core::JobState::interrupted] +
          m_counts[core::JobState::waiting] ==
      0;
  const bool only_held = !m_draining && m_counts[core::JobState::pending] +
                                              m_counts[core::JobState::retrying] +
                                              m_counts[core::JobState::running] +
                                              m_counts[core::JobState::waiting] ==
                                          0;
  if (m_cancelling) {
    // Everything that has not run is cancelled; the running ones were stopped.
    if (auto r = m_store.cancel_rest(rid, util::now_ms()); !r) {
      return r.error();
    }
    (void)recount(rid);
    leave(rid, core::RunState::cancelled);
    result.ending = Ending::cancelled;
    result.counts = m_counts;
    m_reporter.ended(progress());
    return result;
  }
  core::RunState final_state = complete ? core::RunState::completed : core::RunState::paused;
  if (result.ending == Ending::halted && !complete) {
    final_state = core::RunState::halted;
    result.resume_at = m_halted_until;
    result.reason = m_halt_reason;
  } else if (result.ending != Ending::waiting || complete) {
    result.ending = complete ? Ending::completed : only_held ? Ending::held : Ending::interrupted;
    if (!complete && !m_draining && m_counts[core::JobState::running] > 0 &&
        m_counts[core::JobState::pending] + m_counts[core::JobState::retrying] +
                m_counts[core::JobState::waiting] ==
            0) {
      // Nothing is left to claim; other agents are running the last jobs.
      result.ending = Ending::completed;
    }
  }
  leave(rid, final_state);
  result.counts = m_counts;
  m_reporter.ended(progress());
  return result;
}

void Agent::on_signal(int sig) {
  ++m_signals_seen;
  if (m_signals_seen == 1) {
    m_draining = true;
    m_drain_deadline = util::monotonic_ms() + m_run.settings.grace_ms;
    m_reporter.draining(sig, m_run.settings.grace_ms, static_cast<int64_t>(m_active.size()));
    if (m_run.settings.grace_ms <= 0) {
      stop_all(SIGTERM, core::ErrorType::interrupted);
    }
    return;
  }
  // A second signal: stop at once.
  stop_all(SIGKILL, core::ErrorType::interrupted);
}

void Agent::stop_all(int sig, core::ErrorType reason) {
  const int64_t now = util::monotonic_ms();
  for (auto& [pid, a] : m_active) {
    if (a.stop_reason == core::ErrorType::none || reason == core::ErrorType::interrupted ||
        reason == core::ErrorType::cancelled) {
      a.stop_reason = reason;
    }
    m_runner.signal_group(pid, sig);
    if (sig != SIGKILL && a.kill_at < 0) {
      a.kill_at = now + m_run.settings.kill_grace_ms;
    }
    a.deadline = -1;
  }
}

void Agent::check_deadlines(int64_t now) {
  if (m_draining && m_drain_deadline >= 0 && now >= m_drain_deadline) {
    m_drain_deadline = -1;
    stop_all(SIGTERM, core::ErrorType::interrupted);
  }
  for (auto& [pid, a] : m_active) {
    if (a.deadline >= 0 && now >= a.deadline) {
      a.deadline = -1;
      a.stop_reason = core::ErrorType::timeout;
      m_runner.signal_group(pid, SIGTERM);
      a.kill_at = now + m_run.settings.kill_grace_ms;
    } else if (a.kill_at >= 0 && now >= a.kill_at) {
      a.kill_at = -1;
      m_runner.signal_group(pid, SIGKILL);
    }
  }
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
  for (const auto& slot : m_slots) {
    if (slot.state == SlotState::waiting && !m_draining) {
      consider(slot.start_at);
    } else if (slot.state == SlotState::restarting && !m_draining) {
      consider(slot.restart_at);
    }
  }
  for (const auto& [pid, a] : m_active) {
    consider(a.deadline);
    consider(a.kill_at);
  }
  const int64_t wall = util::now_ms();
  if (m_next_retry_at > 0 && !m_draining) {
    consider(now + std::max<int64_t>(0, m_next_retry_at - wall));
  }
  if (!m_draining) {
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
  consider(m_last_control + m_opts.control_ms);
  return next;
}

void Agent::note_finish(int64_t now) {
  const int64_t second = now / 1000;
  if (second != m_bucket_second) {
    for (int64_t s = m_bucket_second + 1; s <= second && s <= m_bucket_second + 10; ++s) {
      m_buckets[s % 10] = 0;
    }
    m_bucket_second = second;
  }
  m_buckets[second % 10] += 1;
}

void Agent::launch(store::Claim claim) {
  m_counts[claim.from] -= 1;
  m_counts[core::JobState::running] += 1;
  m_slot_busy[static_cast<size_t>(claim.slot)] = true;
  if (auto r = store::decode_fields(claim.fields, m_names, m_values); !r) {
    m_reporter.warning(r.error().message);
  }
  // A row stored without its raw text is a single value that stands for itself.
  const std::string_view raw = claim.raw.empty() && !m_values.empty()
                                   ? std::string_view(m_values[0])
                                   : std::string_view(claim.raw);
  core::RowView row{m_names.empty() ? &m_run.columns : &m_names, &m_values, raw};
  const auto slot = static_cast<size_t>(claim.slot);
  core::JobContext ctx{claim.id, m_run.id, number(slot), claim.attempt, &m_slot_values[slot]};
  exec::StartRequest req;
  req.argv = m_command.render_argv(row, ctx);
  std::vector<std::string> shown; // the job's own argv, for messages, when wrapped
  const auto& hooks = m_run.settings.slot;
  if (!hooks.before_job.empty() || !hooks.after_job.empty()) {
    shown = req.argv;
    wrap_with_job_hooks(req.argv, ctx);
  }
  req.env = {"MUSTER_RUN_ID=" + m_run.id, "MUSTER_JOB_ID=" + claim.id,
             "MUSTER_SLOT=" + std::to_string(number(slot)),
             "MUSTER_ATTEMPT=" + std::to_string(claim.attempt),
             "MUSTER_RESULT=" + out_path(claim.seq, ".result")};
  req.env.insert(req.env.end(), m_slot_env[slot].begin(), m_slot_env[slot].end());
  req.stdout_path = out_path(claim.seq, ".out");
  req.stderr_path = out_path(claim.seq, ".err");
  req.max_output = m_run.settings.max_output;
  if (claim.attempt > 1) {
    // Output files hold the latest attempt only; a silent one leaves none.
    ::unlink(req.stdout_path.c_str());
    ::unlink(req.stderr_path.c_str());
  }
  // A result file speaks for this attempt only.
  ::unlink(out_path(claim.seq, ".result").c_str());
  Active a;
  a.claim = std::move(claim);
  a.started_mono = util::monotonic_ms();
  auto pid = m_runner.start(req);
  a.argv = shown.empty() ? std::move(req.argv) : std::move(shown);
  if (!pid) {
    // Recorded like any other end: the claim is already committed.
    record(a, core::Outcome::spawn_failed(pid.error().message), exec::Exited{});
    return;
  }
  a.pid = *pid;
  if (m_slot_logs) {
    log_slot(slot, "job " + a.claim.id + " attempt " + std::to_string(a.claim.attempt) +
                       " started, pid " + std::to_string(*pid));
  }
  if (m_run.settings.timeout_ms > 0) {
    a.deadline = a.started_mono + m_run.settings.timeout_ms;
  }
  store::Update u;
  u.kind = store::Update::Kind::started;
  u.jid = a.claim.jid;
  u.pid = *pid;
  m_updates.push_back(u);
  m_active.emplace(*pid, std::move(a));
}

void Agent::wrap_with_job_hooks(std::vector<std::string>& argv, const core::JobContext& ctx) {
  const auto& cfg = m_run.settings.slot;
  if (cfg.before_job.empty() && cfg.after_job.empty()) {
    return;
  }
  // One sh in the job's own process group runs the hooks around the job, so a
  // timeout or a stop reaches all of them. The job's exit status is the
  // attempt's; a failing before_job fails the attempt without running it.
  std::string script;
  if (!cfg.before_job.empty()) {
    script += "{ " + core::render_without_row(cfg.before_job, core::Shell::yes, ctx) +
              "\n} || exit $?\n";
  }
  script += "\"$@\"\nrc=$?\n";
  if (!cfg.after_job.empty()) {
    script += "{ " + core::render_without_row(cfg.after_job, core::Shell::yes, ctx) + "\n}\n";
  }
  script += "exit $rc\n";
  std::vector<std::string> wrapped{"/bin/sh", "-c", script, "muster-job"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  argv = std::move(wrapped);
}

void Agent::on_exit(const exec::Exited& exited) {
  auto it = m_active.find(exited.pid);
  if (it == m_active.end()) {
    return;
  }
  Active a = std::move(it->second);
  m_active.erase(it);
  core::Outcome outcome = outcome_from_status(exited.status);
  if (a.stop_reason == core::ErrorType::timeout && !outcome.succeeded()) {
    outcome = core::Outcome::timed_out(WIFSIGNALED(exited.status) ? WTERMSIG(exited.status) : 0);
    outcome.error = "timed out after " + util::format_duration(m_run.settings.timeout_ms);
  } else if (a.stop_reason == core::ErrorType::interrupted && !outcome.succeeded()) {
    outcome = core::Outcome::interrupted_by_stop();
  } else if (a.stop_reason == core::ErrorType::halted && !outcome.succeeded()) {
    outcome = core::Outcome::stopped_by_halt();
  } else if (a.stop_reason == core::ErrorType::paused && !outcome.succeeded()) {
    outcome = core::Outcome::stopped_by_pause();
  } else if (a.stop_reason == core::ErrorType::cancelled && !outcome.succeeded()) {
    outcome = core::Outcome::cancelled_while_running();
  } else if (a.sidecar_died && !outcome.succeeded()) {
    outcome.error = "its slot's sidecar died (" + outcome.error + ")"; // retryable
  }
  record(a, outcome, exited);
}

void Agent::record(const Active& a, const core::Outcome& ended, const exec::Exited& exited) {
  const int64_t mono = util::monotonic_ms();
  if (a.fenced) {
    // Its lease was taken: the store has moved on, and nothing is recorded.
    m_counts[core::JobState::running] -= 1;
    m_slot_busy[static_cast<size_t>(a.claim.slot)] = false;
    if (m_slot_logs) {
      log_slot(static_cast<size_t>(a.claim.slot),
               "job " + a.claim.id + " attempt " + std::to_string(a.claim.attempt) +
                   " stopped: its lease was taken over");
    }
    return;
  }
  const int64_t counted = a.claim.attempt - a.claim.interrupts;
  core::Outcome outcome = ended;
  const core::Decision decision = classify(a, outcome, exited);
  const core::JobState state = core::state_after(outcome, decision, counted, a.claim.max_attempts);
  store::Update u;
  u.jid = a.claim.jid;
  u.pid = a.pid;
  u.state = state;
  u.outcome = outcome;
  u.finished_at = util::now_ms();
  u.key = a.claim.key;
  u.lock = a.claim.lock;
  u.claimed_at = a.claim.claimed_at;
  u.error_type = decision.error_type;
  u.uncounted = core::stopped_by_muster(outcome.type) || decision.action == core::Action::halt;
  u.block_key = decision.action == core::Action::fail && decision.block_key;
  if (decision.action == core::Action::halt) {
    u.halt_until = u.finished_at + decision.cooldown_ms;
    u.halt_reason = "job " + a.claim.id + ": " + (outcome.error.empty() ? decision.source : outcome.error) +
                    " (" + decision.source + ")";
    on_halt(u.halt_until, u.halt_reason);
  }
  // A job that ended before its pid reached the store needs one write, not two.
  std::erase_if(m_updates, [&](const store::Update& x) {
    return x.kind == store::Update::Kind::started && x.jid == u.jid;
  });
  int64_t delay = 0;
  if (state == core::JobState::retrying) {
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    delay = decision.retry_after_ms >= 0
                ? decision.retry_after_ms
                : core::backoff_delay_ms(m_run.settings.backoff, counted, unit(m_rng));
    u.retry_at = u.finished_at + delay;
    if (m_next_retry_at == 0 || u.retry_at < m_next_retry_at) {
      m_next_retry_at = u.retry_at;
    }
  }
  m_updates.push_back(u);
  if (m_slot_logs) {
    log_slot(static_cast<size_t>(a.claim.slot),
             "job " + a.claim.id + " attempt " + std::to_string(a.claim.attempt) + " " +
                 std::string(core::to_string(state)) +
                 (outcome.error.empty() ? "" : ": " + outcome.error));
  }
  m_counts[core::JobState::running] -= 1;
  m_counts[state] += 1;
  m_slot_busy[static_cast<size_t>(a.claim.slot)] = false;
  note_finish(mono);

  Finished f;
  f.job_id = a.claim.id;
  f.seq = a.claim.seq;
  f.attempt = a.claim.attempt;
  f.slot = number(static_cast<size_t>(a.claim.slot));
  f.state = state;
  f.outcome = outcome;
  f.duration_ms = mono - a.started_mono;
  f.retry_in_ms = delay;
  f.stdout_bytes = exited.stdout_bytes;
  f.stderr_bytes = exited.stderr_bytes;
  if (exited.stdout_bytes > 0) {
    f.stdout_path = out_path(a.claim.seq, ".out");
  }
  if (exited.stderr_bytes > 0) {
    f.stderr_path = out_path(a.claim.seq, ".err");
  }
  if (state != core::JobState::succeeded) {
    f.command = display_command(a.argv);
  }
  m_reporter.finished(f, progress());
}

Progress Agent::progress() const {
  Progress p;
  p.counts = m_counts;
  p.total = m_counts.total();
  const int64_t now = util::monotonic_ms();
  p.elapsed_ms = now - m_started_mono;
  p.draining = m_draining;
  // The last ten whole seconds (fewer at the start), plus the current one.
  const int64_t second = now / 1000;
  int64_t done = 0;
  int64_t span_ms = 0;
  for (int64_t s = second - 9; s <= second; ++s) {
    if (s > m_bucket_second - 10 && s <= m_bucket_second) {
      done += m_buckets[s % 10];
    }
  }
  span_ms = std::min<int64_t>(p.elapsed_ms, 9000 + now % 1000);
  if (span_ms >= 200) {
    p.rate = static_cast<double>(done) * 1000.0 / static_cast<double>(span_ms);
  }
  const int64_t left = p.total - m_counts.finished();
  if (p.rate > 0) {
    p.eta_ms = static_cast<int64_t>(static_cast<double>(left) * 1000.0 / p.rate);
  } else if (left == 0) {
    p.eta_ms = 0;
  }
  return p;
}

core::Decision Agent::classify(const Active& a, core::Outcome& outcome,
                               const exec::Exited& exited) {
  core::Decision d;
  if (core::stopped_by_muster(outcome.type) || outcome.type == core::ErrorType::spawn) {
    return d;
  }
  const std::string result_path = out_path(a.claim.seq, ".result");
  if (::access(result_path.c_str(), F_OK) == 0) {
    auto parsed = core::parse_result_file(util::read_file(result_path));
    if (parsed) {
      d = std::move(*parsed);
    } else {
      // A job that cannot say what happened failed this attempt.
      d.action = core::Action::retry;
      d.error_type = "result_file";
      d.message = "bad result file " + result_path + ": " + parsed.error().message;
      d.source = "result file";
    }
  } else if (!m_rules.empty()) {
    std::string output;
    if (m_read_output) {
      if (exited.stdout_bytes > 0) {
        output = util::read_file(out_path(a.claim.seq, ".out"));
      }
      if (exited.stderr_bytes > 0) {
        output += "\n" + util::read_file(out_path(a.claim.seq, ".err"));
      }
    }
    d = m_rules.classify(outcome, output);
  }
  if (d.action == core::Action::none) {
    return d;
  }
  if (d.action == core::Action::succeed) {
    outcome.type = core::ErrorType::none;
    outcome.error.clear();
    return d;
  }
  // The attempt failed (or halted the run), whatever its exit status was.
  // A result file's message says it all; a rule's adds what it matched.
  std::string what = outcome.error;
  if (!d.message.empty()) {
    const bool replaces = d.source == "result file" || what.empty();
    what = replaces ? d.message : what + ", " + d.message;
  }
  if (what.empty()) {
    what = std::string(core::to_string(d.action)) + " by " + d.source;
  }
  if (outcome.type == core::ErrorType::none) {
    outcome.type = core::ErrorType::exit_code;
  }
  outcome.error = what;
  return d;
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
    stop_all(SIGTERM, core::ErrorType::halted);
  }
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
    c.slot = static_cast<int64_t>(m_slot_index.at(c.slot)); // the store speaks in numbers
    if (m_counts[c.from] <= 0 && m_counts[core::JobState::waiting] > 0) {
      // Another agent's finish made a waiting job pending since we counted.
      m_counts[core::JobState::waiting] -= 1;
      m_counts[c.from] += 1;
    }
    launch(std::move(c));
  }
}

util::Result<void> Agent::poll_control(int64_t rid) {
  auto c = m_store.control(rid);
  if (!c) {
    return c.error();
  }
  if (m_generation >= 0 && c->generation != m_generation) {
    // Jobs were added: count again, so the loop sees them.
    if (auto r = recount(rid); !r) {
      return r;
    }
    m_reporter.notice("jobs were added to the run; " + std::to_string(m_counts.total()) +
                       " in all");
  }
  m_generation = c->generation;
  if (m_halted_until > util::now_ms() && c->resume_at < m_halted_until) {
    // `muster resume --now` ended the cooldown.
    m_halted_until = c->resume_at;
    if (m_halted_until <= util::now_ms() && !m_user_paused) {
      m_paused_shown = false;
      m_reporter.unpaused();
    }
  }
  if (c->target_slots > 0 && c->target_slots != m_target_slots) {
    m_target_slots = c->target_slots;
    scale_to(c->target_slots);
  }
  if (c->request == store::ControlRequest::cancel) {
    if (!m_cancelling) {
      m_cancelling = true;
      m_reporter.paused("cancelled by `muster cancel`: stopping " +
                            std::to_string(m_active.size()) + " running job(s)",
                        0);
      stop_all(SIGTERM, core::ErrorType::cancelled);
    }
  } else if (c->request == store::ControlRequest::pause ||
             c->request == store::ControlRequest::pause_stop) {
    if (!m_user_paused) {
      m_user_paused = true;
      (void)m_store.set_run_state(rid, core::RunState::paused);
      m_reporter.paused(std::string("paused by `muster pause`") +
                            (c->request == store::ControlRequest::pause_stop ? "; stopping running jobs" : "") +
                            "; `muster resume` continues",
                        0);
      m_paused_shown = true;
    }
    if (c->request == store::ControlRequest::pause_stop) {
      std::vector<pid_t> running;
      for (const auto& [pid, a] : m_active) {
        if (a.stop_reason == core::ErrorType::none) {
          running.push_back(pid);
        }
      }
      if (!running.empty()) {
        stop_all(SIGTERM, core::ErrorType::paused);
      }
    }
  } else if (m_user_paused) {
    m_user_paused = false;
    m_paused_shown = false;
    (void)m_store.set_run_state(rid, m_halted_until > util::now_ms() ? core::RunState::halted
                                                                     : core::RunState::running);
    m_reporter.unpaused();
  }
  return {};
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

void Agent::leave(int64_t rid, core::RunState state) {
  (void)m_store.stop_agent(m_aid, util::now_ms());
  auto run = m_store.find_run(m_run.id);
  const auto& me = m_opts.me;
  if (run && !run->holder.empty() &&
      !(run->holder.pid == me.pid && run->holder.host == me.host &&
        run->holder.start_time == me.start_time)) {
    return; // another agent holds the run now; it decides the run's state
  }
  (void)m_store.release(rid, state);
}

util::Result<void> Agent::heartbeat(int64_t rid) {
  const int64_t mono = util::monotonic_ms();
  const int64_t now = util::now_ms();
  const int64_t lease = core::lease_ms(m_opts.heartbeat_ms);
  auto beat = m_store.beat(rid, m_aid, progress().rate, slot_states(), now, lease);
  if (!beat) {
    if (mono - m_last_beat_ok <= lease) {
      m_reporter.warning("heartbeat failed: " + beat.error().message);
      return {}; // its leases still hold; try again next time
    }
    // Fencing: once the leases have run out, another agent may take these
    // jobs, so they must not run on here.
    stop_all(SIGKILL, core::ErrorType::interrupted);
    return util::Error{"the store has not taken a heartbeat for " +
                       util::format_duration(mono - m_last_beat_ok) +
                       "; every job was stopped, as its lease ran out: " + beat.error().message};
  }
  m_last_beat_ok = mono;
  if (beat->offline) {
    for (auto& [pid, a] : m_active) {
      a.fenced = true;
      m_runner.signal_group(pid, SIGKILL);
    }
    return util::Error{"another agent found this one gone and took over its jobs; they were "
                       "stopped here so that none runs twice"};
  }
  std::unordered_set<int64_t> held(beat->held.begin(), beat->held.end());
  for (auto& [pid, a] : m_active) {
    if (!a.fenced && held.count(a.claim.jid) == 0) {
      a.fenced = true;
      m_runner.signal_group(pid, SIGKILL);
      m_reporter.warning("job " + a.claim.id + ": its lease was taken over; stopped it (pid " +
                         std::to_string(pid) + ") so that it never runs twice");
    }
  }
  auto orphans = m_store.recover(rid, m_aid, m_opts.is_alive, now);
  if (!orphans) {
    return orphans.error();
  }
  if (!orphans->empty()) {
    if (m_opts.reap_orphans) {
      m_opts.reap_orphans(m_run.id, *orphans);
    }
    if (auto r = recount(rid); !r) {
      return r;
    }
    m_reporter.notice("recovered " + std::to_string(orphans->size()) +
                      " job(s) of an agent that is gone");
  }
  return {};
}

std::string Agent::slot_states() const {
  std::unordered_map<size_t, const Active*> busy;
  for (const auto& [pid, a] : m_active) {
    busy[static_cast<size_t>(a.claim.slot)] = &a;
  }
  const int64_t now = util::now_ms();
  const int64_t mono = util::monotonic_ms();
  std::string out = "[";
  for (size_t s = 0; s < m_slots.size(); ++s) {
    const Slot& slot = m_slots[s];
    std::string state;
    switch (slot.state) {
    case SlotState::waiting: state = "starting"; break;
    case SlotState::ready: state = "idle"; break;
    case SlotState::restarting: state = "restarting"; break;
    case SlotState::failed: state = "failed"; break;
    case SlotState::retired: state = "retired"; break;
    }
    auto it = busy.find(s);
    if (it != busy.end()) {
      state = "busy";
    }
    out += (s == 0 ? "" : ",");
    out += "{\"slot\":" + std::to_string(slot.number) + ",\"state\":";
    util::append_json_string(out, state);
    if (it != busy.end()) {
      out += ",\"job\":";
      util::append_json_string(out, it->second->claim.id);
      out += ",\"since\":" + std::to_string(now - (mono - it->second->started_mono));
    }
    std::string sidecar = "none";
    if (!m_run.settings.slot.sidecar.empty()) {
      sidecar = slot.state == SlotState::ready        ? "ready"
                : slot.state == SlotState::restarting ? "restarting"
                : slot.state == SlotState::failed     ? "failed"
                : slot.sidecar != 0                   ? "starting"
                                                      : "stopped";
    }
    out += ",\"sidecar\":";
    util::append_json_string(out, sidecar);
    out += "}";
  }
  return out + "]";
}

void Agent::dispatch_exit(const exec::Exited& exited) {
  if (auto it = m_sidecars.find(exited.pid); it != m_sidecars.end()) {
    const size_t slot = it->second;
    m_sidecars.erase(it);
    on_sidecar_exit(slot, exited);
    return;
  }
  on_exit(exited);
}

} // namespace muster::agent

#include "agent/attempts.hpp"

#include "core/backoff.hpp"
#include "core/run_files.hpp"
#include "store/codec.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_set>

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

} // namespace

Attempts::Attempts(exec::Runner& runner, Reporter& reporter, SlotPool& pool,
                   const store::RunRecord& run, const std::string& store_dir)
    : m_runner(runner), m_reporter(reporter), m_pool(pool), m_run(run),
      m_store_dir(store_dir), m_rng(std::random_device{}()) {}

std::string Attempts::out_path(int64_t seq, const char* ext) const {
  return core::RunFiles(m_store_dir, m_run.id).job_file(seq, ext);
}

util::Result<void> Attempts::prepare(bool stream, const std::string& tag) {
  m_stream = stream;
  if (!tag.empty()) {
    auto t = core::Template::parse_word(tag);
    if (!t) {
      return util::Error{"--tagstring: " + t.error().message, util::ErrorKind::bad_input};
    }
    m_tag = std::move(*t);
  }
  auto tmpl = core::Template::parse_command(m_run.settings.command, m_run.settings.shell);
  if (!tmpl) {
    return tmpl.error();
  }
  auto rules = core::RuleSet::compile(m_run.settings.rules);
  if (!rules) {
    return rules.error();
  }
  for (auto [text, target] : {std::pair{&m_run.settings.slot.before_job, &m_before_job},
                              std::pair{&m_run.settings.slot.after_job, &m_after_job}}) {
    if (!text->empty()) {
      auto hook = core::Template::parse_word(*text, core::Shell::yes);
      if (!hook) {
        return hook.error();
      }
      *target = std::move(*hook);
    }
  }
  m_command = std::move(*tmpl);
  m_rules = std::move(*rules);
  m_read_output = m_rules.needs_output();
  return {};
}

std::optional<Ended> Attempts::start(store::Claim claim) {
  if (auto r = store::decode_fields(claim.fields, m_names, m_values); !r) {
    m_reporter.warning(r.error().message);
  }
  const core::RowView row = core::RowView::stored(
      m_names.empty() ? m_run.columns : m_names, m_values, claim.raw);
  const auto slot = static_cast<size_t>(claim.slot);
  const int64_t number = m_pool.number(slot);
  core::JobContext ctx{claim.id, m_run.id, number, claim.attempt, &m_pool.values(slot),
                       claim.seq};
  exec::StartRequest req;
  req.argv = m_command.render_argv(row, ctx);
  std::vector<std::string> shown; // the job's own argv, for messages, when wrapped
  if (m_before_job) {
    shown = req.argv;
    wrap_with_job_hooks(req.argv, row, ctx);
  }
  req.env = {"MUSTER_RUN_ID=" + m_run.id, "MUSTER_JOB_ID=" + claim.id,
             "MUSTER_SLOT=" + std::to_string(number),
             "MUSTER_ATTEMPT=" + std::to_string(claim.attempt),
             "MUSTER_RESULT=" + out_path(claim.seq, ".result")};
  const auto& slot_env = m_pool.env(slot);
  req.env.insert(req.env.end(), slot_env.begin(), slot_env.end());
  req.stdout_path = out_path(claim.seq, ".out");
  req.stderr_path = out_path(claim.seq, ".err");
  req.stream = m_stream;
  req.pty = m_run.settings.pty;
  if (claim.attempt > 1) {
    // Output files hold the latest attempt only; a silent one leaves none.
    ::unlink(req.stdout_path.c_str());
    ::unlink(req.stderr_path.c_str());
    ::unlink(out_path(claim.seq, ".cut").c_str());
  }
  // A result file speaks for this attempt only.
  ::unlink(out_path(claim.seq, ".result").c_str());
  Attempt a;
  if (m_after_job) {
    a.after_job = m_after_job->render_word(row, ctx);
    a.env = req.env;
  }
  a.claim = std::move(claim);
  a.started_mono = util::monotonic_ms();
  auto pid = m_runner.start(req);
  a.argv = shown.empty() ? std::move(req.argv) : std::move(shown);
  if (!pid) {
    // Recorded like any other end: the claim is already committed.
    return record(a, core::Outcome::spawn_failed(pid.error().message), exec::Exited{});
  }
  a.pid = *pid;
  m_pool.log(slot, "job " + a.claim.id + " attempt " + std::to_string(a.claim.attempt) +
                       " started, pid " + std::to_string(*pid));
  StartedJob started{a.claim.id, a.claim.seq, a.claim.attempt, number, *pid, {}};
  if (m_tag) {
    started.tag = m_tag->render_word(row, ctx);
  }
  m_reporter.job_started(started);
  if (m_run.settings.timeout_ms > 0) {
    a.deadline = a.started_mono + m_run.settings.timeout_ms;
  }
  store::Update u;
  u.kind = store::Update::Kind::started;
  u.jid = a.claim.jid;
  u.pid = *pid;
  m_updates.push_back(u);
  m_active.emplace(*pid, std::move(a));
  return std::nullopt;
}

void Attempts::keep_tails(const Finished& f) const {
  const uint64_t max = m_run.settings.max_output;
  if (max == 0 || (f.stdout_bytes <= max && f.stderr_bytes <= max)) {
    return;
  }
  // The whole output was passed through; the store keeps its tail, and says
  // how much there was, for `muster logs`.
  util::keep_tail(out_path(f.seq, ".out"), max);
  util::keep_tail(out_path(f.seq, ".err"), max);
  util::write_file(out_path(f.seq, ".cut"), "stdout " + std::to_string(f.stdout_bytes) +
                                                "\nstderr " +
                                                std::to_string(f.stderr_bytes) + "\n");
}

void Attempts::wrap_with_job_hooks(std::vector<std::string>& argv,
                                   const core::RowView& row,
                                   const core::JobContext& ctx) const {
  // One sh in the job's own process group runs before_job, then the job, so a
  // timeout or a stop reaches both. A failing before_job fails the attempt
  // without running it. after_job runs apart, once the attempt has ended.
  const std::string script =
      "{ " + m_before_job->render_word(row, ctx) + "\n} || exit $?\nexec \"$@\"\n";
  std::vector<std::string> wrapped{"/bin/sh", "-c", script, "muster-job"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  argv = std::move(wrapped);
}

std::optional<Ended> Attempts::on_exit(const exec::Exited& exited) {
  auto it = m_active.find(exited.pid);
  if (it == m_active.end()) {
    return std::nullopt;
  }
  Attempt a = std::move(it->second);
  m_active.erase(it);
  core::Outcome outcome = outcome_from_status(exited.status);
  if (a.stop_reason == core::ErrorType::timeout && !outcome.succeeded()) {
    outcome = core::Outcome::timed_out(
        WIFSIGNALED(exited.status) ? WTERMSIG(exited.status) : 0);
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
  const bool by_job = outcome.type == core::ErrorType::none ||
                      outcome.type == core::ErrorType::exit_code ||
                      outcome.type == core::ErrorType::signal;
  if (by_job && !exited.output_error.empty()) {
    // Never a success with output missing: the attempt failed, and is retried.
    outcome = core::Outcome::output_lost(
        exited.output_error + (outcome.succeeded() ? "" : "; the job " + outcome.error));
  }
  return record(a, outcome, exited);
}

namespace {

// $MUSTER_END_REASON for after_job: how the attempt ended.
const char* end_reason(const core::Outcome& o, bool fenced) {
  if (fenced) {
    return "fenced";
  }
  switch (o.type) {
  case core::ErrorType::none:
  case core::ErrorType::exit_code:
    return "exit";
  case core::ErrorType::signal:
    return "signal";
  case core::ErrorType::timeout:
    return "timeout";
  case core::ErrorType::spawn:
    return "spawn";
  case core::ErrorType::output:
    return "output";
  case core::ErrorType::interrupted:
    return "stop";
  case core::ErrorType::halted:
    return "halt";
  case core::ErrorType::paused:
    return "pause";
  case core::ErrorType::cancelled:
    return "cancel";
  }
  return "exit";
}

} // namespace

bool Attempts::start_after_job(const Attempt& a, const core::Outcome& outcome,
                               size_t slot) {
  if (a.after_job.empty()) {
    return false;
  }
  const int rc = outcome.signal > 0       ? 128 + outcome.signal
                 : outcome.exit_code >= 0 ? outcome.exit_code
                                          : 1;
  std::vector<std::string> env = a.env;
  env.push_back("rc=" + std::to_string(rc));
  env.push_back(std::string("MUSTER_END_REASON=") + end_reason(outcome, a.fenced));
  auto pid = m_pool.start_script(slot, a.after_job, env);
  if (!pid) {
    m_pool.log(slot, "after_job of job " + a.claim.id +
                         " could not start: " + pid.error().message);
    return false;
  }
  const int64_t timeout = m_run.settings.timeout_ms;
  m_after_hooks[*pid] =
      AfterHook{slot, timeout > 0 ? util::monotonic_ms() + timeout : -1};
  return true;
}

std::optional<size_t> Attempts::on_hook_exit(const exec::Exited& exited) {
  auto it = m_after_hooks.find(exited.pid);
  if (it == m_after_hooks.end()) {
    return std::nullopt;
  }
  const size_t slot = it->second.slot;
  m_after_hooks.erase(it);
  if (!WIFEXITED(exited.status) || WEXITSTATUS(exited.status) != 0) {
    m_pool.log(slot, "after_job exited with status " + std::to_string(exited.status));
  }
  return slot;
}

Ended Attempts::record(const Attempt& a, const core::Outcome& ended,
                       const exec::Exited& exited) {
  Ended e = record_end(a, ended, exited);
  e.hook_running = start_after_job(a, e.recorded ? e.finished.outcome : ended, e.slot);
  return e;
}

Ended Attempts::record_end(const Attempt& a, const core::Outcome& ended,
                           const exec::Exited& exited) {
  Ended e;
  e.slot = static_cast<size_t>(a.claim.slot);
  e.ended_mono = util::monotonic_ms();
  if (a.fenced) {
    // Its lease was taken: the store has moved on, and nothing is recorded.
    e.recorded = false;
    e.finished.seq = a.claim.seq;
    e.finished.stdout_bytes = exited.stdout_bytes;
    e.finished.stderr_bytes = exited.stderr_bytes;
    m_pool.log(e.slot, "job " + a.claim.id + " attempt " +
                           std::to_string(a.claim.attempt) +
                           " stopped: its lease was taken over");
    return e;
  }
  const int64_t counted = a.claim.attempt - a.claim.interrupts;
  core::Outcome outcome = ended;
  core::Decision decision = classify(a, outcome, exited);
  if (decision.action == core::Action::halt && a.claim.halts >= decision.max_halts) {
    // Its halts are uncounted attempts; a trigger that always recurs would
    // halt the run forever.
    decision.action = core::Action::fail;
    outcome.error += "; it halted the run " + std::to_string(a.claim.halts) +
                     " times, the most its rule allows (max_halts = " +
                     std::to_string(decision.max_halts) + ")";
  }
  const core::JobState state =
      core::state_after(outcome, decision, counted, a.claim.max_attempts);
  store::Update u;
  u.jid = a.claim.jid;
  u.pid = a.pid;
  u.state = state;
  u.outcome = outcome;
  u.finished_at = util::now_ms();
  u.key = a.claim.key;
  u.locks = a.claim.locks;
  u.claimed_at = a.claim.claimed_at;
  u.error_type = decision.error_type;
  u.uncounted =
      core::stopped_by_muster(outcome.type) || decision.action == core::Action::halt;
  u.block_key = decision.action == core::Action::fail && decision.block_key;
  if (decision.action == core::Action::halt) {
    u.halt_until = u.finished_at + decision.cooldown_ms;
    u.halt_reason = "job " + a.claim.id + ": " +
                    (outcome.error.empty() ? decision.source : outcome.error) + " (" +
                    decision.source + ")";
    e.halt_until = u.halt_until;
    e.halt_reason = u.halt_reason;
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
    e.retry_at = u.retry_at;
  }
  if (m_keep_output && exited.stdout_bytes + exited.stderr_bytes > 0) {
    keep_output(u, a.claim.seq, exited); // a silent job costs the store nothing
  }
  m_updates.push_back(std::move(u));
  m_pool.log(e.slot, "job " + a.claim.id + " attempt " + std::to_string(a.claim.attempt) +
                         " " + std::string(core::to_string(state)) +
                         (outcome.error.empty() ? "" : ": " + outcome.error));
  fill_finished(e, a, outcome, exited, state, delay);
  return e;
}

void Attempts::keep_output(store::Update& u, int64_t seq,
                           const exec::Exited& exited) const {
  // What the runner kept in memory is all of it; a larger output is read
  // back from the end of its file.
  const auto tail = [&](const std::string& data, uint64_t bytes, const char* ext) {
    if (bytes == 0) {
      return std::string();
    }
    if (data.size() == bytes) {
      const size_t from = data.size() > store::k_stored_output_bytes
                              ? data.size() - store::k_stored_output_bytes
                              : 0;
      return util::valid_utf8(std::string_view(data).substr(from));
    }
    return util::valid_utf8(
        util::read_tail(out_path(seq, ext), store::k_stored_output_bytes));
  };
  u.output_kept = true;
  u.stdout_tail = tail(exited.stdout_data, exited.stdout_bytes, ".out");
  u.stderr_tail = tail(exited.stderr_data, exited.stderr_bytes, ".err");
  u.stdout_bytes = static_cast<int64_t>(exited.stdout_bytes);
  u.stderr_bytes = static_cast<int64_t>(exited.stderr_bytes);
}

void Attempts::fill_finished(Ended& e, const Attempt& a, const core::Outcome& outcome,
                             const exec::Exited& exited, core::JobState state,
                             int64_t delay) const {
  Finished& f = e.finished;
  f.job_id = a.claim.id;
  f.seq = a.claim.seq;
  f.pid = a.pid;
  f.attempt = a.claim.attempt;
  f.slot = m_pool.number(e.slot);
  f.state = state;
  f.outcome = outcome;
  f.duration_ms = e.ended_mono - a.started_mono;
  f.retry_in_ms = delay;
  f.stdout_bytes = exited.stdout_bytes;
  f.stderr_bytes = exited.stderr_bytes;
  f.stdout_data = exited.stdout_data;
  f.stderr_data = exited.stderr_data;
  if (exited.stdout_bytes > 0) {
    f.stdout_path = out_path(a.claim.seq, ".out");
  }
  if (exited.stderr_bytes > 0) {
    f.stderr_path = out_path(a.claim.seq, ".err");
  }
  if (state != core::JobState::succeeded) {
    f.command = util::shell_words(a.argv);
  }
}

core::Decision Attempts::classify(const Attempt& a, core::Outcome& outcome,
                                  const exec::Exited& exited) const {
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
      // Rules read what is kept: the last --max-output of each stream.
      const uint64_t max = m_run.settings.max_output;
      output = exited.stdout_data.size() == exited.stdout_bytes
                   ? exited.stdout_data
                   : util::read_tail(out_path(a.claim.seq, ".out"), max);
      if (exited.stderr_bytes > 0) {
        output += "\n" + (exited.stderr_data.size() == exited.stderr_bytes
                              ? exited.stderr_data
                              : util::read_tail(out_path(a.claim.seq, ".err"), max));
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

void Attempts::stop_all(int sig, core::ErrorType reason) {
  const int64_t now = util::monotonic_ms();
  for (auto& [pid, a] : m_active) {
    if (a.stop_reason == core::ErrorType::none ||
        reason == core::ErrorType::interrupted || reason == core::ErrorType::cancelled) {
      a.stop_reason = reason;
    }
    m_runner.signal_group(pid, sig);
    if (sig != SIGKILL && a.kill_at < 0) {
      a.kill_at = now + m_run.settings.kill_grace_ms;
    }
    a.deadline = -1;
  }
  if (sig == SIGKILL) {
    for (const auto& [pid, hook] : m_after_hooks) {
      m_runner.signal_group(pid, SIGKILL); // "stop at once" covers hooks too
    }
  }
}

void Attempts::check_deadlines(int64_t now) {
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
  for (auto& [pid, hook] : m_after_hooks) {
    if (hook.deadline >= 0 && now >= hook.deadline) {
      hook.deadline = -1;
      m_pool.log(hook.slot, "after_job timed out after " +
                                util::format_duration(m_run.settings.timeout_ms) +
                                ": stopping it");
      m_runner.signal_group(pid, SIGTERM);
      hook.kill_at = now + m_run.settings.kill_grace_ms;
    } else if (hook.kill_at >= 0 && now >= hook.kill_at) {
      hook.kill_at = -1;
      m_runner.signal_group(pid, SIGKILL);
    }
  }
}

void Attempts::stop_slot(size_t slot) {
  for (auto& [pid, a] : m_active) {
    if (a.claim.slot == static_cast<int64_t>(slot)) {
      a.sidecar_died = true;
      m_runner.signal_group(pid, SIGTERM);
      a.kill_at = util::monotonic_ms() + m_run.settings.kill_grace_ms;
    }
  }
}

void Attempts::fence(const std::vector<int64_t>& held) {
  const std::unordered_set<int64_t> own(held.begin(), held.end());
  for (auto& [pid, a] : m_active) {
    if (!a.fenced && own.count(a.claim.jid) == 0) {
      a.fenced = true;
      m_runner.signal_group(pid, SIGKILL);
      m_reporter.warning("job " + a.claim.id +
                         ": its lease was taken over; stopped it (pid " +
                         std::to_string(pid) + ") so that it never runs twice");
    }
  }
}

void Attempts::fence_all() {
  for (auto& [pid, a] : m_active) {
    a.fenced = true;
    m_runner.signal_group(pid, SIGKILL);
  }
}

int64_t Attempts::next_deadline(int64_t next) const {
  auto consider = [&next](int64_t t) {
    if (t >= 0 && t < next) {
      next = t;
    }
  };
  for (const auto& [pid, a] : m_active) {
    consider(a.deadline);
    consider(a.kill_at);
  }
  for (const auto& [pid, hook] : m_after_hooks) {
    consider(hook.deadline);
    consider(hook.kill_at);
  }
  return next;
}

bool Attempts::any_unstopped() const {
  return std::any_of(m_active.begin(), m_active.end(), [](const auto& entry) {
    return entry.second.stop_reason == core::ErrorType::none;
  });
}

std::vector<pid_t> Attempts::groups() const {
  std::vector<pid_t> out;
  out.reserve(m_active.size());
  for (const auto& entry : m_active) {
    out.push_back(entry.first);
  }
  return out;
}

std::vector<BusySlot> Attempts::busy_slots() const {
  std::vector<BusySlot> out;
  out.reserve(m_active.size());
  for (const auto& [pid, a] : m_active) {
    out.push_back(
        BusySlot{static_cast<size_t>(a.claim.slot), &a.claim.id, a.started_mono});
  }
  return out;
}

} // namespace muster::agent

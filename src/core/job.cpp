#include "core/job.hpp"

#include "util/strings.hpp"

#include <array>
#include <csignal>
#include <cstring>

namespace muster::core {

namespace {

constexpr std::array<std::string_view, 9> k_job_states = {
    "pending", "running",     "succeeded", "failed",   "retrying",
    "waiting", "interrupted", "skipped",   "cancelled"};

constexpr std::array<std::string_view, 7> k_run_states = {
    "created", "running", "paused", "halted", "completed", "cancelled", "failed"};

} // namespace

std::string_view to_string(JobState state) {
  return k_job_states[static_cast<size_t>(state)];
}

std::optional<JobState> parse_job_state(std::string_view text) {
  return util::parse_word<JobState>(k_job_states, text);
}

bool is_terminal(JobState state) {
  switch (state) {
  case JobState::succeeded:
  case JobState::failed:
  case JobState::skipped:
  case JobState::cancelled:
    return true;
  case JobState::pending:
  case JobState::running:
  case JobState::retrying:
  case JobState::waiting:
  case JobState::interrupted:
    return false;
  }
  return false;
}

bool can_transition(JobState from, JobState to) {
  using S = JobState;
  switch (from) {
  case S::pending:
  case S::waiting:
    return to == S::running || to == S::waiting || to == S::skipped ||
           to == S::cancelled || to == S::pending;
  case S::retrying:
    return to == S::running || to == S::pending || to == S::cancelled || to == S::skipped;
  case S::running:
    // An interrupted attempt may be requeued directly when its agent died.
    return to == S::succeeded || to == S::failed || to == S::retrying ||
           to == S::interrupted || to == S::pending || to == S::cancelled;
  case S::interrupted:
    return to == S::pending || to == S::cancelled || to == S::skipped;
  case S::failed:
  case S::cancelled:
  case S::skipped:
    return to == S::pending; // only by `muster retry`
  case S::succeeded:
    return false; // a success is final: it never runs again
  }
  return false;
}

std::string_view to_string(ErrorType type) {
  switch (type) {
  case ErrorType::none:
    return "";
  case ErrorType::exit_code:
    return "exit_code";
  case ErrorType::signal:
    return "signal";
  case ErrorType::timeout:
    return "timeout";
  case ErrorType::spawn:
    return "spawn";
  case ErrorType::output:
    return "output";
  case ErrorType::interrupted:
    return "interrupted";
  case ErrorType::halted:
    return "halted";
  case ErrorType::paused:
    return "paused";
  case ErrorType::cancelled:
    return "cancelled";
  }
  return "";
}

Outcome Outcome::exited(int code) {
  Outcome o;
  o.exit_code = code;
  if (code != 0) {
    o.type = ErrorType::exit_code;
    o.error = "exited with code " + std::to_string(code);
  }
  return o;
}

Outcome Outcome::signaled(int sig) {
  Outcome o;
  o.type = ErrorType::signal;
  o.signal = sig;
  const char* name = sigabbrev_np(sig);
  o.error = std::string("killed by signal ") +
            (name ? std::string("SIG") + name : std::to_string(sig));
  return o;
}

Outcome Outcome::timed_out(int sig) {
  Outcome o;
  o.type = ErrorType::timeout;
  o.signal = sig;
  o.error = "timed out";
  return o;
}

Outcome Outcome::spawn_failed(std::string why) {
  Outcome o;
  o.type = ErrorType::spawn;
  o.exit_code = 127;
  o.error = std::move(why);
  return o;
}

Outcome Outcome::output_lost(std::string why) {
  Outcome o;
  o.type = ErrorType::output;
  o.error = "its output was not saved: " + std::move(why);
  return o;
}

namespace {

// An attempt muster itself stopped, and why.
Outcome stopped(ErrorType type, const char* why) {
  Outcome o;
  o.type = type;
  o.error = why;
  return o;
}

} // namespace

Outcome Outcome::interrupted_by_stop() {
  return stopped(ErrorType::interrupted,
                 "interrupted: muster was stopped while the job ran");
}

Outcome Outcome::stopped_by_halt() {
  return stopped(ErrorType::halted, "stopped: a rule halted the run");
}

Outcome Outcome::stopped_by_pause() {
  return stopped(ErrorType::paused, "stopped: the run was paused");
}

Outcome Outcome::cancelled_while_running() {
  return stopped(ErrorType::cancelled, "stopped: the run was cancelled");
}

bool stopped_by_muster(ErrorType type) {
  return type == ErrorType::interrupted || type == ErrorType::halted ||
         type == ErrorType::paused || type == ErrorType::cancelled;
}

Retryable retryable(const Outcome& outcome) {
  switch (outcome.type) {
  case ErrorType::exit_code:
  case ErrorType::signal:
  case ErrorType::timeout:
  case ErrorType::output: // a system fault, such as a full disk
    return Retryable::yes;
  case ErrorType::spawn: // the command cannot start: trying again will not help
  case ErrorType::none:
  case ErrorType::interrupted:
  case ErrorType::halted:
  case ErrorType::paused:
  case ErrorType::cancelled:
    return Retryable::no;
  }
  return Retryable::no;
}

JobState state_after(const Outcome& outcome, int64_t attempts, int64_t max_attempts) {
  if (outcome.succeeded()) {
    return JobState::succeeded;
  }
  if (outcome.type == ErrorType::interrupted) {
    return JobState::interrupted;
  }
  if (outcome.type == ErrorType::halted || outcome.type == ErrorType::paused) {
    return JobState::pending; // not its fault: it runs again later
  }
  if (outcome.type == ErrorType::cancelled) {
    return JobState::cancelled;
  }
  if (retryable(outcome) == Retryable::yes && attempts < max_attempts) {
    return JobState::retrying;
  }
  return JobState::failed;
}

constexpr std::array<std::string_view, 2> k_on_interrupt = {"requeue", "hold"};

std::string_view to_string(OnInterrupt mode) {
  return k_on_interrupt[static_cast<size_t>(mode)];
}

std::optional<OnInterrupt> parse_on_interrupt(std::string_view text) {
  return util::parse_word<OnInterrupt>(k_on_interrupt, text);
}

std::string_view to_string(RunState state) {
  return k_run_states[static_cast<size_t>(state)];
}

std::optional<RunState> parse_run_state(std::string_view text) {
  return util::parse_word<RunState>(k_run_states, text);
}

JobState state_on_interrupt(OnInterrupt mode) {
  switch (mode) {
  case OnInterrupt::requeue:
    return JobState::pending;
  case OnInterrupt::hold:
    return JobState::interrupted;
  }
  return JobState::interrupted;
}

RunState state_on_takeover(PauseAsked pause, int64_t resume_at, int64_t now_ms) {
  if (pause == PauseAsked::yes) {
    return RunState::paused;
  }
  return resume_at > now_ms ? RunState::halted : RunState::running;
}

RunState state_after_add(RunState state) {
  switch (state) {
  case RunState::completed:
  case RunState::cancelled:
  case RunState::failed:
    return RunState::paused;
  case RunState::created:
  case RunState::running:
  case RunState::paused:
  case RunState::halted:
    return state;
  }
  return state;
}

RunState state_after_halt(RunState state) {
  return state == RunState::halted ? RunState::running : state;
}

} // namespace muster::core

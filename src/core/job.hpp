#pragma once
// The job model: states, outcomes, and the state machine that maps an
// attempt's outcome to the job's next state. Pure; no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace muster::core {

/// Every state a job can be in. See DESIGN.md, "Concepts".
enum class JobState {
  pending,     ///< ready to be claimed
  running,     ///< claimed by an agent; its process may be alive
  succeeded,   ///< terminal
  failed,      ///< terminal: out of attempts, or not retryable
  retrying,    ///< waits for retry_at, then is claimable again
  waiting,     ///< held back by a limit (later issues)
  interrupted, ///< its agent stopped or died while it ran
  skipped,     ///< terminal
  cancelled,   ///< terminal
};

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);
/// True for states a job never leaves on its own (only `muster retry` can).
bool is_terminal(JobState state);
/// The transitions the scheduler and the CLI may make.
bool can_transition(JobState from, JobState to);

/// What a finished attempt was, in the store's `error_type` words.
enum class ErrorType {
  none,
  exit_code,
  signal,
  timeout,
  spawn,
  output, ///< its captured output could not be written (a full disk): retried
  interrupted,
  halted,
  paused,
  cancelled
};
/// True for attempts muster itself stopped (a signal to muster, a halt, a
/// pause or a cancel): they are not the job's fault and spend no attempt.
bool stopped_by_muster(ErrorType type);
std::string_view to_string(ErrorType type);

/// What happened to one attempt.
struct Outcome {
  ErrorType type = ErrorType::none; ///< none means it exited 0
  int exit_code = -1;               ///< when it exited
  int signal = 0;                   ///< when a signal ended it
  std::string error;                ///< a human-readable reason ("" on success)

  static Outcome exited(int code);
  static Outcome signaled(int sig);
  static Outcome timed_out(int sig);
  static Outcome spawn_failed(std::string why);
  /// Its output could not be saved; `why` names the file and the error.
  static Outcome output_lost(std::string why);
  static Outcome interrupted_by_stop();
  /// Stopped because a rule halted the run (halt_mode = "stop"): requeued.
  static Outcome stopped_by_halt();
  /// Stopped by `muster pause --stop-running`: requeued.
  static Outcome stopped_by_pause();
  /// Stopped by `muster cancel`.
  static Outcome cancelled_while_running();
  bool succeeded() const { return type == ErrorType::none; }
};

/// Whether a failed attempt may be tried again (timeouts are retryable, too).
enum class Retryable { yes, no };
Retryable retryable(const Outcome& outcome);

/// The job's state after an attempt ends. `attempts` counts the attempts that
/// count against `max_attempts` (interrupted ones do not).
JobState state_after(const Outcome& outcome, int64_t attempts, int64_t max_attempts);

/// What to do with jobs whose agent stopped or died while they ran.
enum class OnInterrupt { requeue, hold };
std::string_view to_string(OnInterrupt mode);
std::optional<OnInterrupt> parse_on_interrupt(std::string_view text);

/// Run states. See DESIGN.md.
enum class RunState { created, running, paused, halted, completed, cancelled, failed };
std::string_view to_string(RunState state);
std::optional<RunState> parse_run_state(std::string_view text);
/// Whether a run in `state` has ended for good: completed or cancelled. A
/// failed run has not (its failed jobs can be retried and resumed).
constexpr bool run_ended(RunState state) {
  return state == RunState::completed || state == RunState::cancelled;
}

/// The state of a job whose agent stopped or died while it ran: pending
/// again (requeue), or interrupted until someone retries it (hold).
JobState state_on_interrupt(OnInterrupt mode);
/// Whether a pause was asked for when an agent takes a run over.
enum class PauseAsked { yes, no };
/// The run's state when an agent takes it over: paused when a pause is
/// asked for, halted while a halt's cooldown lasts, else running.
RunState state_on_takeover(PauseAsked pause, int64_t resume_at, int64_t now_ms);
/// The run's state when jobs are added: an ended run is open again, paused
/// until an agent runs it; any other state stays.
RunState state_after_add(RunState state);
/// The run's state when a halt ends (its cooldown is over, or someone lifts
/// it): a halted run runs again; any other state stays.
RunState state_after_halt(RunState state);

} // namespace muster::core

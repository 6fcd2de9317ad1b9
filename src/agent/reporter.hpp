#pragma once
// What the agent tells the outside world as a run goes: the progress line,
// plain log lines and summaries all implement this.

#include "core/job.hpp"
#include "core/run.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace muster::agent {

/// A snapshot for the progress line.
struct Progress {
  core::Counts counts;
  int64_t total = 0;
  int64_t elapsed_ms = 0;
  double rate = -1;    ///< finished jobs per second, recent; < 0 unknown
  int64_t eta_ms = -1; ///< < 0 unknown
  bool draining = false;
};

/// An attempt that started.
struct StartedJob {
  std::string job_id;
  int64_t seq = 0;
  int64_t attempt = 1;
  int64_t slot = 0;
  pid_t pid = 0;   ///< its process group; streamed output names it
  std::string tag; ///< the tag template rendered for its row (--tag), else ""
};

/// One finished attempt.
struct Finished {
  std::string job_id;
  int64_t seq = 0;
  int64_t attempt = 1;
  int64_t slot = 0;
  pid_t pid = 0; ///< 0 when it could not start
  core::JobState state = core::JobState::succeeded;
  core::Outcome outcome;
  int64_t duration_ms = 0;
  int64_t retry_in_ms = 0; ///< when retrying
  std::string stdout_path; ///< "" when the job wrote nothing there
  std::string stderr_path;
  uint64_t stdout_bytes = 0; ///< all it wrote: the files hold it whole during finished()
  uint64_t stderr_bytes = 0;
  std::string stdout_data; ///< the whole stdout when small (exec::k_output_in_memory)
  std::string stderr_data;
  std::string command; ///< the command as run, for people ("" when it succeeded)
};

/// Receives the agent's events. Called on the agent's thread.
class Reporter {
public:
  virtual ~Reporter() = default;
  virtual void started(const std::string& run_id, const Progress& p) {}
  virtual void job_started(const StartedJob& job) {}
  /// A piece of a running job's output, as it came (when the agent streams).
  virtual void output(pid_t pid, bool is_stderr, std::string_view data) {}
  /// An attempt ended. Its output files are whole only during this call:
  /// then they are cut to their tails. Link them to keep them longer.
  virtual void finished(const Finished& job, const Progress& p) {}
  /// Whether the output's reader is gone (a closed pipe): the agent then
  /// stops claiming and drains, as for SIGTERM.
  virtual bool output_closed() const { return false; }
  /// So much output waits for a slow reader that no new job should start.
  virtual bool backlogged() const { return false; }
  /// Called at most a few times a second, and whenever counts change.
  virtual void tick(const Progress& p) {}
  /// The first signal arrived: no new claims; `grace_ms` for running jobs.
  virtual void draining(int signal, int64_t grace_ms, int64_t running) {}
  virtual void ended(const Progress& p) {}
  /// Claims stopped until `until_ms` (epoch): a rule halted the run, or every
  /// job left waits on a limit. `until_ms` is 0 when unknown.
  virtual void paused(const std::string& why, int64_t until_ms) {}
  /// Claims go on again after a pause.
  virtual void unpaused() {}
  /// Something changed that people watching should know (scaled, jobs added).
  virtual void notice(const std::string& message) {}
  /// Something went wrong that did not stop the run.
  virtual void warning(const std::string& message) {}
};

} // namespace muster::agent

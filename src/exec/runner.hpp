#pragma once
// The exec layer as the agent sees it: start a job, signal its process group,
// and wait for exits, signals and deadlines. The agent is tested against fakes
// of this interface.

#include "exec/probe.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace muster::exec {

/// One job attempt to start.
struct StartRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env; ///< "NAME=value" added to muster's own environment
  /// Where its stdout is written, as it comes: whole, so that it can be
  /// followed while the job runs. Created at the first byte (truncated then),
  /// so a silent job leaves no file.
  std::string stdout_path;
  std::string stderr_path; ///< may be the same file as stdout_path when `append`
  bool append = false;     ///< add to the files (a slot's log) instead of replacing them
  bool stream = false;     ///< also hand each chunk to the caller, in Events::output
  /// Its stdin, stdout and stderr are a new pseudo-terminal, its controlling
  /// terminal (it leads a session of its own). What it writes there is its
  /// stdout; nothing is typed to it. Newlines stay "\n" (no ONLCR).
  bool pty = false;
};

/// Output up to this size is also kept in memory and handed back with the
/// exit, so passing a small output through needs no read of its file.
inline constexpr uint64_t k_output_in_memory = 64 * 1024;

/// A job process that ended.
struct Exited {
  pid_t pid = 0;
  int status = 0;            ///< as from waitpid
  uint64_t stdout_bytes = 0; ///< bytes it wrote (all in the file, unless `output_error`)
  uint64_t stderr_bytes = 0;
  /// The whole stdout when it is at most k_output_in_memory bytes, else "".
  std::string stdout_data;
  std::string stderr_data;
  std::string output_error; ///< why some output could not be written to its file
};

/// A piece of a streamed job's output, as read.
struct Output {
  pid_t pid = 0;
  bool is_stderr = false;
  std::string data;
};

/// What one wait returned. Output comes before the exit of the same job.
struct Events {
  std::vector<Output> output;
  std::vector<Exited> exited;
  std::vector<int> signals; ///< SIGINT, SIGTERM, SIGHUP received, in order
};

/// Starts and watches job processes.
class Runner {
public:
  virtual ~Runner() = default;
  /// Starts a job in its own process group; returns its pid (= pgid).
  virtual util::Result<pid_t> start(const StartRequest& request) = 0;
  /// Sends `sig` to the job's whole process group.
  virtual void signal_group(pid_t pgid, int sig) = 0;
  /// Waits until something happens or `deadline_ms` (monotonic; < 0: none).
  virtual util::Result<Events> wait(int64_t deadline_ms) = 0;
  /// Makes wait() also return when `fd` becomes readable (edge-triggered):
  /// the store's notifications. Called before each wait, with the store's
  /// current descriptor (-1: none); a closed one is forgotten by itself.
  virtual void watch(int fd) {}
  /// Jobs started and not yet reported as exited.
  virtual size_t running() const = 0;
  /// Starts a readiness probe: "http://…" answers 2xx, "tcp://…" accepts.
  /// It is checked without blocking, and fails at `deadline_ms` (monotonic).
  virtual std::unique_ptr<Probe> probe(const std::string& url, int64_t deadline_ms) = 0;
};

} // namespace muster::exec

#pragma once
// The exec layer as the agent sees it: start a job, signal its process group,
// and wait for exits, signals and deadlines. The agent is tested against fakes
// of this interface.

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
  std::string stdout_path;      ///< where its stdout goes (truncated first)
  std::string stderr_path;
  uint64_t max_output = 0; ///< keep at most this many bytes (the tail) of each; 0: all
};

/// A job process that ended.
struct Exited {
  pid_t pid = 0;
  int status = 0; ///< as from waitpid
  uint64_t stdout_bytes = 0; ///< bytes kept; an empty file is removed
  uint64_t stderr_bytes = 0;
};

/// What one wait returned.
struct Events {
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
  /// Jobs started and not yet reported as exited.
  virtual size_t running() const = 0;
  /// A readiness probe: "http://…" answers 2xx, "tcp://…" accepts.
  virtual bool probe(const std::string& url, int timeout_ms) = 0;
};

} // namespace muster::exec

#pragma once
// Starting one process the way a job must start: in its own process group,
// with an empty signal mask and default dispositions, stdin from /dev/null,
// and SIGKILL as its parent-death signal, so it never outlives a killed muster.

#include "util/result.hpp"

#include <string>
#include <sys/types.h>

namespace muster::exec {

/// What to start. The arrays stay owned by the caller.
struct SpawnRequest {
  const char* path = nullptr; ///< the executable, already resolved
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1; ///< -1: /dev/null
  int stdout_fd = 1;
  int stderr_fd = 2;
  /// A cgroup's cgroup.procs: the child moves itself there before exec, so
  /// that everything it starts is born inside (-1: stay in muster's).
  int cgroup_procs = -1;
  /// stdin_fd is a terminal that becomes the child's controlling terminal:
  /// the child leads a new session (and so still its own process group).
  bool controlling_tty = false;
};

/// Starts the process. Its pid is also its process group id. A failure to
/// execute (no such file, not executable) is reported here, and the child is
/// reaped.
util::Result<pid_t> spawn(const SpawnRequest& request);

/// Finds `name` on `path_env` (colon-separated) like execvp does. Names with
/// a slash are returned as they are.
util::Result<std::string> resolve_executable(const std::string& name,
                                             const std::string& path_env);

} // namespace muster::exec

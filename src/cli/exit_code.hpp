#pragma once
// muster's exit codes, in one place. Documented in `muster --help` and the README.

#include <string>

namespace muster::cli {

enum class ExitCode : int {
  ok = 0,            ///< every job succeeded (or the command did what it was asked)
  jobs_failed = 1,   ///< the run ended and some jobs failed
  usage = 2,         ///< bad flags, input, config or store; nothing was changed
  busy = 3,          ///< the run cannot go on now: another live muster holds it, a lock
                     ///< it needs is held, or a rule halted it (with --no-wait)
  waiting = 4,       ///< every job left waits, for a limit's next window or for job locks
                     ///< other runs hold (with --no-wait)
  interrupted = 130, ///< stopped by SIGINT/SIGTERM/SIGHUP; the run can be resumed
};

inline int to_int(ExitCode c) { return static_cast<int>(c); }

/// An error that ends the command with `code`, caught once in main().
struct Failure {
  ExitCode code;
  std::string message;
};

} // namespace muster::cli

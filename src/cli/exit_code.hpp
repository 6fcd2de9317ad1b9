#pragma once
// muster's exit codes, in one place. Documented in `muster --help` and the README.

#include "util/result.hpp"

#include <string>
#include <string_view>

namespace muster::cli {

enum class ExitCode : int {
  ok = 0,            ///< every job succeeded (or the command did what it was asked)
  jobs_failed = 1,   ///< the run ended and some jobs failed
  usage = 2,         ///< bad flags, input or config, or no such run; nothing was changed
  busy = 3,          ///< the run cannot go on now: another live muster holds it, a lock
                     ///< it needs is held, or a rule halted it (with --no-wait)
  waiting = 4,       ///< every job left waits, for a limit's next window or for job locks
                     ///< other runs hold (with --no-wait)
  store = 5,         ///< the store could not be read or written: a full disk, a read-only
                     ///< or locked store, a damaged file; fix the disk, not the flags
  internal = 70,     ///< muster failed in a way no input explains (a bug, or the system)
  deadline = 124,    ///< --deadline passed: running jobs were stopped, the rest left
                     ///< pending; the run can be resumed
  interrupted = 130, ///< stopped by SIGINT/SIGTERM/SIGHUP; the run can be resumed
  output_closed = 141, ///< muster's stdout was closed (`| head`): it stopped claiming and
                       ///< drained, quietly; the run can be resumed
};

inline int to_int(ExitCode c) {
  return static_cast<int>(c);
}

/// The "Exit codes:" section of `command`'s --help: only the codes it can
/// return. For "" (muster --help, the man page), every code.
std::string exit_codes_help(std::string_view command);

/// The one mapping from an error's kind to the exit code it ends with.
constexpr ExitCode exit_code_for(util::ErrorKind kind) {
  switch (kind) {
  case util::ErrorKind::bad_input:
  case util::ErrorKind::not_found:
    return ExitCode::usage;
  case util::ErrorKind::busy:
    return ExitCode::busy;
  case util::ErrorKind::store_unavailable:
  case util::ErrorKind::disk_full:
  case util::ErrorKind::corrupt:
    return ExitCode::store;
  case util::ErrorKind::internal:
    return ExitCode::internal;
  }
  return ExitCode::internal;
}

/// An error that ends the command with `code`, caught once in main().
struct Failure {
  ExitCode code;
  std::string message;
};

/// The Failure an error ends the command with.
inline Failure failure(const util::Error& e) {
  return Failure{exit_code_for(e.kind), e.message};
}

} // namespace muster::cli

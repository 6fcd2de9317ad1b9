#pragma once
// What several subcommands share: opening the store, finding a run, and
// running an agent on it with the progress line.

#include "app/execute.hpp"
#include "app/store.hpp"
#include "cli/exit_code.hpp"
#include "cli/options.hpp"

#include <memory>
#include <string>

namespace muster::cli {

/// Unwraps a result, or throws the Failure its error's kind maps to.
template <typename T> T check(util::Result<T> r) {
  if (!r) {
    throw failure(r.error());
  }
  return std::move(*r);
}
inline void check(util::Result<void> r) {
  if (!r) {
    throw failure(r.error());
  }
}

/// Opens the store named by the global options; read-only commands pass
/// Access::read_only, and then work on a store this user cannot write.
std::unique_ptr<store::Store>
open_store(const GlobalOptions& g, store::Create create,
           store::Access access = store::Access::read_write);
/// Finds a run by id, prefix or name.
store::RunRecord find_run(store::Store& store, const std::string& ref);
/// The files of `run` in the store named by the global options.
core::RunFiles run_files(const GlobalOptions& g, const store::RunRecord& run);

/// Runs `run` with an agent in this process, with the progress line on
/// stderr, until it completes or is stopped; returns the exit code.
int execute(store::Store& store, const store::RunRecord& run, const GlobalOptions& g,
            app::ExecOptions e, const OutputFlags& output);

/// Prints "muster: waiting: LOCK" once, unless `quiet`.
app::LockWaiting lock_waiting(bool quiet);

} // namespace muster::cli

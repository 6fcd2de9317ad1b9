#pragma once
// What several subcommands share: opening the store, finding a run, and
// running an agent on it.

#include "cli/exit_code.hpp"
#include "agent/agent.hpp"
#include "cli/options.hpp"
#include "store/open.hpp"

#include <memory>
#include <string>

namespace muster::cli {

/// Opens the store named by the global options; throws Failure(usage).
std::unique_ptr<store::Store> open_store(const GlobalOptions& g, store::Create create);
/// Finds a run by id, prefix or name; throws Failure(usage).
store::RunRecord find_run(store::Store& store, const std::string& ref);
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

/// This process, as a run's holder.
store::Holder this_holder();
/// Whether a recorded holder still runs.
bool holder_alive(const store::Holder& h);

/// Runs `run` with an agent in this process until it completes or is
/// stopped; returns the exit code.
int execute(store::Store& store, const store::RunRecord& run,
            const GlobalOptions& g, const ExecOptions& e);

/// "lock src/a.py held by run 3f2e1d "Build frontend" since 10:02:11".
std::string describe_lock(const store::LockRecord& lock);
/// Returns when none of `names` is held by a live holder other than run
/// `rid` (0 for a run not created yet). Without `wait`, a held one throws
/// Failure(busy) that names its holder.
void wait_for_locks(store::Store& store, int64_t rid, const std::vector<std::string>& names,
                    bool wait, bool quiet);

/// The agent options for running `run` in this process.
agent::AgentOptions agent_options(const GlobalOptions& g, const store::RunRecord& run,
                                  int64_t slots);

/// Checks that every port of every slot can be bound; the error names the
/// slot, the port, and who holds it.
util::Result<void> ports_free(const std::vector<core::SlotPorts>& ports);

/// Throws Failure(usage) when the run has completed or was cancelled:
/// there is nothing to `what` (pause, join, ...).
void refuse_ended(const store::RunRecord& run, const std::string& what);

/// A control action by this process, now, for the run's event log.
store::Event make_event(const std::string& action, const std::string& detail);

/// The directory of a run's captured output.
std::string output_dir(const GlobalOptions& g, const store::RunRecord& run);

} // namespace muster::cli

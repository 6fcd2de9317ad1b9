#pragma once
// Running a run, or joining one, with an agent in this process.

#include "agent/agent.hpp"
#include "agent/reporter.hpp"
#include "app/locks.hpp"
#include "core/slots.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <string>
#include <vector>

namespace muster::app {

/// How `run_agent` runs an agent in this process.
struct ExecOptions {
  int64_t slots = 0; ///< 0: the run's own
  int64_t heartbeat_ms = core::k_default_heartbeat_ms;
  bool join = false;           ///< take a share of a run another agent holds
  bool stream_output = false;  ///< hand jobs' output to the reporter as it comes
  std::string tag;             ///< a template each started job's tag is rendered from
  agent::HaltOnFailure halt;   ///< --halt now|soon,fail=N
  double max_load = 0;         ///< --load
  uint64_t min_free_bytes = 0; ///< --memfree
  bool no_wait = false;
  bool wait_locks = false;
  int64_t deadline_ms = 0; ///< --deadline: 0 for none
  /// Settings the run takes once this agent holds it (Resumable::retuned).
  std::optional<core::RunSettings> retune;
};

/// How an agent's run ended.
struct RunOutcome {
  agent::AgentResult result;
  std::string waiting_reason; ///< Ending::waiting: why the first waiting job waits
};

/// Runs `run` in the store at `location` with an agent in this process
/// until it completes or is stopped. The live output goes to `reporter`.
/// A run held by another live agent, or a lock held elsewhere, is a busy
/// error that says what to do.
util::Result<RunOutcome> run_agent(store::Store& store, const std::string& location,
                                   const store::RunRecord& run, const ExecOptions& e,
                                   agent::Reporter& reporter,
                                   const LockWaiting& waiting = {});

/// The agent options for running `run` in this process.
agent::AgentOptions agent_options(const std::string& location,
                                  const store::RunRecord& run, int64_t slots);

/// Checks that every port of every slot can be bound; the error names the
/// slot, the port, and who holds it.
util::Result<void> ports_free(const std::vector<core::SlotPorts>& ports);

/// For a run whose agent is gone: tears its slots down here (and with
/// `cancel`, cancels what is unfinished).
util::Result<agent::AgentResult> teardown(store::Store& store,
                                          const std::string& location,
                                          const store::RunRecord& run, bool cancel);

} // namespace muster::app

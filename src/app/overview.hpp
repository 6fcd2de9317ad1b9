#pragma once
// Questions about one job or the store as a whole that change nothing (`why`,
// `workers`, `summary`), and `stop-all`, which asks this host's agents to stop.

#include "store/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace muster::app {

/// One thing that holds a job back, or that it is doing instead of running.
struct WhyReason {
  /// finished, running, held, retrying, waiting, halted, machine (an
  /// agent's --load or --memfree), no_agent, key_running, key_daily, lock or
  /// queued
  std::string kind;
  std::string text;   ///< as `why` prints it
  std::string key;    ///< the key limits: the job's key
  int64_t count = -1; ///< the key limits: what the key used; queued: the jobs ahead
  int64_t limit = -1; ///< the key limits: of this many
  int64_t until = 0;  ///< when it may lift (epoch ms); 0 when an event lifts it
  /// Who holds what it needs: the key's running jobs, or the lock's holder
  /// ("run 3f2e1d job 7").
  std::vector<std::string> holders;
};

/// Why a job is not running now, as `why` shows it.
struct WhyView {
  store::RunRecord run;
  store::JobRecord job;
  std::vector<WhyReason> reasons; ///< what holds it back now
  std::vector<std::string> notes; ///< what applies to it (limits, its lock)
};

/// Why job `job_id` of the run named by `ref` is not running at `now`; an
/// unknown run or job is a not_found error.
util::Result<WhyView> why(store::Store& store, const std::string& ref,
                          const std::string& job_id, int64_t now);

/// What a slot is, as `workers` shows it: what its agent last reported, or
/// offline when the agent is gone.
enum class WorkerState { idle, busy, starting, restarting, failed, retired, offline };
/// "idle", "busy", "starting", "restarting", "failed", "retired", "offline".
std::string_view to_string(WorkerState state);
std::optional<WorkerState> parse_worker_state(std::string_view text);

/// One slot of one agent, as `workers` shows it.
struct SlotView {
  store::AgentRecord agent;
  int64_t slot = 0; ///< -1 while the agent has not reported its slots
  WorkerState state = WorkerState::starting;
  std::string job;                            ///< busy: the job it runs
  int64_t since = 0;                          ///< busy: when that job started (epoch ms)
  std::optional<store::SidecarState> sidecar; ///< none before the first report
};

/// The slots of the agents of the run named by `ref` ("" for every run)
/// that are in `state` (any when none; starting includes restarting). For
/// every run, the agents of ended runs are left out unless `all`.
util::Result<std::vector<SlotView>> workers(store::Store& store, const std::string& ref,
                                            std::optional<WorkerState> state, int64_t now,
                                            bool all = false);

/// The store at a glance, as `summary` shows it.
struct StoreSummary {
  int64_t idle = 0;
  int64_t busy = 0;
  int64_t offline = 0;
  int64_t starting = 0;
  double utilisation = 0.0; ///< busy slots over idle and busy ones
  int64_t active_runs = 0;  ///< runs whose holder still runs
  int64_t total_runs = 0;
  core::Counts jobs;  ///< every run's jobs by state
  int64_t queued = 0; ///< pending, retrying and waiting jobs
};

/// Counts the store's slots, runs and jobs.
util::Result<StoreSummary> summary(store::Store& store, int64_t now);

/// What `stop_all()` did to one run or agent.
struct StopAction {
  /// What was done.
  enum class Kind {
    elsewhere,     ///< held by a live process on another host: left alone
    drained_run,   ///< its holder was sent SIGTERM
    drained_agent, ///< an agent that joined it was sent SIGTERM
    torn_down,     ///< its agent was gone; its slots were torn down here
  };
  Kind kind = Kind::drained_run;
  store::RunRecord run; ///< for a joined agent: its run id, the agent as holder
};

/// Sends SIGTERM (the drain signal) to every live holder and joined agent of
/// this store on this host, and tears down the slots of runs whose agent
/// died. Returns what it did, in order; `done`, when given, hears of each
/// action as it happens, so a caller can report it before a later one fails.
util::Result<std::vector<StopAction>>
stop_all(store::Store& store, const std::string& location,
         const std::function<void(const StopAction&)>& done = {});

/// Waits for the processes `stop_all()` signalled to end, each for its grace
/// times and 30s more; returns the first that did not, or nothing.
std::optional<StopAction> wait_stopped(const std::vector<StopAction>& actions);

} // namespace muster::app

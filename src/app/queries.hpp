#pragma once
// Questions about runs that change nothing: a run with its counts, its jobs
// and its event log.

#include "store/store.hpp"
#include "util/result.hpp"

#include <set>
#include <string>
#include <vector>

namespace muster::app {

/// A run as `status` shows it: the record and its jobs' counts by state.
struct RunStatus {
  store::RunRecord run;
  core::Counts counts;
};

/// The run named by `ref`, with its counts.
util::Result<RunStatus> run_status(store::Store& store, const std::string& ref);

/// What `status` shows of one run.
struct StatusView {
  store::RunRecord run;
  core::Counts counts;
  bool agent_alive = false;              ///< its holder, or another agent, still runs
  std::set<int64_t> live_agents;         ///< the ids of its agents that still run
  std::vector<store::JobRecord> running; ///< its running jobs
  std::vector<store::JobRecord> waiting; ///< the first `shown` waiting jobs
};

/// The run named by `ref` ("" for the newest in the store at `location`).
util::Result<StatusView> status(store::Store& store, const std::string& location,
                                const std::string& ref, int64_t shown = 3);

/// One row of `list`.
struct RunSummary {
  store::RunRecord run;
  core::Counts counts;
  bool agent_alive = false; ///< its holder, or another agent, still runs
};

/// The runs, oldest first: those in `state` ("" for all), the newest
/// `limit` (< 0 for all).
util::Result<std::vector<RunSummary>> list_runs(store::Store& store,
                                                const std::string& state, int64_t limit);

/// Where one job's captured output is.
struct JobOutput {
  store::RunRecord run;
  store::JobRecord job;
  std::string stdout_path; ///< absent when the job wrote nothing there
  std::string stderr_path;
  std::string cut_path; ///< present when the files were cut to their tails
};

/// The output files of job `job_id` of the run named by `ref`.
util::Result<JobOutput> job_output(store::Store& store, const std::string& location,
                                   const std::string& ref, const std::string& job_id);

/// Where one slot's log is.
struct SlotLog {
  store::RunRecord run;
  std::string path;
};

/// The log of slot `slot` of the run named by `ref`; a not_found error when
/// that slot never wrote one.
util::Result<SlotLog> slot_log(store::Store& store, const std::string& location,
                               const std::string& ref, int64_t slot);

/// Deletes the finished runs (and their files) last changed more than
/// `days` ago whose agent is gone; with `dry_run`, only says which.
util::Result<std::vector<store::RunRecord>>
cleanup(store::Store& store, const std::string& location, double days, bool dry_run);

/// The run's jobs that pass `filter`, in input order.
util::Result<std::vector<store::JobRecord>>
jobs(store::Store& store, const std::string& ref, const store::JobFilter& filter = {});

/// The jobs as `muster jobs` shows them: with whose agents still run.
struct JobsView {
  std::vector<store::JobRecord> jobs;
  std::set<int64_t> live_agents;
  /// Whether the agent of running job `j` still runs.
  bool agent_alive(const store::JobRecord& j) const {
    return live_agents.count(j.agent) > 0;
  }
};
util::Result<JobsView> jobs_view(store::Store& store, const std::string& ref,
                                 const store::JobFilter& filter);

/// The run's control actions, oldest first.
util::Result<std::vector<store::Event>> events(store::Store& store,
                                               const std::string& ref);

} // namespace muster::app

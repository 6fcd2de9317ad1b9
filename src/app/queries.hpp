#pragma once
// Questions about runs that change nothing: a run with its counts, its jobs
// and its event log.

#include "store/store.hpp"
#include "util/result.hpp"

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

/// The run's jobs that pass `filter`, in input order.
util::Result<std::vector<store::JobRecord>>
jobs(store::Store& store, const std::string& ref, const store::JobFilter& filter = {});

/// The run's control actions, oldest first.
util::Result<std::vector<store::Event>> events(store::Store& store,
                                               const std::string& ref);

} // namespace muster::app

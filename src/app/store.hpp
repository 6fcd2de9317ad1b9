#pragma once
// Opening a store and finding its runs: what every call of the app layer
// starts with.

#include "core/run_files.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <memory>
#include <set>
#include <string>

namespace muster::app {

/// Where commands find the store when neither --store nor $MUSTER_STORE names
/// one, as git finds `.git`: the nearest `.muster` that holds a store, in this
/// directory or one above it ("../.muster"); `.muster` here when there is
/// none. The search does not enter a directory listed in $MUSTER_CEILING_DIRS
/// (absolute paths, colon-separated) or any above it, as git's
/// GIT_CEILING_DIRECTORIES.
std::string default_store_location();

/// The mode of what a writer creates in a store: directories get `mode`,
/// files get it without execute bits. 0700 unless this is called (--store-mode).
void set_store_mode(unsigned mode);
/// Parses a store mode: octal, such as 0750; it must give its owner rwx.
util::Result<unsigned> parse_store_mode(const std::string& text);

/// Opens the store at `location` (a directory, `sqlite:DIR`, ...). Opening it
/// for writing sets this process's umask to the store mode, so that every
/// file muster creates in it gets that mode; the jobs it starts keep the
/// user's umask.
util::Result<std::unique_ptr<store::Store>>
open_store(const std::string& location, store::Create create,
           store::Access access = store::Access::read_write);
/// Checks every page of the store at `location`, reading only. A file so
/// damaged that it does not open is a report with that one problem.
util::Result<store::CheckReport> check_store(const std::string& location);

/// Finds a run by id, prefix or name; a not_found error names what was asked.
util::Result<store::RunRecord> find_run(store::Store& store, const std::string& ref);
/// The files of `run_id` for a store at `location`.
core::RunFiles run_files(const std::string& location, const std::string& run_id);

/// This process, as a run's holder or an agent.
store::Holder this_holder();
/// Whether a recorded holder still runs.
bool holder_alive(const store::Holder& h);
/// Whether an agent is gone: marked offline, or recorded as running while its
/// process is dead on this host or its heartbeats stopped (three intervals).
bool agent_gone(const store::AgentRecord& a, int64_t now_ms);
/// The ids of the run's agents that still run (any run's when `rid` is 0).
util::Result<std::set<int64_t>> live_agents(store::Store& store, int64_t rid);
/// How views show a run's state: "running", or "running (agent gone)" when
/// no live agent runs it although it is running or has running jobs.
std::string shown_state(const store::RunRecord& run, const core::Counts& counts,
                        bool agent_alive);

/// A control action by this process, now, for the run's event log.
store::Event make_event(const std::string& action, const std::string& detail);

/// Fails with a bad_input error when the run has completed or was
/// cancelled: there is nothing to `what` (pause, join, ...).
util::Result<void> refuse_ended(const store::RunRecord& run, const std::string& what);

} // namespace muster::app

#pragma once
// Creating a run: everything is checked first (settings, templates, every
// input row), then the run and all its jobs are one transaction.

#include "app/locks.hpp"
#include "app/rows.hpp"
#include "core/run.hpp"
#include "core/slots.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace muster::app {

/// Where a new run's rows come from.
struct RunInputs {
  std::vector<std::string> files;               ///< none: stdin (unless `groups`)
  std::string format;                           ///< "" to go by each file's name
  std::vector<std::vector<std::string>> groups; ///< the `:::` argument groups
  std::vector<bool> linked; ///< per group: `:::+`, linked to the one before
  std::string json_path;    ///< --json-path: the array of rows in a JSON input
};

/// Checks the slots' hooks against what the slots own, and lays out each
/// slot's ports.
util::Result<std::vector<core::SlotPorts>> plan_slots(const core::RunSettings& s);

/// Parses and checks the command and the other job templates.
util::Result<JobTemplates> check_templates(const core::RunSettings& s);

/// Reads every row as a run would, with ids checked in memory, and checks
/// that the slots' ports are free; touches no store. Returns the job count.
/// With `each`, also hands over each job's argv as its first attempt would
/// run it (--dry-run); the ports are not checked then.
util::Result<int64_t>
validate_rows(const core::RunSettings& s, const JobTemplates& templates,
              const RunInputs& inputs,
              const std::function<void(const std::vector<std::string>& argv)>& each = {});

/// How `create_run` treats the run's locks.
struct CreateOptions {
  bool check_ports = true; ///< refuse when a slot's port is taken
  bool check_locks = true; ///< refuse (or wait) when a run lock is held
  bool wait_locks = false;
  LockWaiting waiting;
};

/// Creates run `name` ("" for none) with jobs made from `inputs`, in the
/// store at `location` (made when missing). On any error nothing is left
/// behind, not even a store that this call made.
util::Result<store::RunRecord>
create_run(const std::string& location, const std::string& name,
           core::RunSettings settings, const JobTemplates& templates,
           const RunInputs& inputs, const CreateOptions& opts);

/// The run named `name` when one exists in the store at `location`.
util::Result<std::optional<store::RunRecord>> find_named(const std::string& location,
                                                         const std::string& name);

/// What a re-run of an existing run may change: the settings to apply once
/// it is held, and their description for the user.
struct Resumable {
  std::optional<core::RunSettings> retuned; ///< nullopt: nothing changes
  std::string applied; ///< such as "--retries 3 (was 1), --timeout 5s (was none)"
};

/// Whether the existing run named `name` may go on as `wanted` asks: the same
/// command, and of the settings whose flags were `given`, only those that are
/// safe to change under a run (attempts, timeouts, graces, backoff, the stored
/// output's cap) differ. Those are applied; any other change is refused with
/// a message, never ignored.
util::Result<Resumable> check_resumable(const store::RunRecord& run,
                                        const std::string& name,
                                        const core::RunSettings& wanted,
                                        const std::set<std::string>& given);

/// Applies `settings` (Resumable::retuned) now, to a run that no live agent
/// holds; a busy error when one does, as it runs with the old ones. An agent
/// that is to run the run applies them itself (ExecOptions::retune).
util::Result<void> retune_idle(store::Store& store, const store::RunRecord& run,
                               const core::RunSettings& settings);

} // namespace muster::app

#pragma once
// What `export` writes of a run: its input columns and, for each job, the
// job with its input row decoded, the command it ran and the size of its
// output. The formats themselves (CSV, JSON Lines, a joblog) are the caller's.

#include "store/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace muster::app {

/// A run to export, with its input's column names: the run's own, or those
/// of its first row (1, 2, ... for a row without names).
struct ExportRun {
  store::RunRecord run;
  std::vector<std::string> columns;
};

/// The run named by `ref`, with its columns; its command must parse.
util::Result<ExportRun> export_run(store::Store& store, const std::string& ref);

/// One job as `export` sees it. The references live for one call of the
/// callback only.
struct ExportRow {
  const store::JobRecord& job;
  const std::vector<std::string>& names; ///< the row's field names; empty for a plain row
  const std::vector<std::string>& values; ///< the row's field values
  std::string command;      ///< rendered, for a finished job, with `commands`
  int64_t stdout_bytes = 0; ///< the size of its captured stdout, with `commands`
};

/// Calls `each` for every job of `run` in input order. With `commands`, a
/// job that succeeded or failed also gets its command and output size.
util::Result<void> export_rows(store::Store& store, const std::string& location,
                               const store::RunRecord& run, bool commands,
                               const std::function<void(const ExportRow&)>& each);

} // namespace muster::app

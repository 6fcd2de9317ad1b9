#pragma once
// From input rows to jobs: `run` makes a run's jobs this way, and `add`
// appends more to a run the same way, with the run's own templates.

#include "core/run.hpp"
#include "core/template.hpp"
#include "input/reader.hpp"
#include "store/store.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace muster::app {

/// The rows of one or more inputs: open readers and what they name.
struct Rows {
  std::vector<std::unique_ptr<input::Reader>> readers;
  std::vector<std::string> labels; ///< file names for messages
  std::vector<std::string> columns;
  /// "FILE:LINE:1: " of the first input's header row (CSV, TSV); "" when none.
  std::string header_where;
  input::Format format = input::Format::lines;
  size_t field_count = 1;     ///< for unnamed rows
  bool per_row_names = false; ///< JSON Lines and JSON: names come with each row
};

/// Opens `inputs` (stdin when none), or the `:::` groups. `json_path` is
/// --json-path, for JSON inputs.
util::Result<Rows> open_rows(const std::vector<std::string>& inputs,
                             const std::string& format, const std::string& json_path,
                             std::vector<std::vector<std::string>> groups,
                             std::vector<bool> linked = {});

/// The templates that make a job of a row.
struct JobTemplates {
  core::Template command;
  std::optional<core::Template> key;
  std::optional<core::Template> priority;
  std::vector<core::Template> job_locks;
  std::optional<core::Template> before_job; ///< slots.before_job and after_job, per job
  std::optional<core::Template> after_job;
  std::string id_column;
  /// Parses the run's templates.
  static util::Result<JobTemplates> parse(const core::RunSettings& s);
};

/// Yields jobs from rows, numbering them after `first_seq`.
class JobSource {
public:
  JobSource(const JobTemplates& templates, Rows rows, int64_t first_seq);
  /// Checks every template, and the id column, against the inputs' fields,
  /// where the inputs name them up front.
  util::Result<void> check_fields() const;
  /// The next job; false at the end. An error names the file, line and column.
  util::Result<bool> next(store::NewJob& job);
  const std::vector<std::string>& columns() const { return m_rows.columns; }
  const std::vector<std::string>& labels() const { return m_rows.labels; }
  int64_t count() const { return m_seq - m_first_seq; }

private:
  util::Result<void> check_row(const std::vector<std::string>& names, size_t count,
                               const std::string& where) const;
  const JobTemplates& m_t;
  Rows m_rows;
  size_t m_current = 0;
  int64_t m_first_seq = 0;
  int64_t m_seq = 0;
  input::Record m_rec;
};

} // namespace muster::app

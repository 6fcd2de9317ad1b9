#pragma once
// The store: where all state lives. The agent keeps nothing a crash could lose.
// Every method is one transaction.

#include "core/job.hpp"
#include "core/run.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace muster::store {

/// Who holds a run: one agent process.
struct Holder {
  int64_t pid = 0;
  std::string host;
  int64_t start_time = 0; ///< the process's start time (guards against pid reuse)
  int64_t heartbeat_at = 0;
  bool empty() const { return pid == 0; }
};

/// A run as stored.
struct RunRecord {
  int64_t rid = 0;  ///< internal row id
  std::string id;   ///< short public id
  std::string name; ///< "" when none
  core::RunState state = core::RunState::created;
  core::RunSettings settings;
  std::vector<std::string> columns; ///< input field names, when the input names them
  int64_t total = 0;
  std::string input_digest; ///< identifies the command and rows it was made from
  int64_t created_at = 0;
  int64_t updated_at = 0;
  double rate = 0; ///< jobs/s the holder last reported
  Holder holder;
};

/// A job as stored.
struct JobRecord {
  int64_t jid = 0; ///< internal row id; orders jobs as in their input
  int64_t seq = 0; ///< 1-based position among the run's rows
  std::string id;
  std::string key;
  std::string fields; ///< JSON: an array of values, or an object of name → value
  std::string raw;    ///< the record's text, which {} stands for
  core::JobState state = core::JobState::pending;
  int64_t attempts = 0;
  int64_t interrupts = 0; ///< attempts that were interrupted (they do not count)
  int64_t max_attempts = 1;
  std::optional<int64_t> exit_code;
  std::optional<int64_t> signal;
  std::string error;
  std::string error_type;
  std::optional<int64_t> slot;
  std::optional<int64_t> pid;
  std::optional<int64_t> pgid;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int64_t retry_at = 0;
};

/// A job to create.
struct NewJob {
  std::string id;
  std::string key;
  std::string fields;
  std::string raw;
  std::string where; ///< "FILE:LINE", for error messages
};

/// A job this agent has claimed; its claim is committed.
struct Claim {
  int64_t jid = 0;
  std::string id;
  std::string key;
  std::string fields;
  std::string raw;
  int64_t attempt = 1;    ///< this attempt's number
  int64_t interrupts = 0; ///< earlier attempts that were interrupted
  int64_t max_attempts = 1;
  int64_t seq = 0;
  core::JobState from = core::JobState::pending; ///< pending, or retrying
  int64_t slot = 0;
};

/// A change to a claimed job, applied in the next commit.
struct Update {
  enum class Kind { started, finished };
  Kind kind = Kind::finished;
  int64_t jid = 0;
  int64_t pid = 0; ///< the process (and group) id; 0 if it never started
  core::JobState state = core::JobState::succeeded; ///< finished: the new state
  core::Outcome outcome;
  int64_t finished_at = 0;
  int64_t retry_at = 0;
};

/// A job whose agent died while it ran.
struct Orphan {
  int64_t jid = 0;
  std::string id;
  std::optional<int64_t> pgid;
  int64_t started_at = 0;
};

/// What taking a run over found.
struct Takeover {
  RunRecord run;
  std::vector<Orphan> orphans;  ///< jobs left `running` by a dead holder
  std::optional<Holder> held_by; ///< set, and nothing changed, when a live agent holds it
};

/// Filters for job listings.
struct JobFilter {
  std::optional<core::JobState> state;
  std::optional<std::string> id;
  int64_t limit = -1;
};

/// What `muster retry` moves back to pending.
struct RetrySelection {
  bool failed = false;
  bool interrupted = false;
  std::optional<std::string> job_id;
};

/// Storage of runs and jobs. SQLite now; PostgreSQL later.
class Store {
public:
  virtual ~Store() = default;

  /// Creates `run` and its jobs in one transaction. `next` yields jobs until it
  /// returns false; an error from it, or a duplicate id, rolls everything back.
  /// Fills in run.rid, run.id and run.total.
  virtual util::Result<void>
  create_run(RunRecord& run, const std::function<util::Result<bool>(NewJob&)>& next) = 0;

  /// Finds a run by id, unique id prefix or name; nullopt-like error when none.
  virtual util::Result<RunRecord> find_run(const std::string& ref) = 0;
  /// The newest run, if any.
  virtual util::Result<std::optional<RunRecord>> latest_run() = 0;
  virtual util::Result<std::vector<RunRecord>> list_runs() = 0;
  virtual util::Result<core::Counts> counts(int64_t rid) = 0;
  virtual util::Result<std::vector<JobRecord>> jobs(int64_t rid, const JobFilter& filter) = 0;
  /// Calls `fn` for each job in input order, without holding them all.
  virtual util::Result<void> each_job(int64_t rid,
                                      const std::function<void(const JobRecord&)>& fn) = 0;

  /// Makes `me` the run's holder, unless a live agent holds it (`is_alive`
  /// decides). Jobs a dead holder left running are returned as orphans and
  /// moved per on_interrupt: requeue → pending, hold → interrupted. With
  /// requeue, interrupted jobs go back to pending too.
  virtual util::Result<Takeover>
  acquire(int64_t rid, const Holder& me, const std::function<bool(const Holder&)>& is_alive) = 0;
  /// Applies `updates`, then claims up to `free_slots.size()` due jobs for
  /// those slots, all in one transaction. Returns the claims in slot order.
  virtual util::Result<std::vector<Claim>> commit(int64_t rid, const std::vector<Update>& updates,
                                                  const std::vector<int64_t>& free_slots,
                                                  int64_t now_ms) = 0;
  /// The earliest retry_at among retrying jobs, or 0.
  virtual util::Result<int64_t> next_retry_at(int64_t rid) = 0;
  /// Records liveness and the current rate.
  virtual util::Result<void> heartbeat(int64_t rid, const Holder& me, double rate) = 0;
  /// Gives the run up, leaving it in `state`.
  virtual util::Result<void> release(int64_t rid, core::RunState state) = 0;
  /// Moves the selected jobs back to pending with a fresh set of attempts.
  /// Returns how many moved.
  virtual util::Result<int64_t> retry(int64_t rid, const RetrySelection& sel) = 0;
  virtual util::Result<void> set_run_state(int64_t rid, core::RunState state) = 0;
};

} // namespace muster::store

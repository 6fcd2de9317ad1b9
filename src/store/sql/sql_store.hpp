#pragma once
// The store on a SQL database: every method of the Store contract, in SQL
// that both engines run (store/sqlite/, store/postgres/ open the
// connection and keep the schema).

#include "core/limits.hpp"
#include "store/sql/claims.hpp"
#include "store/sql/control.hpp"
#include "store/sql/db.hpp"
#include "store/sql/limits.hpp"
#include "store/sql/locks.hpp"
#include "store/sql/results.hpp"
#include "store/store.hpp"
#include "util/timezone.hpp"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace muster::store::sql {

/// Store backed by a SQL database. Not thread-safe: one per thread.
class SqlStore final : public Store {
public:
  /// The store on `db`, whose schema is current; runs' files live under
  /// `files_dir`.
  static util::Result<std::unique_ptr<SqlStore>> make(Db db, std::string files_dir);
  ~SqlStore() override;

  util::Result<void> set_durability(Durability d) override;
  util::Result<void> listen(int64_t rid) override { return m_db.listen(rid); }
  int wake_fd() const override { return m_db.connection().wake_fd(); }
  util::Result<void> limit_idle_transactions(int64_t ms) override {
    return m_db.connection().limit_idle_transactions(ms);
  }
  bool changed() override { return m_db.connection().take_notifications(); }
  util::Result<CheckReport> check() override;
  const std::string& dir() const { return m_dir; }
  /// The statements an agent runs per job or per turn (claims, results,
  /// limits, locks, control), so that tests can check their query plans:
  /// none may scan a run's jobs (invariant 7).
  const std::vector<std::string>& per_turn_sql() const { return m_per_turn_sql; }
  Db& db() { return m_db; }

  util::Result<void>
  create_run(RunRecord& run,
             const std::function<util::Result<bool>(NewJob&)>& next) override;
  util::Result<void> import_run(RunRecord& run,
                                const std::function<util::Result<bool>(JobRecord&)>& next,
                                const std::vector<Event>& events) override;
  util::Result<RunRecord> find_run(const std::string& ref) override;
  util::Result<std::optional<RunRecord>> latest_run() override;
  util::Result<std::vector<RunRecord>> list_runs() override;
  util::Result<core::Counts> counts(int64_t rid) override;
  util::Result<std::vector<JobRecord>> jobs(int64_t rid,
                                            const JobFilter& filter) override;
  util::Result<void> each_job(int64_t rid,
                              const std::function<void(const JobRecord&)>& fn) override;
  util::Result<Takeover>
  acquire(int64_t rid, const Holder& me,
          const std::function<bool(const Holder&)>& is_alive) override;
  util::Result<CommitResult> record(int64_t rid, const std::vector<Update>& updates,
                                    int64_t now_ms, int64_t aid = 0) override;
  util::Result<CommitResult> claim(int64_t rid, const std::vector<int64_t>& free_slots,
                                   int64_t now_ms, int64_t aid = 0) override;
  util::Result<CommitResult> commit(int64_t rid, const std::vector<Update>& updates,
                                    const std::vector<int64_t>& free_slots,
                                    int64_t now_ms, int64_t aid = 0) override;
  util::Result<Takeover>
  join(int64_t rid, const Holder& me,
       const std::function<bool(const Holder&)>& is_alive) override;
  util::Result<std::vector<int64_t>>
  take_slots(int64_t rid, int64_t aid, const std::string& host, int64_t n) override;
  util::Result<Beat> beat(int64_t rid, int64_t aid, double rate,
                          const std::vector<SlotReport>& slots, int64_t now_ms,
                          int64_t lease_ms) override;
  util::Result<std::vector<Orphan>>
  recover(int64_t rid, int64_t me, const std::function<bool(const Holder&)>& is_alive,
          int64_t now_ms) override;
  util::Result<void> stop_agent(int64_t aid, int64_t now_ms) override;
  util::Result<std::vector<AgentRecord>> agents(int64_t rid) override;
  util::Result<void> delete_run(int64_t rid) override;
  util::Result<int64_t> next_retry_at(int64_t rid) override;
  util::Result<void> release(int64_t rid, core::RunState state) override;
  util::Result<int64_t> retry(int64_t rid, const RetrySelection& sel,
                              const EventFor& event) override;
  util::Result<void> set_run_state(int64_t rid, core::RunState state) override;
  util::Result<void> retune(int64_t rid, const core::RunSettings& settings) override;
  util::Result<Control> control(int64_t rid) override;
  util::Result<void> set_control(int64_t rid, const ControlChange& change,
                                 const Event& event) override;
  util::Result<void> add_event(int64_t rid, const Event& event) override;
  bool keeps_output() const override { return m_db.dialect() == Dialect::postgres; }
  util::Result<std::optional<StoredOutput>> stored_output(int64_t jid) override;
  util::Result<std::vector<std::pair<std::string, StoredOutput>>>
  stored_outputs(int64_t rid) override;
  util::Result<void>
  keep_outputs(int64_t rid,
               const std::vector<std::pair<std::string, StoredOutput>>& outputs) override;
  util::Result<void> keep_slot_logs(int64_t rid,
                                    const std::vector<StoredSlotLog>& logs) override;
  util::Result<std::vector<StoredSlotLog>> stored_slot_logs(int64_t rid,
                                                            int64_t slot) override;
  util::Result<std::vector<Event>> events(int64_t rid) override;
  util::Result<int64_t> add_jobs(int64_t rid,
                                 const std::function<util::Result<bool>(NewJob&)>& next,
                                 const EventFor& event) override;
  util::Result<int64_t> cancel_rest(int64_t rid, int64_t now_ms) override;
  util::Result<std::vector<LockRecord>> locks() override;
  util::Result<std::optional<LockRecord>>
  take_locks(const LockRequest& request, int64_t now_ms,
             const std::function<bool(const Holder&)>& is_alive) override;
  util::Result<Unlocked> drop_locks(const std::vector<std::string>& names,
                                    const std::string& owner, int64_t now_ms) override;
  util::Result<void>
  free_gone_locks(int64_t now_ms,
                  const std::function<bool(const Holder&)>& is_alive) override;
  util::Result<std::optional<LockRecord>>
  lock_conflict(const std::vector<std::string>& names, int64_t rid,
                const std::function<bool(const Holder&)>& is_alive) override;
  util::Result<KeyUsage> key_usage(int64_t rid, const std::string& key,
                                   core::LimitScope scope, int64_t window_start) override;

private:
  /// What a run's claims must respect; read once per run.
  struct RunLimits {
    core::Limits limits;
    util::TimeZone zone; ///< limits.timezone, loaded once
    bool job_locks = false;
  };
  util::Result<const RunLimits*> run_limits(int64_t rid);
  /// Who a commit's claims and results belong to.
  struct Owner {
    std::optional<int64_t> aid;         ///< the committing agent (NULL for none)
    std::optional<int64_t> lease_until; ///< its claims' lease
    std::string host;                   ///< its host, recorded with each claim
  };
  util::Result<Owner> owner_of(int64_t aid, int64_t now_ms);
  /// The statement that `make(rows)` writes, prepared once for each `kind`
  /// and number of rows.
  util::Result<Statement*> batched(int kind, int rows, std::string (*make)(int rows));
  /// Claims `claims` (their slots set) for `owner` in one statement per 64.
  util::Result<void> claim_all(const std::vector<Claim*>& claims, const Owner& owner,
                               int64_t now_ms);
  /// Applies the started updates and the plain results (no key, lock, halt,
  /// block or output) of `updates` in one statement per 64 of each; the rest
  /// stay in `rest`, for apply_update.
  util::Result<void> apply_plain(int64_t rid, const std::vector<Update>& updates,
                                 const Owner& owner, int64_t now_ms, CommitResult& out,
                                 std::vector<const Update*>& rest);
  /// Records that `u`, a result of an agent that no longer owns its job, was
  /// ignored.
  util::Result<void> ignore_result(int64_t rid, const Update& u, const Owner& owner,
                                   int64_t now_ms, CommitResult& out);
  /// record, claim and commit: updates, then claims, in one transaction.
  util::Result<CommitResult> in_tx(int64_t rid, const std::vector<Update>& updates,
                                   const std::vector<int64_t>& free_slots, int64_t now_ms,
                                   int64_t aid);
  util::Result<void> record_in_tx(int64_t rid, const std::vector<Update>& updates,
                                  const RunLimits& rl, const Owner& owner, int64_t now_ms,
                                  CommitResult& out);
  util::Result<void> claim_in_tx(int64_t rid, const std::vector<int64_t>& free_slots,
                                 const RunLimits& rl, const Owner& owner, int64_t now_ms,
                                 CommitResult& out);
  /// Steps a one-value query: its first column, or 0 when no row.
  util::Result<int64_t> scalar(Statement& st);
  util::Result<void> apply_update(int64_t rid, const Update& u, const RunLimits& rl,
                                  const Owner& owner, int64_t now_ms, CommitResult& out);
  /// Moves up to `n` jobs waiting on `key` back to pending.
  util::Result<void> promote_key(int64_t rid, const std::string& key, int64_t n,
                                 bool include_timed, CommitResult& out);
  /// Whether `lock` still holds its name. A lock whose run's agent is gone,
  /// or a lock of `muster lock` past its expiry or whose process is gone, is
  /// freed on the way (and its waiters woken).
  util::Result<bool> still_held(const LockRecord& lock, int64_t now_ms,
                                const std::function<bool(const Holder&)>& is_alive);
  /// Wakes the first job waiting on `name`, in any run; returns its run.
  util::Result<std::optional<int64_t>> wake_lock_waiter(const std::string& name);
  /// Frees `name` and wakes the first job waiting on it.
  util::Result<void> free_lock(const std::string& name);
  /// The key's running jobs, and its count in the window at `window_start`:
  /// of run `rid`, or of the whole store.
  util::Result<int64_t> key_running(int64_t rid, const std::string& key,
                                    core::LimitScope scope);
  util::Result<int64_t> key_counted(int64_t rid, const std::string& key,
                                    core::LimitScope scope, int64_t window_start);
  /// Why `c` cannot be claimed now, and until when (0: until an event).
  util::Result<std::optional<core::Hold>> blocked(int64_t rid, const Claim& c,
                                                  const RunLimits& rl, int64_t now_ms,
                                                  const core::DayWindow& window);
  util::Result<void> hold_back(int64_t rid, const Claim& c, const core::Hold& hold,
                               CommitResult& out);
  util::Result<void> take(int64_t rid, Claim& c, int64_t slot, const RunLimits& rl,
                          const Owner& owner, const core::DayWindow& window,
                          int64_t now_ms);
  /// Inserts jobs after seq `first_seq`; returns how many.
  util::Result<int64_t>
  insert_jobs(int64_t rid, int64_t first_seq, int64_t max_attempts,
              const std::function<util::Result<bool>(NewJob&)>& next);
  /// insert_jobs' ways to write one chunk of rows, whose seqs follow
  /// first_seq: INSERTs, and COPY (which falls back to the INSERTs to name
  /// a duplicate id).
  /// The INSERTs insert_rows prepares once for all its chunks: of
  /// k_insert_batch rows, and of one for the last rows.
  struct Inserts {
    std::optional<Statement> batch;
    std::optional<Statement> single;
  };
  util::Result<void> insert_rows(int64_t rid, int64_t first_seq, int64_t max_attempts,
                                 std::vector<NewJob>& jobs, Inserts& inserts);
  util::Result<void> copy_rows(int64_t rid, int64_t first_seq, int64_t max_attempts,
                               std::vector<NewJob>& jobs, Inserts& inserts);
  /// Drops the locks of run `rid` (with `keep_running`, all but those of its
  /// running jobs), and lets the first waiter of each go.
  util::Result<void> release_locks(int64_t rid, bool keep_running);
  util::Result<std::vector<LockRecord>> query_locks(std::string_view where,
                                                    const std::string& name);
  util::Result<void> claim_limited(int64_t rid, const std::vector<int64_t>& free_slots,
                                   const RunLimits& rl, const Owner& owner,
                                   int64_t now_ms, CommitResult& out);
  SqlStore(Db db, std::string dir) : m_db(std::move(db)), m_dir(std::move(dir)) {}
  util::Result<void> prepare_statements();
  /// acquire and join: `join` adds an agent beside a live holder.
  util::Result<Takeover> take_run(int64_t rid, const Holder& me,
                                  const std::function<bool(const Holder&)>& is_alive,
                                  bool join);
  /// Marks the run's gone agents offline and recovers their jobs, locks and
  /// slots; with `unowned`, jobs no agent owns (an old holder's) too.
  util::Result<void> recover_in_tx(int64_t rid, const core::RunSettings& settings,
                                   int64_t me,
                                   const std::function<bool(const Holder&)>& is_alive,
                                   int64_t now_ms, bool unowned,
                                   std::vector<Orphan>& orphans);
  /// Marks a running agent `state` (stopped, offline) and frees its slot numbers.
  util::Result<void> end_agent(int64_t aid, AgentState state, int64_t now_ms);
  util::Result<int64_t> insert_agent(int64_t rid, const Holder& me, int64_t now_ms);
  /// What a commit needs to know of an agent, read once.
  struct AgentInfo {
    int64_t lease_ms = 0;
    std::string host;
  };
  util::Result<const AgentInfo*> agent_info(int64_t aid);
  util::Result<RunRecord> run_by_rid(int64_t rid);
  util::Result<std::vector<RunRecord>> query_runs(std::string_view where,
                                                  const std::string& arg);
  util::Result<void> claim_into(int64_t rid, Statement& select, int64_t limit,
                                const std::vector<int64_t>& free_slots,
                                const Owner& owner, size_t& next_slot, int64_t now_ms,
                                std::vector<Claim>& out);

  Db m_db;
  std::string m_dir;
  // Statements on the hot path, prepared once, by the part that runs them.
  ClaimStatements m_claims;
  ResultStatements m_results;
  LimitStatements m_limits;
  LockStatements m_locks;
  ControlStatements m_control;
  std::unordered_map<int64_t, int64_t>
      m_lock_sweep; ///< run → last wake of free-lock waiters
  std::unordered_map<int64_t, AgentInfo> m_agent_info;
  std::unordered_map<int64_t, RunLimits> m_run_limits;
  /// Statements of many rows at once (claims, starts, results), by kind
  /// and row count: see batched().
  std::map<std::pair<int, int>, Statement> m_batched;
  std::vector<std::string> m_per_turn_sql;
};

} // namespace muster::store::sql

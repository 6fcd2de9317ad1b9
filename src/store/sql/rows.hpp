#pragma once
// Rows as the backend reads them: the column lists it selects, the records
// they become, and the preparing of each part's statements.

#include "store/sql/db.hpp"
#include "store/store.hpp"

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace muster::store::sql {

inline constexpr std::string_view k_run_columns =
    "rid, id, name, state, settings, columns, total, created_at, updated_at, rate, "
    "holder_pid, holder_host, holder_start, heartbeat_at, resume_at, halt_reason";

inline constexpr std::string_view k_job_columns =
    "jid, seq, id, key, fields, raw, state, attempts, interrupts, max_attempts, "
    "exit_code, "
    "signal, error, error_type, slot, pid, pgid, started_at, finished_at, retry_at, "
    "priority, "
    "lock, reason, aid, halts, host";

/// The holder's four columns, starting at `first`.
Holder read_holder(const Statement& st, int first);
/// A row of k_run_columns.
util::Result<RunRecord> read_run(Statement& st);
/// A row of k_job_columns.
JobRecord read_job(const Statement& st);
/// A claim candidate: jid, id, key, fields, raw, attempts, interrupts,
/// max_attempts, seq, state, lock.
Claim read_claim(const Statement& row);

/// A job's locks as its `lock` column holds them: names joined by newlines
/// (a lock name has no control character), and back.
std::string join_locks(const std::vector<std::string>& names);
std::vector<std::string> split_locks(std::string_view column);

/// Prepares each statement once and adds its SQL to `sql` (the per-turn
/// list whose query plans the tests check).
util::Result<void>
prepare_all(Db& db, std::vector<std::string>& sql,
            std::initializer_list<std::pair<Statement*, std::string>> items);

} // namespace muster::store::sql

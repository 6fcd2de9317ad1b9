// Batches: a turn's claims, starts and plain results, many rows to a
// statement (UPDATE … FROM (VALUES …), on both engines), so that a turn
// costs a few round trips to a server whatever its number of jobs.

#include "store/sql/results.hpp"
#include "store/sql/sql_store.hpp"

namespace muster::store::sql {

namespace {

// The most rows in one statement.
constexpr size_t k_batch_rows = 64;

enum Kind { claim_kind, start_kind, finish_kind };

// "(CAST(?p AS T1), CAST(?p+1 AS T2), …), (…)" for `rows` rows of `types`,
// from parameter `first`. The casts give PostgreSQL the columns' types.
std::string values(int rows, std::initializer_list<const char*> types, int first) {
  std::string sql = "(VALUES ";
  int p = first;
  for (int r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    bool first_col = true;
    for (const char* t : types) {
      sql += (first_col ? "CAST(?" : ", CAST(?") + std::to_string(p++) + " AS " + t + ")";
      first_col = false;
    }
    sql += ")";
  }
  return sql + ") AS v";
}

// ?1 started_at, ?2 aid, ?3 lease_until, ?4 host; rows of (jid, slot).
std::string claim_sql(int rows) {
  return "UPDATE jobs SET state = 'running', attempts = attempts + 1, slot = v.column2, "
         "started_at = ?1, finished_at = NULL, pid = NULL, pgid = NULL, exit_code = "
         "NULL, "
         "signal = NULL, error = NULL, error_type = NULL, retry_at = 0, reason = NULL, "
         "aid = ?2, lease_until = ?3, host = nullif(?4, '') FROM " +
         values(rows, {"BIGINT", "BIGINT"}, 5) + " WHERE jobs.jid = v.column1";
}

// ?1 aid; rows of (jid, pid).
std::string start_sql(int rows) {
  return "UPDATE jobs SET pid = v.column2, pgid = v.column2 FROM " +
         values(rows, {"BIGINT", "BIGINT"}, 2) +
         " WHERE jobs.jid = v.column1 AND jobs.aid IS NOT DISTINCT FROM ?1";
}

// ?1 aid; rows of (jid, then bind_finish's nine).
std::string finish_sql(int rows) {
  return "UPDATE jobs SET state = v.column2, exit_code = v.column3, signal = v.column4, "
         "error = v.column5, error_type = v.column6, finished_at = v.column7, "
         "retry_at = v.column8, interrupts = interrupts + v.column9, "
         "pid = coalesce(v.column10, pid), pgid = coalesce(v.column10, pgid), "
         "reason = NULL, aid = NULL, lease_until = NULL FROM " +
         values(rows,
                {"BIGINT", "TEXT", "BIGINT", "BIGINT", "TEXT", "TEXT", "BIGINT", "BIGINT",
                 "BIGINT", "BIGINT"},
                2) +
         " WHERE jobs.jid = v.column1 AND jobs.state = 'running' AND "
         "jobs.aid IS NOT DISTINCT FROM ?1 RETURNING jid";
}

// A result that needs no more than its own row changed.
bool plain(const Update& u) {
  return u.kind == Update::Kind::finished && u.key.empty() && u.locks.empty() &&
         !u.block_key && u.halt_until == 0 && !u.output_kept;
}

} // namespace

util::Result<Statement*> SqlStore::batched(int kind, int rows,
                                           std::string (*make)(int rows)) {
  auto it = m_batched.find({kind, rows});
  if (it == m_batched.end()) {
    auto st = Statement::prepare(m_db, make(rows));
    if (!st) {
      return st.error();
    }
    it = m_batched.emplace(std::make_pair(kind, rows), std::move(*st)).first;
  }
  return &it->second;
}

util::Result<void> SqlStore::claim_all(const std::vector<Claim*>& claims,
                                       const Owner& owner, int64_t now_ms) {
  for (size_t at = 0; at < claims.size(); at += k_batch_rows) {
    const size_t n = std::min(k_batch_rows, claims.size() - at);
    auto st = batched(claim_kind, static_cast<int>(n), claim_sql);
    if (!st) {
      return st.error();
    }
    (*st)
        ->bind(1, now_ms)
        .bind(2, owner.aid)
        .bind(3, owner.lease_until)
        .bind(4, owner.host);
    for (size_t i = 0; i < n; ++i) {
      const Claim& c = *claims[at + i];
      const int p = 5 + 2 * static_cast<int>(i);
      (*st)->bind(p, c.jid).bind(p + 1, c.slot);
    }
    if (auto r = (*st)->run(); !r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqlStore::apply_plain(int64_t rid, const std::vector<Update>& updates,
                                         const Owner& owner, int64_t now_ms,
                                         CommitResult& out,
                                         std::vector<const Update*>& rest) {
  std::vector<const Update*> starts;
  std::vector<const Update*> results;
  for (const auto& u : updates) {
    if (u.kind == Update::Kind::started) {
      starts.push_back(&u);
    } else if (plain(u)) {
      results.push_back(&u);
    } else {
      rest.push_back(&u);
    }
  }
  for (size_t at = 0; at < starts.size(); at += k_batch_rows) {
    const size_t n = std::min(k_batch_rows, starts.size() - at);
    auto st = batched(start_kind, static_cast<int>(n), start_sql);
    if (!st) {
      return st.error();
    }
    (*st)->bind(1, owner.aid);
    for (size_t i = 0; i < n; ++i) {
      const int p = 2 + 2 * static_cast<int>(i);
      (*st)->bind(p, starts[at + i]->jid).bind(p + 1, starts[at + i]->pid);
    }
    if (auto r = (*st)->run(); !r) {
      return r;
    }
  }
  for (size_t at = 0; at < results.size(); at += k_batch_rows) {
    const size_t n = std::min(k_batch_rows, results.size() - at);
    auto st = batched(finish_kind, static_cast<int>(n), finish_sql);
    if (!st) {
      return st.error();
    }
    (*st)->bind(1, owner.aid);
    for (size_t i = 0; i < n; ++i) {
      const int p = 2 + 10 * static_cast<int>(i);
      (*st)->bind(p, results[at + i]->jid);
      bind_finish(**st, p + 1, *results[at + i]);
    }
    std::vector<int64_t> applied;
    if (auto r = (*st)->each([&](Statement& row) { applied.push_back(row.int64(0)); });
        !r) {
      return r;
    }
    if (applied.size() == n) {
      continue;
    }
    // Some were not this agent's any more: each is said so.
    for (size_t i = 0; i < n; ++i) {
      const Update& u = *results[at + i];
      if (std::find(applied.begin(), applied.end(), u.jid) == applied.end()) {
        if (auto r = ignore_result(rid, u, owner, now_ms, out); !r) {
          return r;
        }
      }
    }
  }
  return {};
}

} // namespace muster::store::sql

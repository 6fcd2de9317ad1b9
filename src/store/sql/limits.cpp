// Limits: counting a key's use; core decides what holds a job back.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<void> LimitStatements::prepare(Db& db, std::vector<std::string>& sql) {
  return prepare_all(
      db, sql,
      {
          {&count_key,
           "INSERT INTO key_counts (rid, key, window_start, n) VALUES (?1, ?2, ?3, 1) "
           "ON CONFLICT (rid, key, window_start) DO UPDATE SET n = key_counts.n + 1"},
          {&key_count,
           "SELECT n FROM key_counts WHERE rid = ?1 AND key = ?2 AND window_start = ?3"},
          {&key_running,
           "SELECT count(*) FROM jobs WHERE rid = ?1 AND key = ?2 AND state = 'running'"},
          // limit_scope = "store": the key's use by every run of the store.
          {&store_key_count,
           "SELECT coalesce(sum(n), 0) FROM key_counts WHERE key = ?1 AND "
           "window_start = ?2"},
          {&store_key_running, "SELECT count(*) FROM jobs WHERE key = ?1 AND state = "
                               "'running' AND key <> ''"},
          {&hold, "UPDATE jobs SET state = 'waiting', reason = ?1, retry_at = ?2 WHERE "
                  "jid = ?3"},
          // The key's jobs held as busy, once its daily cap holds it too.
          {&relabel_busy,
           "UPDATE jobs SET reason = ?1, retry_at = ?2 WHERE rid = ?3 AND "
           "key = ?4 AND state = 'waiting' AND retry_at = 0 AND "
           "substr(reason, 1, length(CAST(?5 AS TEXT))) = CAST(?5 AS TEXT)"},
      });
}

util::Result<int64_t> SqlStore::key_running(int64_t rid, const std::string& key,
                                            core::LimitScope scope) {
  if (scope == core::LimitScope::store) {
    return scalar(m_limits.store_key_running.bind(1, key));
  }
  return scalar(m_limits.key_running.bind(1, rid).bind(2, key));
}

util::Result<int64_t> SqlStore::key_counted(int64_t rid, const std::string& key,
                                            core::LimitScope scope,
                                            int64_t window_start) {
  if (scope == core::LimitScope::store) {
    return scalar(m_limits.store_key_count.bind(1, key).bind(2, window_start));
  }
  return scalar(m_limits.key_count.bind(1, rid).bind(2, key).bind(3, window_start));
}

util::Result<std::optional<core::Hold>> SqlStore::blocked(int64_t rid, const Claim& c,
                                                          const RunLimits& rl,
                                                          int64_t now_ms,
                                                          const core::DayWindow& window) {
  using Blocked = std::optional<core::Hold>;
  const auto& l = rl.limits;
  if (!c.key.empty() && (l.per_key > 0 || l.per_key_daily > 0)) {
    core::KeyUsage use;
    auto running = key_running(rid, c.key, l.scope);
    if (!running) {
      return running.error();
    }
    use.running = *running;
    // A key at its concurrency limit is held whatever its count says.
    if (l.per_key_daily > 0 && !(l.per_key > 0 && use.running >= l.per_key)) {
      auto counted = key_counted(rid, c.key, l.scope, window.start_ms);
      if (!counted) {
        return counted.error();
      }
      use.counted = *counted;
    }
    if (auto holds = core::key_holds(l, c.key, use, window, rl.zone); !holds.empty()) {
      return Blocked(std::move(holds.front()));
    }
  }
  // A job takes all its locks or none: the first one held keeps it waiting.
  for (const auto& name : c.locks) {
    if (auto r = m_locks.expire_lock.bind(1, name).bind(2, now_ms).run(); !r) {
      return r.error();
    }
    m_locks.lock_holder.bind(1, name);
    Blocked held;
    auto r = m_locks.lock_holder.each([&](Statement& row) {
      if (row.int64(4) == rid && row.is_null(5)) {
        return; // the run itself holds this name: its jobs may use it
      }
      const int64_t expires_at = row.optional_int64(7).value_or(0);
      held = core::Hold{core::describe_lock({name, row.text(0), row.text(1), row.text(2),
                                             row.int64(3), row.text(6), expires_at}),
                        0}; // freed by unlock, or by the sweep once it expires
    });
    if (!r) {
      return r.error();
    }
    if (held) {
      return held;
    }
  }
  return Blocked();
}

util::Result<void> SqlStore::hold_back(int64_t rid, const Claim& c,
                                       const core::Hold& hold, CommitResult& out) {
  if (auto r =
          m_limits.hold.bind(1, hold.reason).bind(2, hold.until).bind(3, c.jid).run();
      !r) {
    return r;
  }
  if (hold.kind == core::Hold::Kind::key_daily) {
    // The key's other jobs waited for a running one to end, and now wait
    // for the day to: they say so, and wake when it comes.
    if (auto r = m_limits.relabel_busy.bind(1, hold.reason)
                     .bind(2, hold.until)
                     .bind(3, rid)
                     .bind(4, c.key)
                     .bind(5, "key " + c.key + " busy:")
                     .run();
        !r) {
      return r;
    }
  }
  out.moved[c.from] -= 1;
  out.moved[core::JobState::waiting] += 1;
  return {};
}

util::Result<KeyUsage> SqlStore::key_usage(int64_t rid, const std::string& key,
                                           core::LimitScope scope, int64_t window_start) {
  const Doing doing(m_db, "count the key's use");
  KeyUsage u;
  auto running = key_running(rid, key, scope);
  if (!running) {
    return running.error();
  }
  u.running = *running;
  auto counted = key_counted(rid, key, scope, window_start);
  if (!counted) {
    return counted.error();
  }
  u.counted = *counted;
  return u;
}

} // namespace muster::store::sql

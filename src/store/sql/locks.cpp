// Locks: who holds a name, conflicts, and freeing them.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<void> LockStatements::prepare(Db& db, std::vector<std::string>& sql) {
  const std::string nl(db.newline());
  return prepare_all(
      db, sql,
      {
          {&unlock, "DELETE FROM locks WHERE jid = ?1 RETURNING name"},
          // The first waiter of a run that an agent runs: a run nobody runs would
          // leave the lock's other waiters asleep. Jobs with one lock are found
          // by it; jobs with several (their names joined by newlines) through
          // an index of their own, as they are few.
          {&promote_lock,
           "UPDATE jobs SET state = 'pending', reason = NULL WHERE jid = "
           "(SELECT jid FROM jobs WHERE state = 'waiting' AND lock = ?1 AND "
           "retry_at = 0 AND rid IN (SELECT rid FROM runs WHERE holder_pid IS NOT "
           "NULL) ORDER BY priority DESC, jid LIMIT 1) RETURNING rid"},
          {&promote_lock_of_many,
           "UPDATE jobs SET state = 'pending', reason = NULL WHERE jid = "
           "(SELECT jid FROM jobs " +
               db.indexed_by("jobs_waiting_locks") +
               " WHERE state = 'waiting' "
               "AND "
               "instr(lock, " +
               nl +
               ") > 0 "
               "AND instr(" +
               nl + " || lock || " + nl + ", " + nl + " || ?1 || " + nl +
               ") > 0 AND "
               "retry_at = 0 AND rid IN (SELECT rid FROM runs WHERE holder_pid IS NOT "
               "NULL) ORDER BY priority DESC, jid LIMIT 1) RETURNING rid"},
          {&lock_holder,
           "SELECT coalesce(r.id, ''), coalesce(r.name, ''), j.id, l.since, l.rid, "
           "l.jid, "
           "coalesce(l.owner, ''), l.expires_at FROM locks l LEFT JOIN runs r "
           "ON r.rid = l.rid LEFT JOIN jobs j ON j.jid = l.jid WHERE l.name = ?1"},
          {&lock_job,
           // A job may take a name its own run holds: it runs under the run's lock.
           "INSERT INTO locks (name, rid, jid, since) VALUES (?1, ?2, ?3, ?4) "
           "ON CONFLICT (name) DO NOTHING"},
          {&wake_free_locks,
           "UPDATE jobs SET state = 'pending', reason = NULL WHERE rid = ?1 AND "
           "state = 'waiting' AND lock IS NOT NULL AND retry_at = 0 AND NOT EXISTS "
           "(SELECT 1 FROM locks l WHERE instr(" +
               nl + " || jobs.lock || " + nl +
               ", "
               "" +
               nl + " || l.name || " + nl + ") > 0)"},
          {&expire_lock,
           "DELETE FROM locks WHERE name = ?1 AND expires_at IS NOT NULL AND "
           "expires_at <= ?2"},
          {&expire_locks,
           "DELETE FROM locks WHERE expires_at IS NOT NULL AND expires_at <= ?1"},
      });
}

util::Result<void> SqlStore::release_locks(int64_t rid, bool keep_running) {
  auto names = Statement::prepare(
      m_db, keep_running
                ? "DELETE FROM locks WHERE rid = ?1 AND (jid IS NULL OR jid NOT IN "
                  "(SELECT jid FROM jobs WHERE rid = ?1 AND state = 'running')) "
                  "RETURNING name"
                : "DELETE FROM locks WHERE rid = ?1 RETURNING name");
  if (!names) {
    return names.error();
  }
  std::vector<std::string> freed;
  if (auto r =
          names->bind(1, rid).each([&](Statement& row) { freed.push_back(row.text(0)); });
      !r) {
    return r;
  }
  for (const auto& name : freed) {
    if (auto r = wake_lock_waiter(name); !r) {
      return r.error();
    }
  }
  return {};
}

util::Result<std::optional<int64_t>> SqlStore::wake_lock_waiter(const std::string& name) {
  std::optional<int64_t> woke;
  for (Statement* st : {&m_locks.promote_lock, &m_locks.promote_lock_of_many}) {
    if (auto r = st->bind(1, name).each([&](Statement& row) { woke = row.int64(0); });
        !r) {
      return r.error();
    }
    if (woke) {
      break;
    }
  }
  return woke;
}

util::Result<void> SqlStore::free_lock(const std::string& name) {
  if (auto r = run_sql(m_db, "DELETE FROM locks WHERE name = ?1", name); !r) {
    return r;
  }
  if (auto r = wake_lock_waiter(name); !r) {
    return r.error();
  }
  return {};
}

util::Result<bool>
SqlStore::still_held(const LockRecord& l, int64_t now_ms,
                     const std::function<bool(const Holder&)>& is_alive) {
  if (!l.owner.empty()) {
    const bool expired = l.expires_at > 0 && l.expires_at <= now_ms;
    if (!expired && (l.holder.empty() || is_alive(l.holder))) {
      return true;
    }
    if (auto r = free_lock(l.name); !r) {
      return r.error();
    }
    return false;
  }
  if (!l.holder.empty() && is_alive(l.holder)) {
    return true;
  }
  // Its run's agent is gone: all the run held is free again.
  if (auto r = release_locks(l.rid, false); !r) {
    return r.error();
  }
  return false;
}

util::Result<std::vector<LockRecord>> SqlStore::locks() {
  const Doing doing(m_db, "read the locks");
  auto all = query_locks("", "");
  if (!all) {
    return all;
  }
  const int64_t now = util::now_ms();
  std::erase_if(*all, [now](const LockRecord& l) {
    return l.expires_at > 0 && l.expires_at <= now; // expired: free
  });
  return all;
}

util::Result<std::optional<LockRecord>>
SqlStore::take_locks(const LockRequest& request, int64_t now_ms,
                     const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "take the locks");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  const Holder& p = request.process;
  for (const auto& name : request.names) {
    auto held = query_locks("WHERE l.name = ?1", name);
    if (!held) {
      return held.error();
    }
    for (auto& l : *held) {
      if (l.owner == request.owner) {
        continue; // renewed below
      }
      auto still = still_held(l, now_ms, is_alive);
      if (!still) {
        return still.error();
      }
      if (*still) {
        return std::optional<LockRecord>(std::move(l)); // rolled back: all or none
      }
    }
    auto r = run_sql(
        m_db,
        "INSERT INTO locks (name, rid, jid, since, owner, expires_at, holder_pid, "
        "holder_host, holder_start) VALUES (?1, 0, NULL, ?2, ?3, nullif(CAST(?4 AS "
        "BIGINT), 0), "
        "nullif(CAST(?5 AS BIGINT), 0), nullif(?6, ''), nullif(CAST(?7 AS BIGINT), 0)) "
        "ON CONFLICT (name) DO UPDATE SET "
        "expires_at = excluded.expires_at, holder_pid = excluded.holder_pid, "
        "holder_host = excluded.holder_host, holder_start = excluded.holder_start",
        name, now_ms, request.owner, request.expires_at, p.pid, p.host, p.start_time);
    if (!r) {
      return r.error();
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return std::optional<LockRecord>();
}

util::Result<Unlocked> SqlStore::drop_locks(const std::vector<std::string>& names,
                                            const std::string& owner, int64_t now_ms) {
  const Doing doing(m_db, "free the locks");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  util::Result<std::vector<LockRecord>> held = std::vector<LockRecord>{};
  if (names.empty()) {
    held = query_locks("WHERE l.owner = ?1", owner); // all the owner holds
  }
  if (!held) {
    return held.error();
  }
  for (const auto& name : names) {
    auto one = query_locks("WHERE l.name = ?1", name);
    if (!one) {
      return one.error();
    }
    held->insert(held->end(), one->begin(), one->end());
  }
  Unlocked out;
  for (auto& l : *held) {
    const bool expired = l.expires_at > 0 && l.expires_at <= now_ms;
    if (l.owner != owner && !expired) {
      out.freed.clear();
      out.other = std::move(l);
      return out; // rolled back: all or none
    }
    if (auto r = free_lock(l.name); !r) {
      return r.error();
    }
    if (l.owner == owner && !expired) {
      out.freed.push_back(l.name);
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<void>
SqlStore::free_gone_locks(int64_t now_ms,
                          const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "free the locks of gone holders");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto owned = query_locks("WHERE l.owner IS NOT NULL AND (l.expires_at IS NOT NULL OR "
                           "l.holder_pid IS NOT NULL)",
                           "");
  if (!owned) {
    return owned.error();
  }
  for (const auto& l : *owned) {
    if (auto r = still_held(l, now_ms, is_alive); !r) {
      return r.error();
    }
  }
  return tx->commit();
}

util::Result<std::vector<LockRecord>> SqlStore::query_locks(std::string_view where,
                                                            const std::string& name) {
  auto st = Statement::prepare(
      m_db,
      // A lock of `muster lock` has no run: its holder is its --pid, which
      // another host sees as alive until the lock expires.
      "SELECT l.name, l.rid, coalesce(r.id, ''), coalesce(r.name, ''), j.id, l.since, "
      "CASE WHEN l.owner IS NULL THEN r.holder_pid ELSE l.holder_pid END, "
      "CASE WHEN l.owner IS NULL THEN r.holder_host ELSE l.holder_host END, "
      "CASE WHEN l.owner IS NULL THEN r.holder_start ELSE l.holder_start END, "
      "CASE WHEN l.owner IS NULL THEN r.heartbeat_at "
      "ELSE coalesce(l.expires_at, 9223372036854775807) END, "
      "coalesce(l.owner, ''), l.expires_at FROM locks l LEFT JOIN runs r ON r.rid = "
      "l.rid "
      "LEFT JOIN jobs j ON j.jid = l.jid " +
          std::string(where) + " ORDER BY l.name");
  if (!st) {
    return st.error();
  }
  if (!name.empty()) {
    st->bind(1, name);
  }
  std::vector<LockRecord> out;
  auto r = st->each([&](Statement& row) {
    LockRecord l;
    l.name = row.text(0);
    l.rid = row.int64(1);
    l.run_id = row.text(2);
    l.run_name = row.text(3);
    l.job_id = row.text(4);
    l.since = row.int64(5);
    l.holder = read_holder(row, 6);
    l.owner = row.text(10);
    l.expires_at = row.optional_int64(11).value_or(0);
    out.push_back(std::move(l));
  });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<std::optional<LockRecord>>
SqlStore::lock_conflict(const std::vector<std::string>& names, int64_t rid,
                        const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "check the locks");
  const int64_t now = util::now_ms();
  for (const auto& name : names) {
    auto held = query_locks("WHERE l.name = ?1", name);
    if (!held) {
      return held.error();
    }
    for (auto& l : *held) {
      if (l.owner.empty() && l.rid == rid) {
        continue;
      }
      auto still = still_held(l, now, is_alive);
      if (!still) {
        return still.error();
      }
      if (*still) {
        return std::optional<LockRecord>(std::move(l));
      }
    }
  }
  return std::optional<LockRecord>();
}

} // namespace muster::store::sql

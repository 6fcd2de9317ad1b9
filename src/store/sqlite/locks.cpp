// Locks: who holds a name, conflicts, and freeing them.

#include "store/codec.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "util/time.hpp"

#include <sqlite3.h>

namespace muster::store::sqlite {

util::Result<void> LockStatements::prepare(Db& db, std::vector<std::string>& sql) {
  return prepare_all(
      db, sql,
      {
          {&unlock, "DELETE FROM locks WHERE name = ?1 AND jid = ?2"},
          // The first waiter of a run that an agent runs: a run nobody runs would
          // leave the lock's other waiters asleep.
          {&promote_lock,
           "UPDATE jobs SET state = 'pending', reason = NULL WHERE jid = "
           "(SELECT jid FROM jobs WHERE state = 'waiting' AND lock = ?1 AND "
           "retry_at = 0 AND rid IN (SELECT rid FROM runs WHERE holder_pid IS NOT "
           "NULL) ORDER BY priority DESC, jid LIMIT 1) RETURNING rid"},
          {&lock_holder,
           "SELECT r.id, r.name, j.id, l.since, l.rid, l.jid FROM locks l JOIN runs r "
           "ON r.rid = l.rid LEFT JOIN jobs j ON j.jid = l.jid WHERE l.name = ?1"},
          {&lock_job,
           "INSERT INTO locks (name, rid, jid, since) VALUES (?1, ?2, ?3, ?4)"},
          {&wake_free_locks,
           "UPDATE jobs SET state = 'pending', reason = NULL WHERE rid = ?1 AND "
           "state = 'waiting' AND lock IS NOT NULL AND retry_at = 0 AND lock NOT "
           "IN (SELECT name FROM locks)"},
      });
}

util::Result<void> SqliteStore::release_locks(int64_t rid, bool keep_running) {
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
    // Whoever waits first on the name may take it now.
    if (auto r = m_locks.promote_lock.bind(1, name).each([](Statement&) {}); !r) {
      return r;
    }
  }
  return {};
}

util::Result<std::vector<LockRecord>> SqliteStore::locks() {
  const Doing doing(m_db, "read the locks");
  return query_locks("", "");
}

util::Result<std::vector<LockRecord>> SqliteStore::query_locks(std::string_view where,
                                                               const std::string& name) {
  auto st = Statement::prepare(
      m_db,
      "SELECT l.name, l.rid, r.id, r.name, j.id, l.since, r.holder_pid, r.holder_host, "
      "r.holder_start, r.heartbeat_at FROM locks l JOIN runs r ON r.rid = l.rid "
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
    out.push_back(std::move(l));
  });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<std::optional<LockRecord>>
SqliteStore::lock_conflict(const std::vector<std::string>& names, int64_t rid,
                           const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "check the locks");
  for (const auto& name : names) {
    auto held = query_locks("WHERE l.name = ?1", name);
    if (!held) {
      return held.error();
    }
    for (auto& l : *held) {
      if (l.rid == rid) {
        continue;
      }
      if (!l.holder.empty() && is_alive(l.holder)) {
        return std::optional<LockRecord>(std::move(l));
      }
      // Its agent is gone: what it held is free again.
      if (auto r = release_locks(l.rid, false); !r) {
        return r.error();
      }
    }
  }
  return std::optional<LockRecord>();
}

} // namespace muster::store::sqlite

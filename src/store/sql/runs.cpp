// Runs: create, find, list, change state, delete.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

#include <random>

namespace muster::store::sql {

namespace {

std::string new_run_id() {
  static std::random_device rd;
  static std::mt19937_64 gen(rd());
  static const char* k_hex = "0123456789abcdef";
  std::string id;
  uint64_t v = gen();
  for (int i = 0; i < 6; ++i) {
    id += k_hex[v & 15];
    v >>= 4;
  }
  return id;
}

} // namespace

util::Result<void>
SqlStore::create_run(RunRecord& run,
                     const std::function<util::Result<bool>(NewJob&)>& next) {
  const Doing doing(m_db, "create the run");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  const int64_t now = util::now_ms();
  // A new id that another run has (a rare clash of random ids) inserts
  // nothing and is drawn again; a name another run has is an error.
  auto insert_run = Statement::prepare(
      m_db,
      "INSERT INTO runs (id, name, state, settings, columns, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (id) DO NOTHING RETURNING rid");
  if (!insert_run) {
    return insert_run.error();
  }
  for (int tries = 0;; ++tries) {
    run.id = new_run_id();
    insert_run->bind(1, run.id);
    if (run.name.empty()) {
      insert_run->bind_null(2);
    } else {
      insert_run->bind(2, run.name);
    }
    insert_run->bind(3, core::to_string(run.state))
        .bind(4, encode_settings(run.settings))
        .bind(5, encode_strings(run.columns))
        .bind(6, now);
    auto row = insert_run->step();
    if (!row) {
      if (!run.name.empty() && m_db.unique_violation() == "runs.name") {
        return util::Error{"a run named '" + run.name + "' already exists"};
      }
      return row.error();
    }
    const bool inserted = *row;
    run.rid = inserted ? insert_run->int64(0) : 0;
    insert_run->reset();
    if (inserted) {
      break;
    }
    if (tries > 20) {
      return util::Error{"cannot create the run: no free run id after 20 tries",
                         util::ErrorKind::internal};
    }
  }
  run.created_at = run.updated_at = now;

  auto added = insert_jobs(run.rid, 0, run.settings.max_attempts, next);
  if (!added) {
    return added.error();
  }
  run.total = *added;
  if (auto r =
          run_sql(m_db, "UPDATE runs SET total = ?1 WHERE rid = ?2", run.total, run.rid);
      !r) {
    return r.error();
  }
  return tx->commit();
}

util::Result<std::vector<RunRecord>> SqlStore::query_runs(std::string_view where,
                                                          const std::string& arg) {
  auto st = Statement::prepare(m_db, "SELECT " + std::string(k_run_columns) +
                                         " FROM runs " + std::string(where));
  if (!st) {
    return st.error();
  }
  if (!arg.empty()) {
    st->bind(1, arg);
  }
  std::vector<RunRecord> out;
  std::optional<util::Error> bad;
  auto r = st->each([&](Statement& row) {
    auto run = read_run(row);
    if (run) {
      out.push_back(std::move(*run));
    } else if (!bad) {
      bad = run.error();
    }
  });
  if (!r) {
    return r.error();
  }
  if (bad) {
    return *bad;
  }
  return out;
}

util::Result<RunRecord> SqlStore::find_run(const std::string& ref) {
  const Doing doing(m_db, "find the run");
  for (std::string_view where : {"WHERE id = ?1", "WHERE name = ?1"}) {
    auto runs = query_runs(where, ref);
    if (!runs) {
      return runs.error();
    }
    if (!runs->empty()) {
      return std::move(runs->front());
    }
  }
  auto runs = query_runs("WHERE substr(id, 1, length(?1)) = ?1 ORDER BY rid", ref);
  if (!runs) {
    return runs.error();
  }
  if (runs->size() == 1) {
    return std::move(runs->front());
  }
  if (runs->empty() || ref.empty()) {
    return util::Error{"no run matches '" + ref +
                           "': give a run id, a prefix of one, or a "
                           "name (see `muster list`)",
                       util::ErrorKind::not_found};
  }
  std::string ids;
  for (const auto& r : *runs) {
    ids += (ids.empty() ? "" : ", ") + r.id;
  }
  return util::Error{"'" + ref + "' matches several runs (" + ids +
                     "): give more of the id"};
}

util::Result<std::optional<RunRecord>> SqlStore::latest_run() {
  const Doing doing(m_db, "find the latest run");
  auto runs = query_runs("ORDER BY rid DESC LIMIT 1", "");
  if (!runs) {
    return runs.error();
  }
  if (runs->empty()) {
    return std::optional<RunRecord>();
  }
  return std::optional<RunRecord>(std::move(runs->front()));
}

util::Result<std::vector<RunRecord>> SqlStore::list_runs() {
  const Doing doing(m_db, "list the runs");
  return query_runs("ORDER BY rid", "");
}

util::Result<RunRecord> SqlStore::run_by_rid(int64_t rid) {
  auto runs = query_runs("WHERE rid = ?1", std::to_string(rid));
  if (!runs) {
    return runs.error();
  }
  if (runs->empty()) {
    return util::Error{"run vanished from the store", util::ErrorKind::not_found};
  }
  return std::move(runs->front());
}

util::Result<void> SqlStore::set_run_state(int64_t rid, core::RunState state) {
  const Doing doing(m_db, "set the run's state");
  return run_sql(m_db, "UPDATE runs SET state = ?2, updated_at = ?3 WHERE rid = ?1", rid,
                 core::to_string(state), util::now_ms());
}

util::Result<void> SqlStore::retune(int64_t rid, const core::RunSettings& settings) {
  const Doing doing(m_db, "change the run's settings");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  // The jobs first, while the run's settings still hold the old budget.
  if (auto r = run_sql(m_db,
                       "UPDATE jobs SET max_attempts = " +
                           m_db.greatest("attempts - interrupts + 1",
                                         "max_attempts + ?2 - (SELECT " +
                                             m_db.json_int("settings", "max_attempts") +
                                             " FROM runs WHERE rid = ?1)") +
                           " WHERE rid = ?1 AND state IN ('pending', 'retrying', "
                           "'waiting')",
                       rid, settings.max_attempts);
      !r) {
    return r;
  }
  if (auto r =
          run_sql(m_db, "UPDATE runs SET settings = ?2, updated_at = ?3 WHERE rid = ?1",
                  rid, encode_settings(settings), util::now_ms());
      !r) {
    return r;
  }
  return tx->commit();
}

util::Result<void> SqlStore::delete_run(int64_t rid) {
  const Doing doing(m_db, "delete the run");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  for (const char* table : {"job_outputs", "slot_logs", "jobs", "events", "agents", "key_counts",
                            "locks", "slot_leases", "runs"}) {
    if (auto r =
            run_sql(m_db, std::string("DELETE FROM ") + table + " WHERE rid = ?1", rid);
        !r) {
      return r;
    }
  }
  m_run_limits.erase(rid);
  return tx->commit();
}

util::Result<void>
SqlStore::import_run(RunRecord& run,
                     const std::function<util::Result<bool>(JobRecord&)>& next,
                     const std::vector<Event>& events) {
  const Doing doing(m_db, "copy the run");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto insert_run = Statement::prepare(
      m_db, "INSERT INTO runs (id, name, state, settings, columns, total, created_at, "
            "updated_at, resume_at, halt_reason) VALUES (?1, nullif(?2, ''), ?3, ?4, ?5, "
            "?6, ?7, ?8, nullif(CAST(?9 AS BIGINT), 0), nullif(?10, '')) RETURNING rid");
  if (!insert_run) {
    return insert_run.error();
  }
  insert_run->bind(1, run.id)
      .bind(2, run.name)
      .bind(3, core::to_string(run.state))
      .bind(4, encode_settings(run.settings))
      .bind(5, encode_strings(run.columns))
      .bind(6, run.total)
      .bind(7, run.created_at)
      .bind(8, run.updated_at)
      .bind(9, run.resume_at)
      .bind(10, run.halt_reason);
  auto row = insert_run->step();
  if (!row) {
    const std::string clash = m_db.unique_violation();
    if (clash == "runs.name") {
      return util::Error{"a run named '" + run.name + "' is in " + m_db.path() +
                         " already; nothing was copied"};
    }
    if (clash == "runs.id") {
      return util::Error{"run " + run.id + " is in " + m_db.path() +
                         " already; nothing was copied"};
    }
    return row.error();
  }
  run.rid = insert_run->int64(0);
  insert_run->reset();
  auto insert_job = Statement::prepare(
      m_db,
      "INSERT INTO jobs (rid, seq, id, key, fields, raw, state, attempts, interrupts, "
      "halts, max_attempts, exit_code, signal, error, error_type, slot, pid, pgid, "
      "started_at, finished_at, retry_at, priority, lock, reason, host) VALUES (?1, ?2, "
      "?3, ?4, ?5, nullif(?6, ''), ?7, ?8, ?9, ?10, ?11, ?12, ?13, nullif(?14, ''), "
      "nullif(?15, ''), ?16, ?17, ?18, nullif(CAST(?19 AS BIGINT), 0), "
      "nullif(CAST(?20 AS BIGINT), 0), ?21, ?22, nullif(?23, ''), nullif(?24, ''), "
      "nullif(?25, ''))");
  if (!insert_job) {
    return insert_job.error();
  }
  JobRecord j;
  for (;;) {
    auto more = next(j);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    insert_job->bind(1, run.rid)
        .bind(2, j.seq)
        .bind(3, j.id)
        .bind(4, j.key)
        .bind(5, j.fields)
        .bind(6, j.raw)
        .bind(7, core::to_string(j.state))
        .bind(8, j.attempts)
        .bind(9, j.interrupts)
        .bind(10, j.halts)
        .bind(11, j.max_attempts)
        .bind(12, j.exit_code)
        .bind(13, j.signal)
        .bind(14, j.error)
        .bind(15, j.error_type)
        .bind(16, j.slot)
        .bind(17, j.pid)
        .bind(18, j.pgid)
        .bind(19, j.started_at)
        .bind(20, j.finished_at)
        .bind(21, j.retry_at)
        .bind(22, j.priority)
        .bind(23, join_locks(j.locks))
        .bind(24, j.reason)
        .bind(25, j.host);
    if (auto r = insert_job->run(); !r) {
      return r.error();
    }
  }
  for (const Event& e : events) {
    if (auto r = run_sql(m_db,
                         "INSERT INTO events (rid, at, host, \"user\", pid, action, "
                         "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         run.rid, e.at, e.host, e.user, e.pid, e.action, e.detail);
        !r) {
      return r.error();
    }
  }
  return tx->commit();
}

} // namespace muster::store::sql

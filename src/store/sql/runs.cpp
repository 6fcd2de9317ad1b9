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
  for (const char* table :
       {"jobs", "events", "agents", "key_counts", "locks", "slot_leases", "runs"}) {
    if (auto r =
            run_sql(m_db, std::string("DELETE FROM ") + table + " WHERE rid = ?1", rid);
        !r) {
      return r;
    }
  }
  m_run_limits.erase(rid);
  return tx->commit();
}

} // namespace muster::store::sql

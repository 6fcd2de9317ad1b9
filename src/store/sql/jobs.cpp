// Jobs: adding them, reading them, and moving them back (retry) or out (cancel).

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<int64_t>
SqlStore::insert_jobs(int64_t rid, int64_t first_seq, int64_t max_attempts,
                      const std::function<util::Result<bool>(NewJob&)>& next) {
  auto insert_job = Statement::prepare(
      m_db,
      "INSERT INTO jobs (rid, seq, id, key, fields, raw, state, max_attempts, priority, "
      "lock) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9)");
  if (!insert_job) {
    return insert_job.error();
  }
  NewJob job;
  int64_t seq = first_seq;
  for (;;) {
    auto more = next(job);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    ++seq;
    insert_job->bind(1, rid)
        .bind(2, seq)
        .bind(3, job.id)
        .bind(4, job.key)
        .bind(5, job.fields);
    if (job.raw.empty()) {
      insert_job->bind_null(6);
    } else {
      insert_job->bind(6, job.raw);
    }
    insert_job->bind(7, max_attempts).bind(8, job.priority);
    if (job.locks.empty()) {
      insert_job->bind_null(9);
    } else {
      insert_job->bind(9, join_locks(job.locks));
    }
    if (auto r = insert_job->run(); !r) {
      if (!m_db.unique_violation().empty()) {
        return util::Error{job.where + ": duplicate job id '" + util::printable(job.id) +
                           "': every row needs its own id (see --id-column)"};
      }
      return r.error();
    }
  }
  return seq - first_seq;
}

util::Result<int64_t>
SqlStore::add_jobs(int64_t rid, const std::function<util::Result<bool>(NewJob&)>& next,
                   const EventFor& event) {
  const Doing doing(m_db, "add jobs");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto last =
      Statement::prepare(m_db, "SELECT (SELECT coalesce(max(seq), 0) FROM jobs WHERE "
                               "rid = ?1), " +
                                   m_db.json_int("settings", "max_attempts") +
                                   ", state FROM runs WHERE rid = ?1");
  if (!last) {
    return last.error();
  }
  last->bind(1, rid);
  auto row = last->step();
  if (!row) {
    return row.error();
  }
  const int64_t first_seq = last->int64(0);
  const int64_t max_attempts = std::max<int64_t>(1, last->int64(1));
  const auto state = core::state_after_add(
      core::parse_run_state(last->text(2)).value_or(core::RunState::paused));
  last->reset();
  auto added = insert_jobs(rid, first_seq, max_attempts, next);
  if (!added) {
    return added.error();
  }
  // The run is unfinished again; a live agent sees the new generation.
  if (auto r = run_sql(m_db,
                       "UPDATE runs SET total = total + ?2, generation = generation + 1, "
                       "updated_at = ?3, "
                       "state = ?4 WHERE rid = ?1",
                       rid, *added, util::now_ms(), core::to_string(state));
      !r) {
    return r.error();
  }
  if (auto r = add_event(rid, event(*added)); !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return *added;
}

util::Result<core::Counts> SqlStore::counts(int64_t rid) {
  const Doing doing(m_db, "count the jobs");
  auto st = Statement::prepare(
      m_db, "SELECT state, count(*) FROM jobs WHERE rid = ?1 GROUP BY state");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  core::Counts counts;
  auto r = st->each([&](Statement& row) {
    if (auto s = core::parse_job_state(row.text(0))) {
      counts[*s] = row.int64(1);
    }
  });
  if (!r) {
    return r.error();
  }
  return counts;
}

util::Result<std::vector<JobRecord>> SqlStore::jobs(int64_t rid,
                                                    const JobFilter& filter) {
  const Doing doing(m_db, "read the jobs");
  std::string sql = "SELECT " + std::string(k_job_columns) + " FROM jobs WHERE rid = ?1";
  if (filter.state) {
    sql += " AND state = ?2";
  }
  if (filter.id) {
    sql += " AND id = ?3";
  }
  sql += " ORDER BY jid";
  if (filter.limit >= 0) {
    sql += " LIMIT ?4";
  }
  auto st = Statement::prepare(m_db, sql);
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  if (filter.limit >= 0) {
    st->bind(4, filter.limit);
  }
  if (filter.state) {
    st->bind(2, core::to_string(*filter.state));
  }
  if (filter.id) {
    st->bind(3, *filter.id);
  }
  std::vector<JobRecord> out;
  auto r = st->each([&](Statement& row) { out.push_back(read_job(row)); });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<void> SqlStore::each_job(int64_t rid,
                                      const std::function<void(const JobRecord&)>& fn) {
  const Doing doing(m_db, "read the jobs");
  auto st = Statement::prepare(m_db, "SELECT " + std::string(k_job_columns) +
                                         " FROM jobs WHERE rid = ?1 ORDER BY jid");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  return st->each([&](Statement& row) { fn(read_job(row)); });
}

util::Result<int64_t> SqlStore::next_retry_at(int64_t rid) {
  const Doing doing(m_db, "find the next retry");
  auto st = Statement::prepare(
      m_db, "SELECT min(retry_at) FROM jobs WHERE rid = ?1 AND state = 'retrying'");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  return st->optional_int64(0).value_or(0);
}

util::Result<int64_t> SqlStore::retry(int64_t rid, const RetrySelection& sel,
                                      const EventFor& event) {
  const Doing doing(m_db, "move jobs back to pending");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  std::vector<std::string> states;
  if (sel.failed) {
    states.emplace_back("failed");
  }
  if (sel.interrupted) {
    states.emplace_back("interrupted");
  }
  if (sel.job_id) {
    auto found = jobs(rid, JobFilter{std::nullopt, sel.job_id, 1});
    if (!found) {
      return found.error();
    }
    if (found->empty()) {
      return util::Error{"no job '" + *sel.job_id + "' in this run",
                         util::ErrorKind::not_found};
    }
    const auto s = found->front().state;
    if (s == core::JobState::succeeded) {
      return util::Error{"job '" + *sel.job_id +
                         "' succeeded; a job that succeeded never "
                         "runs again"};
    }
    if (s == core::JobState::running) {
      return util::Error{"job '" + *sel.job_id + "' is running"};
    }
  }
  // A fresh set of attempts: the counted attempts so far plus the run's budget.
  std::string sql =
      "UPDATE jobs SET state = 'pending', retry_at = 0, max_attempts = attempts - "
      "interrupts + "
      "(SELECT " +
      m_db.json_int("settings", "max_attempts") +
      " FROM runs WHERE rid = ?1) "
      "WHERE rid = ?1 AND ";
  if (sel.job_id) {
    sql += "id = ?2 AND state NOT IN ('succeeded', 'running')";
  } else {
    std::string in;
    for (const auto& s : states) {
      in += (in.empty() ? "'" : ", '") + s + "'";
    }
    sql += "state IN (" + in + ")";
  }
  auto st = Statement::prepare(m_db, sql);
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  if (sel.job_id) {
    st->bind(2, *sel.job_id);
  }
  if (auto r = st->run(); !r) {
    return r.error();
  }
  const int64_t changed = m_db.changes();
  if (changed > 0) {
    // Jobs to do again: the run is open again, and a cancel is over.
    if (auto r = run_sql(m_db,
                         "UPDATE runs SET state = 'created', updated_at = ?2, "
                         "control = CASE WHEN control = 'cancel' THEN NULL ELSE "
                         "control END WHERE rid = ?1 AND holder_pid IS NULL",
                         rid, util::now_ms());
        !r) {
      return r.error();
    }
  }
  if (auto r = add_event(rid, event(changed)); !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return changed;
}

util::Result<int64_t> SqlStore::cancel_rest(int64_t rid, int64_t now_ms) {
  const Doing doing(m_db, "cancel the jobs left");
  if (auto r =
          run_sql(m_db,
                  "UPDATE jobs SET state = 'cancelled', finished_at = ?2, reason = NULL, "
                  "error = coalesce(error, 'cancelled before it ran') WHERE rid = ?1 AND "
                  "state IN "
                  "('pending', 'waiting', 'retrying', 'interrupted')",
                  rid, now_ms);
      !r) {
    return r.error();
  }
  return static_cast<int64_t>(m_db.changes());
}

} // namespace muster::store::sql

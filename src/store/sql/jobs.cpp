// Jobs: adding them, reading them, and moving them back (retry) or out (cancel).

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

namespace {

// Rows per INSERT: one round trip to a server for this many jobs. Each row
// has 7 parameters (SQLite takes 32766, PostgreSQL 65535).
constexpr int k_insert_batch = 256;
// Rows per COPY, where the engine has it: each is a savepoint and a round
// trip, and the rows it holds are in memory.
constexpr size_t k_copy_chunk = 4096;

// INSERT of `rows` jobs of one run; ?1 is the run and ?2 max_attempts. A
// row whose id is taken is not inserted, and its seq is not returned.
std::string insert_jobs_sql(int rows) {
  std::string sql = "INSERT INTO jobs (rid, seq, id, key, fields, raw, state, "
                    "max_attempts, priority, lock) VALUES ";
  for (int r = 0; r < rows; ++r) {
    const int p = 3 + 7 * r;
    auto q = [&](int i) { return "?" + std::to_string(p + i); };
    sql += (r ? ", (?1, " : "(?1, ") + q(0) + ", " + q(1) + ", " + q(2) + ", " + q(3) +
           ", " + q(4) + ", 'pending', ?2, " + q(5) + ", " + q(6) + ")";
  }
  return sql + " ON CONFLICT DO NOTHING RETURNING seq";
}

} // namespace

util::Result<void> SqlStore::insert_rows(int64_t rid, int64_t first_seq,
                                         int64_t max_attempts, std::vector<NewJob>& jobs,
                                         Inserts& inserts) {
  std::optional<Statement>& batch = inserts.batch;
  std::optional<Statement>& single = inserts.single;
  int64_t seq = first_seq;
  size_t done = 0;
  while (done < jobs.size()) {
    const size_t n = jobs.size() - done >= static_cast<size_t>(k_insert_batch)
                         ? static_cast<size_t>(k_insert_batch)
                         : 1;
    std::optional<Statement>& st = n == 1 ? single : batch;
    if (!st) {
      auto prepared = Statement::prepare(m_db, insert_jobs_sql(static_cast<int>(n)));
      if (!prepared) {
        return prepared.error();
      }
      st = std::move(*prepared);
    }
    st->bind(1, rid).bind(2, max_attempts);
    for (size_t r = 0; r < n; ++r) {
      const NewJob& job = jobs[done + r];
      const int p = 3 + 7 * static_cast<int>(r);
      st->bind(p, seq + 1 + static_cast<int64_t>(r))
          .bind(p + 1, job.id)
          .bind(p + 2, job.key)
          .bind(p + 3, job.fields);
      if (job.raw.empty()) {
        st->bind_null(p + 4);
      } else {
        st->bind(p + 4, job.raw);
      }
      st->bind(p + 5, job.priority);
      if (job.locks.empty()) {
        st->bind_null(p + 6);
      } else {
        st->bind(p + 6, join_locks(job.locks));
      }
    }
    // A row that was not inserted had a taken id.
    std::vector<bool> inserted(n, false);
    if (auto r = st->each([&](Statement& row) {
          const int64_t at = row.int64(0) - seq - 1;
          if (at >= 0 && at < static_cast<int64_t>(n)) {
            inserted[static_cast<size_t>(at)] = true;
          }
        });
        !r) {
      return r;
    }
    for (size_t i = 0; i < n; ++i) {
      if (!inserted[i]) {
        return util::Error{jobs[done + i].where + ": duplicate job id '" +
                           util::printable(jobs[done + i].id) +
                           "': every row needs its own id (see --id-column)"};
      }
    }
    seq += static_cast<int64_t>(n);
    done += n;
  }
  return {};
}

util::Result<void> SqlStore::copy_rows(int64_t rid, int64_t first_seq,
                                       int64_t max_attempts, std::vector<NewJob>& jobs,
                                       Inserts& inserts) {
  // COPY's text format: a tab between columns, \N for NULL, and a
  // backslash before the characters that would end a column or a row.
  std::string data;
  const auto text = [&](std::string_view v) {
    for (const char c : v) {
      switch (c) {
      case '\\':
        data += "\\\\";
        break;
      case '\t':
        data += "\\t";
        break;
      case '\n':
        data += "\\n";
        break;
      case '\r':
        data += "\\r";
        break;
      default:
        data += c;
      }
    }
  };
  const std::string head = std::to_string(rid) + "\t";
  const std::string tail = "\tpending\t" + std::to_string(max_attempts) + "\t";
  int64_t seq = first_seq;
  for (const NewJob& job : jobs) {
    data += head;
    data += std::to_string(++seq);
    data += '\t';
    text(job.id);
    data += '\t';
    text(job.key);
    data += '\t';
    text(job.fields);
    data += '\t';
    if (job.raw.empty()) {
      data += "\\N";
    } else {
      text(job.raw);
    }
    data += tail;
    data += std::to_string(job.priority);
    data += '\t';
    if (job.locks.empty()) {
      data += "\\N";
    } else {
      text(join_locks(job.locks));
    }
    data += '\n';
  }
  // A taken id fails the COPY: back to before it, and the INSERTs name
  // the row.
  if (auto r = m_db.exec("SAVEPOINT muster_copy"); !r) {
    return r;
  }
  auto copied = m_db.copy_in("COPY jobs (rid, seq, id, key, fields, raw, state, "
                             "max_attempts, priority, lock) FROM STDIN",
                             data);
  if (!copied && m_db.unique_violation().starts_with("jobs.")) {
    if (auto r = m_db.exec("ROLLBACK TO SAVEPOINT muster_copy"); !r) {
      return r;
    }
    return insert_rows(rid, first_seq, max_attempts, jobs, inserts);
  }
  if (!copied) {
    return copied;
  }
  return m_db.exec("RELEASE SAVEPOINT muster_copy");
}

util::Result<int64_t>
SqlStore::insert_jobs(int64_t rid, int64_t first_seq, int64_t max_attempts,
                      const std::function<util::Result<bool>(NewJob&)>& next) {
  // The rows go in chunks: COPY where the engine has it, which costs the
  // server least, else INSERTs of k_insert_batch rows.
  const size_t chunk =
      m_db.can_copy() ? k_copy_chunk : static_cast<size_t>(k_insert_batch);
  std::vector<NewJob> jobs;
  jobs.reserve(chunk);
  int64_t seq = first_seq;
  Inserts inserts;
  const auto flush = [&]() -> util::Result<void> {
    if (jobs.empty()) {
      return {};
    }
    auto r = m_db.can_copy() ? copy_rows(rid, seq, max_attempts, jobs, inserts)
                             : insert_rows(rid, seq, max_attempts, jobs, inserts);
    seq += static_cast<int64_t>(jobs.size());
    jobs.clear();
    return r;
  };
  for (;;) {
    NewJob job;
    auto more = next(job);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    jobs.push_back(std::move(job));
    if (jobs.size() == chunk) {
      if (auto r = flush(); !r) {
        return r.error();
      }
    }
  }
  if (auto r = flush(); !r) {
    return r.error();
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

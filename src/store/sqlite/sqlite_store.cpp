#include "store/sqlite/sqlite_store.hpp"

#include "store/codec.hpp"
#include "store/sqlite/schema.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <cstring>
#include <random>
#include <sqlite3.h>
#include <sys/stat.h>

namespace muster::store::sqlite {

namespace {

constexpr std::string_view k_run_columns =
    "rid, id, name, state, settings, columns, total, created_at, updated_at, rate, "
    "holder_pid, holder_host, holder_start, heartbeat_at";

constexpr std::string_view k_job_columns =
    "jid, seq, id, key, fields, raw, state, attempts, interrupts, max_attempts, exit_code, "
    "signal, error, error_type, slot, pid, pgid, started_at, finished_at, retry_at";

util::Result<RunRecord> read_run(Statement& st) {
  RunRecord r;
  r.rid = st.int64(0);
  r.id = st.text(1);
  r.name = st.text(2);
  r.state = core::parse_run_state(st.text(3)).value_or(core::RunState::failed);
  auto settings = decode_settings(st.text(4));
  if (!settings) {
    return settings.error();
  }
  r.settings = std::move(*settings);
  auto columns = decode_strings(st.text(5));
  if (!columns) {
    return columns.error();
  }
  r.columns = std::move(*columns);
  r.total = st.int64(6);
  r.created_at = st.int64(7);
  r.updated_at = st.int64(8);
  r.rate = st.real(9);
  r.holder.pid = st.optional_int64(10).value_or(0);
  r.holder.host = st.text(11);
  r.holder.start_time = st.optional_int64(12).value_or(0);
  r.holder.heartbeat_at = st.optional_int64(13).value_or(0);
  return r;
}

JobRecord read_job(const Statement& st) {
  JobRecord j;
  j.jid = st.int64(0);
  j.seq = st.int64(1);
  j.id = st.text(2);
  j.key = st.text(3);
  j.fields = st.text(4);
  j.raw = st.text(5);
  j.state = core::parse_job_state(st.text(6)).value_or(core::JobState::pending);
  j.attempts = st.int64(7);
  j.interrupts = st.int64(8);
  j.max_attempts = st.int64(9);
  j.exit_code = st.optional_int64(10);
  j.signal = st.optional_int64(11);
  j.error = st.text(12);
  j.error_type = st.text(13);
  j.slot = st.optional_int64(14);
  j.pid = st.optional_int64(15);
  j.pgid = st.optional_int64(16);
  j.started_at = st.optional_int64(17).value_or(0);
  j.finished_at = st.optional_int64(18).value_or(0);
  j.retry_at = st.int64(19);
  return j;
}

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

util::Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return util::Error{"cannot create store directory " + path + ": " + std::strerror(errno)};
  }
  return {};
}

} // namespace

util::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& dir,
                                                             Create create) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (create == Create::no) {
      return util::Error{"no store at " + dir +
                         ": run `muster run` here first, or pass --store DIR"};
    }
    if (auto r = make_dir(dir); !r) {
      return r.error();
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return util::Error{"store " + dir + " is not a directory"};
  }
  if (auto r = make_dir(dir + "/runs"); !r) {
    return r.error();
  }
  auto db = Db::open(dir + "/muster.db");
  if (!db) {
    return db.error();
  }
  // WAL lets readers in other terminals see the run while it commits.
  if (auto r = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"); !r) {
    return r.error();
  }
  if (auto r = migrate(*db); !r) {
    return r.error();
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(*db), dir));
  if (auto r = store->prepare_statements(); !r) {
    return r.error();
  }
  return store;
}

SqliteStore::~SqliteStore() = default;

util::Result<void> SqliteStore::prepare_statements() {
  struct Item {
    Statement* st;
    std::string sql;
  };
  const std::string cols = "jid, id, key, fields, raw, attempts, interrupts, max_attempts, seq, state";
  Item items[] = {
      {&m_set_pid, "UPDATE jobs SET pid = ?1, pgid = ?1 WHERE jid = ?2"},
      {&m_finish, "UPDATE jobs SET state = ?1, exit_code = ?2, signal = ?3, error = ?4, "
                  "error_type = ?5, finished_at = ?6, retry_at = ?7, "
                  "interrupts = interrupts + ?8, pid = coalesce(?10, pid), pgid = coalesce(?10, pgid) "
                  "WHERE jid = ?9 AND state = 'running'"},
      {&m_select_due_retries, "SELECT " + cols + " FROM jobs WHERE rid = ?1 AND state = "
                              "'retrying' AND retry_at <= ?2 ORDER BY retry_at LIMIT ?3"},
      {&m_select_pending, "SELECT " + cols + " FROM jobs WHERE rid = ?1 AND state = 'pending' "
                          "AND retry_at <= ?2 ORDER BY jid LIMIT ?3"},
      {&m_claim, "UPDATE jobs SET state = 'running', attempts = attempts + 1, slot = ?1, "
                 "started_at = ?2, finished_at = NULL, pid = NULL, pgid = NULL, "
                 "exit_code = NULL, signal = NULL, error = NULL, error_type = NULL, "
                 "retry_at = 0 WHERE jid = ?3"},
  };
  for (auto& item : items) {
    auto st = Statement::prepare(m_db, item.sql);
    if (!st) {
      return st.error();
    }
    *item.st = std::move(*st);
  }
  return {};
}

util::Result<void> SqliteStore::set_durability(Durability d) {
  return m_db.exec(d == Durability::full ? "PRAGMA synchronous=FULL"
                                         : "PRAGMA synchronous=NORMAL");
}

util::Result<void>
SqliteStore::create_run(RunRecord& run, const std::function<util::Result<bool>(NewJob&)>& next) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  const int64_t now = util::now_ms();
  auto insert_run = Statement::prepare(
      m_db, "INSERT INTO runs (id, name, state, settings, columns, created_at, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
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
    auto r = insert_run->run();
    if (r) {
      break;
    }
    if (!run.name.empty() && sqlite3_extended_errcode(m_db.handle()) ==
                                 SQLITE_CONSTRAINT_UNIQUE &&
        std::string(sqlite3_errmsg(m_db.handle())).find("runs.name") != std::string::npos) {
      return util::Error{"a run named '" + run.name + "' already exists"};
    }
    if (tries > 20) {
      return r.error();
    }
  }
  run.rid = sqlite3_last_insert_rowid(m_db.handle());
  run.created_at = run.updated_at = now;

  auto insert_job = Statement::prepare(
      m_db, "INSERT INTO jobs (rid, seq, id, key, fields, raw, state, max_attempts) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)");
  if (!insert_job) {
    return insert_job.error();
  }
  NewJob job;
  int64_t seq = 0;
  for (;;) {
    auto more = next(job);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    ++seq;
    insert_job->bind(1, run.rid).bind(2, seq).bind(3, job.id).bind(4, job.key).bind(5, job.fields);
    if (job.raw.empty()) {
      insert_job->bind_null(6);
    } else {
      insert_job->bind(6, job.raw);
    }
    insert_job->bind(7, run.settings.max_attempts);
    if (auto r = insert_job->run(); !r) {
      if (sqlite3_extended_errcode(m_db.handle()) == SQLITE_CONSTRAINT_UNIQUE) {
        return util::Error{job.where + ": duplicate job id '" + job.id +
                           "': every row needs its own id (see --id-column)"};
      }
      return r.error();
    }
  }
  run.total = seq;
  auto set_total = Statement::prepare(m_db, "UPDATE runs SET total = ?1 WHERE rid = ?2");
  if (!set_total) {
    return set_total.error();
  }
  if (auto r = set_total->bind(1, seq).bind(2, run.rid).run(); !r) {
    return r.error();
  }
  return tx->commit();
}

util::Result<std::vector<RunRecord>> SqliteStore::query_runs(std::string_view where,
                                                             const std::string& arg) {
  auto st = Statement::prepare(m_db, "SELECT " + std::string(k_run_columns) + " FROM runs " +
                                         std::string(where));
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

util::Result<RunRecord> SqliteStore::find_run(const std::string& ref) {
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
    return util::Error{"no run matches '" + ref + "': give a run id, a prefix of one, or a "
                       "name (see `muster list`)"};
  }
  std::string ids;
  for (const auto& r : *runs) {
    ids += (ids.empty() ? "" : ", ") + r.id;
  }
  return util::Error{"'" + ref + "' matches several runs (" + ids + "): give more of the id"};
}

util::Result<std::optional<RunRecord>> SqliteStore::latest_run() {
  auto runs = query_runs("ORDER BY rid DESC LIMIT 1", "");
  if (!runs) {
    return runs.error();
  }
  if (runs->empty()) {
    return std::optional<RunRecord>();
  }
  return std::optional<RunRecord>(std::move(runs->front()));
}

util::Result<std::vector<RunRecord>> SqliteStore::list_runs() {
  return query_runs("ORDER BY rid", "");
}

util::Result<core::Counts> SqliteStore::counts(int64_t rid) {
  auto st = Statement::prepare(m_db,
                               "SELECT state, count(*) FROM jobs WHERE rid = ?1 GROUP BY state");
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

util::Result<std::vector<JobRecord>> SqliteStore::jobs(int64_t rid, const JobFilter& filter) {
  std::string sql = "SELECT " + std::string(k_job_columns) + " FROM jobs WHERE rid = ?1";
  if (filter.state) {
    sql += " AND state = ?2";
  }
  if (filter.id) {
    sql += " AND id = ?3";
  }
  sql += " ORDER BY jid LIMIT ?4";
  auto st = Statement::prepare(m_db, sql);
  if (!st) {
    return st.error();
  }
  st->bind(1, rid).bind(4, filter.limit);
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

util::Result<void> SqliteStore::each_job(int64_t rid,
                                         const std::function<void(const JobRecord&)>& fn) {
  auto st = Statement::prepare(m_db, "SELECT " + std::string(k_job_columns) +
                                         " FROM jobs WHERE rid = ?1 ORDER BY jid");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  return st->each([&](Statement& row) { fn(read_job(row)); });
}

util::Result<Takeover>
SqliteStore::acquire(int64_t rid, const Holder& me,
                     const std::function<bool(const Holder&)>& is_alive) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto runs = query_runs("WHERE rid = ?1", std::to_string(rid));
  if (!runs) {
    return runs.error();
  }
  if (runs->empty()) {
    return util::Error{"run vanished from the store"};
  }
  Takeover out;
  out.run = std::move(runs->front());
  const Holder& held = out.run.holder;
  const bool is_me = held.pid == me.pid && held.host == me.host && held.start_time == me.start_time;
  if (!held.empty() && !is_me && is_alive(held)) {
    out.held_by = held;
    return out;
  }
  auto orphans = Statement::prepare(
      m_db, "SELECT jid, id, pgid, started_at FROM jobs WHERE rid = ?1 AND state = 'running'");
  if (!orphans) {
    return orphans.error();
  }
  orphans->bind(1, rid);
  auto listed = orphans->each([&](Statement& row) {
    out.orphans.push_back(Orphan{row.int64(0), row.text(1), row.optional_int64(2),
                                 row.optional_int64(3).value_or(0)});
  });
  if (!listed) {
    return listed.error();
  }
  const int64_t now = util::now_ms();
  // Jobs the dead holder left running: pending again, or held as interrupted.
  const bool requeue = out.run.settings.on_interrupt == core::OnInterrupt::requeue;
  auto orphaned = Statement::prepare(
      m_db, std::string("UPDATE jobs SET state = '") + (requeue ? "pending" : "interrupted") +
                "', interrupts = interrupts + 1, error = ?2, error_type = 'interrupted', "
                "finished_at = ?3 WHERE rid = ?1 AND state = 'running'");
  if (!orphaned) {
    return orphaned.error();
  }
  orphaned->bind(1, rid).bind(2, std::string_view("interrupted: its agent stopped while it ran"));
  if (auto r = orphaned->bind(3, now).run(); !r) {
    return r.error();
  }
  if (requeue) {
    // Jobs stopped by a drain were recorded interrupted; requeue runs them again.
    auto stopped = Statement::prepare(
        m_db, "UPDATE jobs SET state = 'pending' WHERE rid = ?1 AND state = 'interrupted'");
    if (!stopped) {
      return stopped.error();
    }
    if (auto r = stopped->bind(1, rid).run(); !r) {
      return r.error();
    }
  }
  auto take = Statement::prepare(
      m_db, "UPDATE runs SET holder_pid = ?2, holder_host = ?3, holder_start = ?4, "
            "heartbeat_at = ?5, updated_at = ?5, state = 'running' WHERE rid = ?1");
  if (!take) {
    return take.error();
  }
  if (auto r = take->bind(1, rid).bind(2, me.pid).bind(3, me.host).bind(4, me.start_time)
                   .bind(5, now).run();
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  out.run.holder = me;
  out.run.holder.heartbeat_at = now;
  out.run.state = core::RunState::running;
  return out;
}

util::Result<void> SqliteStore::claim_into(int64_t rid, Statement& select, int64_t limit,
                                           const std::vector<int64_t>& free_slots,
                                           size_t& next_slot, int64_t now_ms,
                                           std::vector<Claim>& out) {
  select.bind(1, rid).bind(2, now_ms).bind(3, limit);
  const size_t first = out.size();
  auto read = select.each([&](Statement& row) {
    Claim c;
    c.jid = row.int64(0);
    c.id = row.text(1);
    c.key = row.text(2);
    c.fields = row.text(3);
    c.raw = row.text(4);
    c.attempt = row.int64(5) + 1;
    c.interrupts = row.int64(6);
    c.max_attempts = row.int64(7);
    c.seq = row.int64(8);
    c.from = core::parse_job_state(row.text(9)).value_or(core::JobState::pending);
    out.push_back(std::move(c));
  });
  if (!read) {
    return read.error();
  }
  for (size_t i = first; i < out.size(); ++i) {
    out[i].slot = free_slots[next_slot++];
    if (auto r = m_claim.bind(1, out[i].slot).bind(2, now_ms).bind(3, out[i].jid).run(); !r) {
      return r.error();
    }
  }
  return {};
}

util::Result<std::vector<Claim>> SqliteStore::commit(int64_t rid,
                                                     const std::vector<Update>& updates,
                                                     const std::vector<int64_t>& free_slots,
                                                     int64_t now_ms) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  for (const auto& u : updates) {
    util::Result<void> r;
    if (u.kind == Update::Kind::started) {
      r = m_set_pid.bind(1, u.pid).bind(2, u.jid).run();
    } else {
      const auto& o = u.outcome;
      m_finish.bind(1, core::to_string(u.state));
      m_finish.bind(2, o.exit_code >= 0 ? std::optional<int64_t>(o.exit_code) : std::nullopt);
      m_finish.bind(3, o.signal > 0 ? std::optional<int64_t>(o.signal) : std::nullopt);
      if (o.error.empty()) {
        m_finish.bind_null(4).bind_null(5);
      } else {
        m_finish.bind(4, o.error).bind(5, core::to_string(o.type));
      }
      m_finish.bind(6, u.finished_at).bind(7, u.retry_at);
      m_finish.bind(8, static_cast<int64_t>(o.type == core::ErrorType::interrupted ? 1 : 0));
      m_finish.bind(10, u.pid > 0 ? std::optional<int64_t>(u.pid) : std::nullopt);
      r = m_finish.bind(9, u.jid).run();
    }
    if (!r) {
      return r.error();
    }
  }
  std::vector<Claim> claims;
  size_t next_slot = 0;
  const auto want = static_cast<int64_t>(free_slots.size());
  if (want > 0) {
    if (auto r = claim_into(rid, m_select_due_retries, want, free_slots, next_slot, now_ms,
                            claims);
        !r) {
      return r.error();
    }
  }
  const auto left = want - static_cast<int64_t>(claims.size());
  if (left > 0) {
    if (auto r = claim_into(rid, m_select_pending, left, free_slots, next_slot, now_ms, claims);
        !r) {
      return r.error();
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return claims;
}

util::Result<int64_t> SqliteStore::next_retry_at(int64_t rid) {
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

util::Result<void> SqliteStore::heartbeat(int64_t rid, const Holder& me, double rate) {
  auto st = Statement::prepare(m_db, "UPDATE runs SET heartbeat_at = ?2, updated_at = ?2, "
                                     "rate = ?3 WHERE rid = ?1 AND holder_pid = ?4");
  if (!st) {
    return st.error();
  }
  return st->bind(1, rid).bind(2, util::now_ms()).bind(3, rate).bind(4, me.pid).run();
}

util::Result<void> SqliteStore::release(int64_t rid, core::RunState state) {
  auto st = Statement::prepare(
      m_db, "UPDATE runs SET holder_pid = NULL, holder_host = NULL, holder_start = NULL, "
            "state = ?2, updated_at = ?3, rate = 0 WHERE rid = ?1");
  if (!st) {
    return st.error();
  }
  return st->bind(1, rid).bind(2, core::to_string(state)).bind(3, util::now_ms()).run();
}

util::Result<void> SqliteStore::set_run_state(int64_t rid, core::RunState state) {
  auto st = Statement::prepare(m_db, "UPDATE runs SET state = ?2, updated_at = ?3 WHERE rid = ?1");
  if (!st) {
    return st.error();
  }
  return st->bind(1, rid).bind(2, core::to_string(state)).bind(3, util::now_ms()).run();
}

util::Result<int64_t> SqliteStore::retry(int64_t rid, const RetrySelection& sel) {
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
      return util::Error{"no job '" + *sel.job_id + "' in this run"};
    }
    const auto s = found->front().state;
    if (s == core::JobState::succeeded) {
      return util::Error{"job '" + *sel.job_id + "' succeeded; a job that succeeded never "
                         "runs again"};
    }
    if (s == core::JobState::running) {
      return util::Error{"job '" + *sel.job_id + "' is running"};
    }
  }
  // A fresh set of attempts: the counted attempts so far plus the run's budget.
  std::string sql =
      "UPDATE jobs SET state = 'pending', retry_at = 0, max_attempts = attempts - interrupts + "
      "(SELECT json_extract(settings, '$.max_attempts') FROM runs WHERE rid = ?1) "
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
  const int64_t changed = sqlite3_changes(m_db.handle());
  if (changed > 0) {
    auto set = Statement::prepare(m_db, "UPDATE runs SET state = 'created', updated_at = ?2 "
                                        "WHERE rid = ?1 AND holder_pid IS NULL");
    if (!set) {
      return set.error();
    }
    if (auto r = set->bind(1, rid).bind(2, util::now_ms()).run(); !r) {
      return r.error();
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return changed;
}

} // namespace muster::store::sqlite

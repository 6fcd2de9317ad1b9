#include "store/sqlite/sqlite_store.hpp"

#include "store/codec.hpp"
#include "store/sqlite/schema.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <cstring>
#include <random>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::store::sqlite {

namespace {

constexpr std::string_view k_run_columns =
    "rid, id, name, state, settings, columns, total, created_at, updated_at, rate, "
    "holder_pid, holder_host, holder_start, heartbeat_at, resume_at, halt_reason";

constexpr std::string_view k_job_columns =
    "jid, seq, id, key, fields, raw, state, attempts, interrupts, max_attempts, exit_code, "
    "signal, error, error_type, slot, pid, pgid, started_at, finished_at, retry_at, priority, "
    "lock, reason";

// The holder's four columns, starting at `first`.
Holder read_holder(const Statement& st, int first) {
  Holder h;
  h.pid = st.optional_int64(first).value_or(0);
  h.host = st.text(first + 1);
  h.start_time = st.optional_int64(first + 2).value_or(0);
  h.heartbeat_at = st.optional_int64(first + 3).value_or(0);
  return h;
}

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
  r.holder = read_holder(st, 10);
  r.resume_at = st.optional_int64(14).value_or(0);
  r.halt_reason = st.text(15);
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
  j.priority = st.int64(20);
  j.lock = st.text(21);
  j.reason = st.text(22);
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
    const int err = errno;
    return util::Error{"cannot create store directory " + path + ": " + std::strerror(err),
                       err == ENOSPC   ? util::ErrorKind::disk_full
                       : err == ENOENT ? util::ErrorKind::not_found
                                       : util::ErrorKind::store_unavailable};
  }
  return {};
}

} // namespace

util::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& dir,
                                                             Create create) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (create == Create::no) {
      return util::Error{"no store at " + dir + ": run `muster run` here first, or pass --store DIR",
                         util::ErrorKind::not_found};
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
  // WAL lets readers in other terminals see the run while it commits. Two
  // processes opening a new store at once race to switch it, and the loser
  // is told "locked" without waiting: try again for a while.
  for (int tries = 0;; ++tries) {
    auto r = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (r) {
      break;
    }
    if (tries >= 100) {
      return r.error();
    }
    ::usleep(50'000);
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
  const std::string cols =
      "jid, id, key, fields, raw, attempts, interrupts, max_attempts, seq, state, lock";
  Item items[] = {
      {&m_set_pid, "UPDATE jobs SET pid = ?1, pgid = ?1 WHERE jid = ?2 AND aid IS ?3"},
      {&m_finish, "UPDATE jobs SET state = ?1, exit_code = ?2, signal = ?3, error = ?4, "
                  "error_type = ?5, finished_at = ?6, retry_at = ?7, "
                  "interrupts = interrupts + ?8, pid = coalesce(?10, pid), "
                  "pgid = coalesce(?10, pgid), reason = NULL, aid = NULL, lease_until = NULL "
                  "WHERE jid = ?9 AND state = 'running' AND aid IS ?11"},
      {&m_select_due_retries, "SELECT " + cols + " FROM jobs WHERE rid = ?1 AND state = "
                              "'retrying' AND retry_at <= ?2 ORDER BY retry_at LIMIT ?3"},
      {&m_select_pending, "SELECT " + cols + " FROM jobs WHERE rid = ?1 AND state = 'pending' "
                          "AND retry_at <= ?2 ORDER BY priority DESC, jid LIMIT ?3"},
      {&m_claim, "UPDATE jobs SET state = 'running', attempts = attempts + 1, slot = ?1, "
                 "started_at = ?2, finished_at = NULL, pid = NULL, pgid = NULL, "
                 "exit_code = NULL, signal = NULL, error = NULL, error_type = NULL, "
                 "retry_at = 0, reason = NULL, aid = ?4, lease_until = ?5 WHERE jid = ?3"},
      {&m_halt, "UPDATE runs SET state = 'halted', resume_at = max(coalesce(resume_at, 0), ?2), "
                "halt_reason = ?3, updated_at = ?4 WHERE rid = ?1"},
      {&m_halt_state, "SELECT resume_at, halt_reason FROM runs WHERE rid = ?1"},
      {&m_unhalt, "UPDATE runs SET state = CASE WHEN state = 'halted' THEN 'running' ELSE state "
                  "END, resume_at = NULL, halt_reason = NULL, updated_at = ?2 WHERE rid = ?1"},
      {&m_count_key, "INSERT INTO key_counts (rid, key, window_start, n) VALUES (?1, ?2, ?3, 1) "
                     "ON CONFLICT (rid, key, window_start) DO UPDATE SET n = n + 1"},
      {&m_key_count, "SELECT n FROM key_counts WHERE rid = ?1 AND key = ?2 AND window_start = ?3"},
      {&m_key_running, "SELECT count(*) FROM jobs WHERE rid = ?1 AND key = ?2 AND state = 'running'"},
      {&m_block_key, "UPDATE jobs SET state = 'skipped', reason = ?4, error = ?4, "
                     "error_type = 'blocked', finished_at = ?5 "
                     // key <> '' lets the partial index jobs_key serve it
                     "WHERE rid = ?1 AND key = ?2 AND key <> '' AND state = ?3"},
      {&m_promote_key, "UPDATE jobs SET state = 'pending', reason = NULL, retry_at = 0 WHERE jid IN "
                       "(SELECT jid FROM jobs WHERE rid = ?1 AND key = ?2 AND state = 'waiting' "
                       "AND (retry_at = 0 OR ?4) ORDER BY priority DESC, jid LIMIT ?3)"},
      {&m_unlock, "DELETE FROM locks WHERE name = ?1 AND jid = ?2"},
      // The first waiter of a run that an agent runs: a run nobody runs would
      // leave the lock's other waiters asleep.
      {&m_promote_lock, "UPDATE jobs SET state = 'pending', reason = NULL WHERE jid = "
                        "(SELECT jid FROM jobs WHERE state = 'waiting' AND lock = ?1 AND "
                        "retry_at = 0 AND rid IN (SELECT rid FROM runs WHERE holder_pid IS NOT "
                        "NULL) ORDER BY priority DESC, jid LIMIT 1) RETURNING rid"},
      {&m_wake_free_locks, "UPDATE jobs SET state = 'pending', reason = NULL WHERE rid = ?1 AND "
                           "state = 'waiting' AND lock IS NOT NULL AND retry_at = 0 AND lock NOT "
                           "IN (SELECT name FROM locks)"},
      {&m_lock_holder, "SELECT r.id, r.name, j.id, l.since, l.rid, l.jid FROM locks l JOIN runs r "
                       "ON r.rid = l.rid LEFT JOIN jobs j ON j.jid = l.jid WHERE l.name = ?1"},
      {&m_lock_job, "INSERT INTO locks (name, rid, jid, since) VALUES (?1, ?2, ?3, ?4)"},
      {&m_hold, "UPDATE jobs SET state = 'waiting', reason = ?1, retry_at = ?2 WHERE jid = ?3"},
      {&m_wake_due, "UPDATE jobs SET state = 'pending', reason = NULL, retry_at = 0 WHERE rid = ?1 "
                    "AND state = 'waiting' AND retry_at > 0 AND retry_at <= ?2"},
      {&m_next_wake, "SELECT min(retry_at) FROM jobs WHERE rid = ?1 AND state = 'waiting' AND "
                     "retry_at > 0"},
      {&m_next_start, "SELECT next_start_us FROM runs WHERE rid = ?1"},
      {&m_set_next_start, "UPDATE runs SET next_start_us = ?2 WHERE rid = ?1"},
      {&m_read_control, "SELECT control, target_slots, generation, coalesce(resume_at, 0) "
                        "FROM runs WHERE rid = ?1"},
  };
  for (auto& item : items) {
    auto st = Statement::prepare(m_db, item.sql);
    if (!st) {
      return st.error();
    }
    *item.st = std::move(*st);
    m_per_turn_sql.push_back(std::move(item.sql));
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

util::Result<int64_t>
SqliteStore::insert_jobs(int64_t rid, int64_t first_seq, int64_t max_attempts,
                         const std::function<util::Result<bool>(NewJob&)>& next) {
  auto insert_job = Statement::prepare(
      m_db, "INSERT INTO jobs (rid, seq, id, key, fields, raw, state, max_attempts, priority, "
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
    insert_job->bind(1, rid).bind(2, seq).bind(3, job.id).bind(4, job.key).bind(5, job.fields);
    if (job.raw.empty()) {
      insert_job->bind_null(6);
    } else {
      insert_job->bind(6, job.raw);
    }
    insert_job->bind(7, max_attempts).bind(8, job.priority);
    if (job.lock.empty()) {
      insert_job->bind_null(9);
    } else {
      insert_job->bind(9, job.lock);
    }
    if (auto r = insert_job->run(); !r) {
      if (sqlite3_extended_errcode(m_db.handle()) == SQLITE_CONSTRAINT_UNIQUE) {
        return util::Error{job.where + ": duplicate job id '" + job.id +
                           "': every row needs its own id (see --id-column)"};
      }
      return r.error();
    }
  }
  return seq - first_seq;
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
  return take_run(rid, me, is_alive, false);
}

util::Result<Takeover> SqliteStore::join(int64_t rid, const Holder& me,
                                         const std::function<bool(const Holder&)>& is_alive) {
  return take_run(rid, me, is_alive, true);
}

util::Result<int64_t> SqliteStore::insert_agent(int64_t rid, const Holder& me, int64_t now_ms) {
  auto st = Statement::prepare(
      m_db, "INSERT INTO agents (rid, host, pid, start_time, user, started_at, heartbeat_at, "
            "heartbeat_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, 'running')");
  if (!st) {
    return st.error();
  }
  const int64_t hb = me.heartbeat_ms > 0 ? me.heartbeat_ms : core::k_default_heartbeat_ms;
  if (auto r = st->bind(1, rid).bind(2, me.host).bind(3, me.pid).bind(4, me.start_time)
                   .bind(5, me.user).bind(6, now_ms).bind(7, hb).run();
      !r) {
    return r.error();
  }
  const int64_t aid = sqlite3_last_insert_rowid(m_db.handle());
  m_lease_ms[aid] = core::lease_ms(hb);
  return aid;
}

util::Result<int64_t> SqliteStore::lease_ms_of(int64_t aid) {
  if (auto it = m_lease_ms.find(aid); it != m_lease_ms.end()) {
    return it->second;
  }
  auto st = Statement::prepare(m_db, "SELECT heartbeat_ms FROM agents WHERE aid = ?1");
  if (!st) {
    return st.error();
  }
  st->bind(1, aid);
  auto hb = scalar(*st);
  if (!hb) {
    return hb.error();
  }
  return m_lease_ms[aid] = core::lease_ms(std::max<int64_t>(*hb, 100));
}

util::Result<void> SqliteStore::recover_in_tx(int64_t rid, const core::RunSettings& settings,
                                              int64_t me,
                                              const std::function<bool(const Holder&)>& is_alive,
                                              int64_t now_ms, bool unowned,
                                              std::vector<Orphan>& orphans) {
  auto live = Statement::prepare(
      m_db, "SELECT aid, host, pid, start_time, heartbeat_at, heartbeat_ms FROM agents "
            "WHERE rid = ?1 AND state = 'running' AND aid <> ?2");
  if (!live) {
    return live.error();
  }
  std::vector<int64_t> gone;
  auto listed = live->bind(1, rid).bind(2, me).each([&](Statement& row) {
    Holder h;
    h.host = row.text(1);
    h.pid = row.int64(2);
    h.start_time = row.int64(3);
    h.heartbeat_at = row.int64(4);
    h.heartbeat_ms = row.int64(5);
    // Silent for longer than a lease, or (on this host) a dead process.
    if (core::is_offline(now_ms, h.heartbeat_at, h.heartbeat_ms) || !is_alive(h)) {
      gone.push_back(row.int64(0));
    }
  });
  if (!listed) {
    return listed;
  }
  for (int64_t aid : gone) {
    if (auto r = end_agent(aid, AgentState::offline, now_ms); !r) {
      return r;
    }
  }
  // Running jobs whose agent is gone (or, with `unowned`, that have none).
  std::string owner = "aid IN (SELECT aid FROM agents WHERE rid = ?1 AND state <> 'running')";
  if (unowned) {
    owner = "(aid IS NULL OR " + owner + ")";
  }
  auto found = Statement::prepare(m_db, "SELECT jid, id, pgid, started_at, lock FROM jobs "
                                        "WHERE rid = ?1 AND state = 'running' AND " + owner);
  if (!found) {
    return found.error();
  }
  std::vector<std::string> locks;
  auto each = found->bind(1, rid).each([&](Statement& row) {
    orphans.push_back(Orphan{row.int64(0), row.text(1), row.optional_int64(2),
                             row.optional_int64(3).value_or(0)});
    if (!row.is_null(4)) {
      locks.push_back(row.text(4));
    }
  });
  if (!each) {
    return each;
  }
  if (orphans.empty()) {
    return {};
  }
  // Pending again, or held as interrupted.
  const std::string move =
      "UPDATE jobs SET state = ?4, interrupts = interrupts + 1, error = ?2, error_type = "
      "'interrupted', finished_at = ?3, aid = NULL, lease_until = NULL WHERE rid = ?1 AND "
      "state = 'running' AND " + owner;
  if (auto r = run_sql(m_db, move, rid, "interrupted: its agent stopped while it ran", now_ms,
                       core::to_string(core::state_on_interrupt(settings.on_interrupt)));
      !r) {
    return r;
  }
  auto unlock = Statement::prepare(m_db, "DELETE FROM locks WHERE rid = ?1 AND jid = ?2");
  if (!unlock) {
    return unlock.error();
  }
  for (const auto& o : orphans) {
    if (auto r = unlock->bind(1, rid).bind(2, o.jid).run(); !r) {
      return r;
    }
  }
  for (const auto& name : locks) {
    if (auto r = m_promote_lock.bind(1, name).each([](Statement&) {}); !r) {
      return r;
    }
  }
  return {};
}

util::Result<RunRecord> SqliteStore::run_by_rid(int64_t rid) {
  auto runs = query_runs("WHERE rid = ?1", std::to_string(rid));
  if (!runs) {
    return runs.error();
  }
  if (runs->empty()) {
    return util::Error{"run vanished from the store"};
  }
  return std::move(runs->front());
}

util::Result<Takeover> SqliteStore::take_run(int64_t rid, const Holder& me,
                                             const std::function<bool(const Holder&)>& is_alive,
                                             bool join) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto run = run_by_rid(rid);
  if (!run) {
    return run.error();
  }
  Takeover out;
  out.run = std::move(*run);
  const int64_t now = util::now_ms();
  const Holder& held = out.run.holder;
  const bool is_me = held.pid == me.pid && held.host == me.host && held.start_time == me.start_time;
  const bool held_live = !held.empty() && !is_me && is_alive(held);
  if (held_live && !join) {
    out.held_by = held;
    return out;
  }
  if (held_live) {
    // Beside a live holder: the run, its locks and its state are its.
    if (auto r = recover_in_tx(rid, out.run.settings, 0, is_alive, now, false, out.orphans); !r) {
      return r.error();
    }
    auto aid = insert_agent(rid, me, now);
    if (!aid) {
      return aid.error();
    }
    out.aid = *aid;
    if (auto r = tx->commit(); !r) {
      return r.error();
    }
    return out;
  }
  if (!out.run.settings.locks.empty()) {
    auto conflict = lock_conflict(out.run.settings.locks, rid, is_alive);
    if (!conflict) {
      return conflict.error();
    }
    if (*conflict) {
      out.lock_conflict = std::move(*conflict);
      return out; // rolled back: nothing changed
    }
  }
  // The old holder is gone: its jobs (and those of other gone agents) are
  // recovered, its locks freed, and the run's locks taken anew.
  if (auto r = recover_in_tx(rid, out.run.settings, 0, is_alive, now, true, out.orphans); !r) {
    return r.error();
  }
  if (auto r = release_locks(rid, true); !r) {
    return r.error();
  }
  for (const auto& name : out.run.settings.locks) {
    if (auto r = m_lock_job.bind(1, name).bind(2, rid).bind_null(3).bind(4, now).run(); !r) {
      return r.error();
    }
  }
  if (out.run.settings.on_interrupt == core::OnInterrupt::requeue) {
    // Jobs stopped by a drain were recorded interrupted; requeue runs them again.
    if (auto r = run_sql(
            m_db,
            "UPDATE jobs SET state = 'pending' WHERE rid = ?1 AND state = 'interrupted'",
            rid);
        !r) {
      return r.error();
    }
  }
  auto asked = control(rid);
  if (!asked) {
    return asked.error();
  }
  const auto pause = asked->request == ControlRequest::pause ||
                             asked->request == ControlRequest::pause_stop
                         ? core::PauseAsked::yes
                         : core::PauseAsked::no;
  const auto state = core::state_on_takeover(pause, asked->resume_at, now);
  if (auto r = run_sql(m_db,
                       "UPDATE runs SET holder_pid = ?2, holder_host = ?3, holder_start = ?4, "
                       "heartbeat_at = ?5, updated_at = ?5, target_slots = NULL, state = ?6 "
                       "WHERE rid = ?1",
                       rid, me.pid, me.host, me.start_time, now, core::to_string(state));
      !r) {
    return r.error();
  }
  auto aid = insert_agent(rid, me, now);
  if (!aid) {
    return aid.error();
  }
  out.aid = *aid;
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  out.run.holder = me;
  out.run.holder.heartbeat_at = now;
  out.run.state = core::RunState::running;
  return out;
}

util::Result<std::vector<int64_t>> SqliteStore::take_slots(int64_t rid, int64_t aid,
                                                           const std::string& host, int64_t n) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  // Numbers of agents that stopped or went offline are free again.
  if (auto r = run_sql(
          m_db,
          "DELETE FROM slot_leases WHERE rid = ?1 AND aid NOT IN (SELECT aid FROM agents "
          "WHERE rid = ?1 AND state = 'running')",
          rid);
      !r) {
    return r.error();
  }
  auto used = Statement::prepare(
      m_db, "SELECT slot FROM slot_leases WHERE rid = ?1 AND host = ?2 ORDER BY slot");
  if (!used) {
    return used.error();
  }
  std::vector<int64_t> taken;
  if (auto r = used->bind(1, rid).bind(2, host).each([&](Statement& row) {
        taken.push_back(row.int64(0));
      });
      !r) {
    return r.error();
  }
  auto lease = Statement::prepare(
      m_db, "INSERT INTO slot_leases (rid, host, slot, aid) VALUES (?1, ?2, ?3, ?4)");
  if (!lease) {
    return lease.error();
  }
  std::vector<int64_t> out;
  size_t i = 0;
  for (int64_t slot = 0; static_cast<int64_t>(out.size()) < n; ++slot) {
    while (i < taken.size() && taken[i] < slot) {
      ++i;
    }
    if (i < taken.size() && taken[i] == slot) {
      continue;
    }
    if (auto r = lease->bind(1, rid).bind(2, host).bind(3, slot).bind(4, aid).run(); !r) {
      return r.error();
    }
    out.push_back(slot);
  }
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET slots = (SELECT count(*) FROM "
                       "slot_leases WHERE aid = ?1) WHERE aid = ?1",
                       aid);
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<Beat> SqliteStore::beat(int64_t rid, int64_t aid, double rate,
                                     const std::string& slot_states, int64_t now_ms,
                                     int64_t lease_ms) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  Beat out;
  auto state = Statement::prepare(m_db, "SELECT state, pid, host, start_time FROM agents "
                                        "WHERE aid = ?1");
  if (!state) {
    return state.error();
  }
  Holder self;
  std::string current;
  if (auto r = state->bind(1, aid).each([&](Statement& row) {
        current = row.text(0);
        self.pid = row.int64(1);
        self.host = row.text(2);
        self.start_time = row.int64(3);
      });
      !r) {
    return r.error();
  }
  if (parse_agent_state(current) != AgentState::running) {
    out.offline = true; // someone found this agent gone: its jobs are no longer its own
    return out;
  }
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET heartbeat_at = ?2, slot_states = ?3 "
                       "WHERE aid = ?1",
                       aid, now_ms, slot_states);
      !r) {
    return r.error();
  }
  // The run's running jobs come from jobs_running: a few rows per agent.
  auto leases = Statement::prepare(m_db, "UPDATE jobs SET lease_until = ?2 WHERE rid = ?3 AND "
                                         "state = 'running' AND aid = ?1 RETURNING jid");
  if (!leases) {
    return leases.error();
  }
  if (auto r = leases->bind(1, aid).bind(2, now_ms + lease_ms).bind(3, rid).each([&](Statement& row) {
        out.held.push_back(row.int64(0));
      });
      !r) {
    return r.error();
  }
  // The holder also keeps the run's own heartbeat and rate for other terminals.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET heartbeat_at = ?2, updated_at = ?2, rate = ?3 WHERE rid = "
          "?1 AND holder_pid = ?4 AND holder_host = ?5 AND holder_start = ?6",
          rid, now_ms, rate, self.pid, self.host, self.start_time);
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<std::vector<Orphan>>
SqliteStore::recover(int64_t rid, int64_t me, const std::function<bool(const Holder&)>& is_alive,
                     int64_t now_ms) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto found = run_by_rid(rid);
  if (!found) {
    return found.error();
  }
  const auto& run = *found;
  std::vector<Orphan> orphans;
  if (auto r = recover_in_tx(rid, run.settings, me, is_alive, now_ms, false, orphans); !r) {
    return r.error();
  }
  if (!run.holder.empty() && !is_alive(run.holder) && me > 0) {
    // The holder is gone: this live agent holds the run now.
    if (auto r = run_sql(m_db,
                         "UPDATE runs SET (holder_pid, holder_host, holder_start, "
                         "heartbeat_at) = (SELECT "
                         "pid, host, start_time, heartbeat_at FROM agents WHERE aid = "
                         "?2) WHERE rid = ?1",
                         rid, me);
        !r) {
      return r.error();
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return orphans;
}

util::Result<void> SqliteStore::end_agent(int64_t aid, AgentState state, int64_t now_ms) {
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET state = ?3, stopped_at = ?2 "
                       "WHERE aid = ?1 AND state = 'running'",
                       aid, now_ms, to_string(state));
      !r) {
    return r;
  }
  return run_sql(m_db, "DELETE FROM slot_leases WHERE aid = ?1", aid);
}

util::Result<void> SqliteStore::stop_agent(int64_t aid, int64_t now_ms) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  if (auto r = end_agent(aid, AgentState::stopped, now_ms); !r) {
    return r;
  }
  return tx->commit();
}

util::Result<std::vector<AgentRecord>> SqliteStore::agents(int64_t rid) {
  auto st = Statement::prepare(
      m_db, "SELECT a.aid, a.rid, r.id, a.host, a.pid, a.start_time, a.heartbeat_at, "
            "a.heartbeat_ms, a.user, a.slots, a.started_at, a.state, a.stopped_at, "
            "a.slot_states FROM agents a JOIN runs r ON r.rid = a.rid "
            "WHERE ?1 = 0 OR a.rid = ?1 ORDER BY a.aid DESC");
  if (!st) {
    return st.error();
  }
  std::vector<AgentRecord> out;
  auto r = st->bind(1, rid).each([&](Statement& row) {
    AgentRecord a;
    a.aid = row.int64(0);
    a.rid = row.int64(1);
    a.run_id = row.text(2);
    a.who.host = row.text(3);
    a.who.pid = row.int64(4);
    a.who.start_time = row.int64(5);
    a.who.heartbeat_at = row.int64(6);
    a.who.heartbeat_ms = row.int64(7);
    a.user = row.text(8);
    a.who.user = a.user;
    a.slots = row.int64(9);
    a.started_at = row.int64(10);
    a.state = parse_agent_state(row.text(11)).value_or(AgentState::offline);
    a.stopped_at = row.optional_int64(12).value_or(0);
    a.slot_states = row.text(13);
    out.push_back(std::move(a));
  });
  if (!r) {
    return r.error();
  }
  return out;
}

namespace {

Claim read_claim(const Statement& row) {
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
  c.lock = row.text(10);
  return c;
}

} // namespace

util::Result<const SqliteStore::RunLimits*> SqliteStore::run_limits(int64_t rid) {
  if (auto it = m_run_limits.find(rid); it != m_run_limits.end()) {
    return &it->second;
  }
  auto st = Statement::prepare(m_db, "SELECT settings FROM runs WHERE rid = ?1");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return util::Error{"run vanished from the store"};
  }
  auto settings = decode_settings(st->text(0));
  st->reset();
  if (!settings) {
    return settings.error();
  }
  RunLimits l;
  l.limits = settings->limits;
  l.job_locks = !settings->job_lock.empty();
  return &m_run_limits.emplace(rid, std::move(l)).first->second;
}

util::Result<int64_t> SqliteStore::scalar(Statement& st) {
  auto row = st.step();
  if (!row) {
    return row.error();
  }
  const int64_t v = *row ? st.int64(0) : 0;
  st.reset();
  return v;
}

util::Result<void> SqliteStore::promote_key(int64_t rid, const std::string& key, int64_t n,
                                            bool include_timed, CommitResult& out) {
  m_promote_key.bind(1, rid).bind(2, key).bind(3, n).bind(4, include_timed ? int64_t{1} : 0);
  if (auto r = m_promote_key.run(); !r) {
    return r.error();
  }
  const int64_t moved = sqlite3_changes(m_db.handle());
  out.moved[core::JobState::waiting] -= moved;
  out.moved[core::JobState::pending] += moved;
  return {};
}

util::Result<void> SqliteStore::apply_update(int64_t rid, const Update& u, const RunLimits& rl,
                                             const Owner& owner, int64_t now_ms,
                                             CommitResult& out) {
  if (u.kind == Update::Kind::started) {
    return m_set_pid.bind(1, u.pid).bind(2, u.jid).bind(3, owner.aid).run();
  }
  const auto& o = u.outcome;
  m_finish.bind(1, core::to_string(u.state));
  m_finish.bind(2, o.exit_code >= 0 ? std::optional<int64_t>(o.exit_code) : std::nullopt);
  m_finish.bind(3, o.signal > 0 ? std::optional<int64_t>(o.signal) : std::nullopt);
  if (o.error.empty()) {
    m_finish.bind_null(4);
  } else {
    m_finish.bind(4, o.error);
  }
  if (!u.error_type.empty()) {
    m_finish.bind(5, u.error_type);
  } else if (!o.error.empty()) {
    m_finish.bind(5, core::to_string(o.type));
  } else {
    m_finish.bind_null(5);
  }
  m_finish.bind(6, u.finished_at).bind(7, u.retry_at);
  m_finish.bind(8, static_cast<int64_t>(u.uncounted ? 1 : 0));
  m_finish.bind(10, u.pid > 0 ? std::optional<int64_t>(u.pid) : std::nullopt);
  if (auto r = m_finish.bind(9, u.jid).bind(11, owner.aid).run(); !r) {
    return r;
  }
  if (u.halt_until > 0) {
    // Every agent's next commit sees this and claims nothing until then.
    m_halt.bind(1, rid).bind(2, u.halt_until).bind(3, u.halt_reason).bind(4, now_ms);
    if (auto r = m_halt.run(); !r) {
      return r;
    }
  }
  if (!u.key.empty() && rl.limits.per_key_daily > 0 &&
      rl.limits.count == core::CapCount::successes && u.state == core::JobState::succeeded) {
    const auto w = core::day_window(u.claimed_at > 0 ? u.claimed_at : now_ms,
                                    rl.limits.day_start_min, rl.limits.timezone);
    if (auto r = m_count_key.bind(1, rid).bind(2, u.key).bind(3, w.start_ms).run(); !r) {
      return r;
    }
  }
  if (u.block_key && !u.key.empty()) {
    // The key is unusable: its other unfinished jobs are skipped, with why.
    const std::string why = "key " + u.key + " blocked: job failed with " +
                            (u.error_type.empty() ? std::string(core::to_string(o.type))
                                                  : u.error_type);
    for (auto state : {core::JobState::pending, core::JobState::waiting, core::JobState::retrying,
                       core::JobState::interrupted}) {
      m_block_key.bind(1, rid).bind(2, u.key).bind(3, core::to_string(state)).bind(4, why)
          .bind(5, now_ms);
      if (auto r = m_block_key.run(); !r) {
        return r;
      }
      const int64_t n = sqlite3_changes(m_db.handle());
      out.moved[state] -= n;
      out.moved[core::JobState::skipped] += n;
    }
  }
  if (!u.key.empty() && (rl.limits.per_key > 0 || rl.limits.per_key_daily > 0)) {
    // A place for the key may have opened: the jobs waiting on it get it.
    const bool by_successes = rl.limits.count == core::CapCount::successes &&
                              rl.limits.per_key_daily > 0 && u.state != core::JobState::succeeded;
    if (auto r = promote_key(rid, u.key, std::max<int64_t>(1, rl.limits.per_key), by_successes, out);
        !r) {
      return r;
    }
  }
  if (!u.lock.empty()) {
    if (auto r = m_unlock.bind(1, u.lock).bind(2, u.jid).run(); !r) {
      return r;
    }
    // The first job waiting on the lock, in any run, may now take it.
    m_promote_lock.bind(1, u.lock);
    std::optional<int64_t> woke_rid;
    auto woke = m_promote_lock.each([&](Statement& row) { woke_rid = row.int64(0); });
    if (!woke) {
      return woke;
    }
    if (woke_rid && *woke_rid == rid) {
      out.moved[core::JobState::waiting] -= 1;
      out.moved[core::JobState::pending] += 1;
    }
  }
  return {};
}

util::Result<void> SqliteStore::hold_back(const Claim& c, const std::string& why, int64_t until,
                                          CommitResult& out) {
  if (auto r = m_hold.bind(1, why).bind(2, until).bind(3, c.jid).run(); !r) {
    return r;
  }
  out.moved[c.from] -= 1;
  out.moved[core::JobState::waiting] += 1;
  return {};
}

util::Result<std::optional<core::Hold>> SqliteStore::blocked(int64_t rid, const Claim& c,
                                                            const RunLimits& rl,
                                                            const core::DayWindow& window) {
  using Blocked = std::optional<core::Hold>;
  const auto& l = rl.limits;
  if (!c.key.empty() && (l.per_key > 0 || l.per_key_daily > 0)) {
    core::KeyUsage use;
    m_key_running.bind(1, rid).bind(2, c.key);
    auto running = scalar(m_key_running);
    if (!running) {
      return running.error();
    }
    use.running = *running;
    // A key at its concurrency limit is held whatever its count says.
    if (l.per_key_daily > 0 && !(l.per_key > 0 && use.running >= l.per_key)) {
      m_key_count.bind(1, rid).bind(2, c.key).bind(3, window.start_ms);
      auto counted = scalar(m_key_count);
      if (!counted) {
        return counted.error();
      }
      use.counted = *counted;
    }
    if (auto holds = core::key_holds(l, c.key, use, window); !holds.empty()) {
      return Blocked(std::move(holds.front()));
    }
  }
  if (!c.lock.empty()) {
    m_lock_holder.bind(1, c.lock);
    Blocked held;
    auto r = m_lock_holder.each([&](Statement& row) {
      if (row.int64(4) == rid && row.is_null(5)) {
        return; // the run itself holds this name: its jobs may use it
      }
      held = core::Hold{
          core::describe_lock({c.lock, row.text(0), row.text(1), row.text(2), row.int64(3)}), 0};
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

util::Result<void> SqliteStore::take(int64_t rid, Claim& c, int64_t slot, const RunLimits& rl,
                                     const Owner& owner, const core::DayWindow& window,
                                     int64_t now_ms) {
  c.slot = slot;
  c.claimed_at = now_ms;
  if (auto r = m_claim.bind(1, slot).bind(2, now_ms).bind(3, c.jid).bind(4, owner.aid)
                   .bind(5, owner.lease_until).run();
      !r) {
    return r;
  }
  if (!c.lock.empty()) {
    if (auto r = m_lock_job.bind(1, c.lock).bind(2, rid).bind(3, c.jid).bind(4, now_ms).run(); !r) {
      return r;
    }
  }
  if (!c.key.empty() && rl.limits.per_key_daily > 0 &&
      rl.limits.count == core::CapCount::attempts) {
    if (auto r = m_count_key.bind(1, rid).bind(2, c.key).bind(3, window.start_ms).run(); !r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqliteStore::claim_limited(int64_t rid, const std::vector<int64_t>& free_slots,
                                              const RunLimits& rl, const Owner& owner,
                                              int64_t now_ms, CommitResult& out) {
  const auto& l = rl.limits;
  core::DayWindow window;
  if (l.per_key_daily > 0) {
    window = core::day_window(now_ms, l.day_start_min, l.timezone);
  }
  int64_t next_start_us = 0;
  if (l.rate_interval_us > 0) {
    m_next_start.bind(1, rid);
    auto v = scalar(m_next_start);
    if (!v) {
      return v.error();
    }
    next_start_us = *v;
  }
  const int64_t now_us = now_ms * 1000;
  const size_t want = free_slots.size();
  // Candidates in batches: each is claimed or moved to waiting, so the next
  // batch starts after it, and a held-back job is read once.
  const int64_t batch = static_cast<int64_t>(std::max<size_t>(want * 2, 16));
  for (Statement* select : {&m_select_due_retries, &m_select_pending}) {
    for (;;) {
      if (out.claims.size() >= want) {
        return {};
      }
      std::vector<Claim> candidates;
      select->bind(1, rid).bind(2, now_ms).bind(3, batch);
      auto read = select->each([&](Statement& row) { candidates.push_back(read_claim(row)); });
      if (!read) {
        return read;
      }
      for (auto& c : candidates) {
        if (out.claims.size() >= want) {
          return {};
        }
        if (l.rate_interval_us > 0 && next_start_us > now_us) {
          out.wake_at = (next_start_us + 999) / 1000;
          return {}; // the run's start rate: nothing more starts before then
        }
        auto why = blocked(rid, c, rl, window);
        if (!why) {
          return why.error();
        }
        if (*why) {
          if (auto r = hold_back(c, (*why)->reason, (*why)->until, out); !r) {
            return r;
          }
          continue;
        }
        if (auto r = take(rid, c, free_slots[out.claims.size()], rl, owner, window, now_ms); !r) {
          return r;
        }
        if (l.rate_interval_us > 0) {
          next_start_us = std::max(next_start_us, now_us) + l.rate_interval_us;
          m_set_next_start.bind(1, rid).bind(2, next_start_us);
          if (auto r = m_set_next_start.run(); !r) {
            return r;
          }
        }
        out.claims.push_back(std::move(c));
      }
      if (static_cast<int64_t>(candidates.size()) < batch) {
        break;
      }
    }
  }
  return {};
}

util::Result<SqliteStore::Owner> SqliteStore::owner_of(int64_t aid, int64_t now_ms) {
  // Claims are the agent's, under a lease its heartbeats renew; results
  // apply only to jobs it still owns.
  Owner owner;
  if (aid > 0) {
    auto lease = lease_ms_of(aid);
    if (!lease) {
      return lease.error();
    }
    owner.aid = aid;
    owner.lease_until = now_ms + *lease;
  }
  return owner;
}

util::Result<void> SqliteStore::record_in_tx(int64_t rid, const std::vector<Update>& updates,
                                             const RunLimits& rl, const Owner& owner,
                                             int64_t now_ms, CommitResult& out) {
  for (const auto& u : updates) {
    if (auto r = apply_update(rid, u, rl, owner, now_ms, out); !r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqliteStore::claim_in_tx(int64_t rid, const std::vector<int64_t>& free_slots,
                                            const RunLimits& rl, const Owner& owner,
                                            int64_t now_ms, CommitResult& out) {
  if (free_slots.empty()) {
    return {};
  }
  // A halted run claims nothing until its cooldown ends; then it runs again.
  m_halt_state.bind(1, rid);
  int64_t resume_at = 0;
  auto read = m_halt_state.each([&](Statement& row) {
    resume_at = row.optional_int64(0).value_or(0);
    out.halt_reason = row.text(1);
  });
  if (!read) {
    return read;
  }
  if (resume_at > now_ms) {
    out.halted_until = resume_at;
  } else {
    out.halt_reason.clear();
    if (resume_at > 0) {
      if (auto r = m_unhalt.bind(1, rid).bind(2, now_ms).run(); !r) {
        return r;
      }
    }
    const bool limited = rl.limits.any() || rl.job_locks;
    if (limited) {
      if (rl.job_locks && now_ms - m_lock_sweep[rid] >= 1000) {
        // Once a second, jobs waiting on a lock that is free again wake up,
        // whoever freed it (a run that ended, an agent that was recovered).
        m_lock_sweep[rid] = now_ms;
        if (auto r = m_wake_free_locks.bind(1, rid).run(); !r) {
          return r;
        }
        const int64_t woke = sqlite3_changes(m_db.handle());
        out.moved[core::JobState::waiting] -= woke;
        out.moved[core::JobState::pending] += woke;
      }
      // Jobs whose day window has opened may be claimed again.
      m_wake_due.bind(1, rid).bind(2, now_ms);
      if (auto r = m_wake_due.run(); !r) {
        return r;
      }
      const int64_t woke = sqlite3_changes(m_db.handle());
      out.moved[core::JobState::waiting] -= woke;
      out.moved[core::JobState::pending] += woke;
      if (auto r = claim_limited(rid, free_slots, rl, owner, now_ms, out); !r) {
        return r;
      }
      if (out.claims.size() < free_slots.size()) {
        m_next_wake.bind(1, rid);
        auto next = scalar(m_next_wake);
        if (!next) {
          return next.error();
        }
        if (*next > 0 && (out.wake_at == 0 || *next < out.wake_at)) {
          out.wake_at = *next;
        }
      }
    } else {
      size_t next_slot = 0;
      const auto want = static_cast<int64_t>(free_slots.size());
      if (auto r = claim_into(rid, m_select_due_retries, want, free_slots, owner, next_slot, now_ms,
                              out.claims);
          !r) {
        return r;
      }
      const auto left = want - static_cast<int64_t>(out.claims.size());
      if (left > 0) {
        if (auto r = claim_into(rid, m_select_pending, left, free_slots, owner, next_slot, now_ms,
                                out.claims);
            !r) {
          return r;
        }
      }
    }
  }
  return {};
}

util::Result<CommitResult> SqliteStore::in_tx(int64_t rid, const std::vector<Update>& updates,
                                              const std::vector<int64_t>& free_slots,
                                              int64_t now_ms, int64_t aid) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto rl = run_limits(rid);
  if (!rl) {
    return rl.error();
  }
  auto owner = owner_of(aid, now_ms);
  if (!owner) {
    return owner.error();
  }
  CommitResult out;
  if (auto r = record_in_tx(rid, updates, **rl, *owner, now_ms, out); !r) {
    return r.error();
  }
  if (auto r = claim_in_tx(rid, free_slots, **rl, *owner, now_ms, out); !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<CommitResult> SqliteStore::record(int64_t rid, const std::vector<Update>& updates,
                                               int64_t now_ms, int64_t aid) {
  return in_tx(rid, updates, {}, now_ms, aid);
}

util::Result<CommitResult> SqliteStore::claim(int64_t rid, const std::vector<int64_t>& free_slots,
                                              int64_t now_ms, int64_t aid) {
  return in_tx(rid, {}, free_slots, now_ms, aid);
}

util::Result<CommitResult> SqliteStore::commit(int64_t rid, const std::vector<Update>& updates,
                                               const std::vector<int64_t>& free_slots,
                                               int64_t now_ms, int64_t aid) {
  return in_tx(rid, updates, free_slots, now_ms, aid);
}

util::Result<void> SqliteStore::claim_into(int64_t rid, Statement& select, int64_t limit,
                                           const std::vector<int64_t>& free_slots,
                                           const Owner& owner, size_t& next_slot, int64_t now_ms,
                                           std::vector<Claim>& out) {
  select.bind(1, rid).bind(2, now_ms).bind(3, limit);
  const size_t first = out.size();
  auto read = select.each([&](Statement& row) { out.push_back(read_claim(row)); });
  if (!read) {
    return read.error();
  }
  for (size_t i = first; i < out.size(); ++i) {
    out[i].slot = free_slots[next_slot++];
    out[i].claimed_at = now_ms;
    if (auto r = m_claim.bind(1, out[i].slot).bind(2, now_ms).bind(3, out[i].jid)
                     .bind(4, owner.aid).bind(5, owner.lease_until).run();
        !r) {
      return r.error();
    }
  }
  return {};
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

util::Result<void> SqliteStore::release_locks(int64_t rid, bool keep_running) {
  auto names = Statement::prepare(
      m_db, keep_running ? "DELETE FROM locks WHERE rid = ?1 AND (jid IS NULL OR jid NOT IN "
                           "(SELECT jid FROM jobs WHERE rid = ?1 AND state = 'running')) "
                           "RETURNING name"
                         : "DELETE FROM locks WHERE rid = ?1 RETURNING name");
  if (!names) {
    return names.error();
  }
  std::vector<std::string> freed;
  if (auto r = names->bind(1, rid).each([&](Statement& row) { freed.push_back(row.text(0)); }); !r) {
    return r;
  }
  for (const auto& name : freed) {
    // Whoever waits first on the name may take it now.
    if (auto r = m_promote_lock.bind(1, name).each([](Statement&) {}); !r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqliteStore::release(int64_t rid, core::RunState state) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  const int64_t now = util::now_ms();
  // The holder's own agent stops with it.
  auto self = Statement::prepare(
      m_db, "SELECT a.aid FROM agents a JOIN runs r ON r.rid = a.rid WHERE r.rid = ?1 AND "
            "a.state = 'running' AND a.pid = r.holder_pid AND a.host = r.holder_host AND "
            "a.start_time = r.holder_start");
  if (!self) {
    return self.error();
  }
  std::vector<int64_t> stopped;
  if (auto r = self->bind(1, rid).each([&](Statement& row) { stopped.push_back(row.int64(0)); });
      !r) {
    return r;
  }
  for (int64_t aid : stopped) {
    if (auto r = end_agent(aid, AgentState::stopped, now); !r) {
      return r;
    }
  }
  // Another live agent carries on: it becomes the holder, and the run stays.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET (holder_pid, holder_host, holder_start, heartbeat_at) = "
          "(SELECT "
          "pid, host, start_time, heartbeat_at FROM agents WHERE rid = ?1 AND state = "
          "'running' AND heartbeat_at > ?2 - ?3 * heartbeat_ms ORDER BY aid LIMIT 1), "
          "updated_at = ?2 WHERE rid = ?1 AND EXISTS (SELECT 1 FROM agents WHERE rid = "
          "?1 AND "
          "state = 'running' AND heartbeat_at > ?2 - ?3 * heartbeat_ms)",
          rid, now, core::k_missed_beats);
      !r) {
    return r;
  }
  if (sqlite3_changes(m_db.handle()) > 0) {
    return tx->commit();
  }
  if (auto r = release_locks(rid, false); !r) {
    return r;
  }
  if (state == core::RunState::paused) {
    // An agent that left early may have counted another's last jobs as
    // unfinished: a run with nothing unfinished is complete.
    auto left = Statement::prepare(
        m_db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE rid = ?1 AND state IN ('pending', "
              "'retrying', 'running', 'waiting', 'interrupted'))");
    if (!left) {
      return left.error();
    }
    left->bind(1, rid);
    auto any = scalar(*left);
    if (!any) {
      return any.error();
    }
    if (*any == 0) {
      state = core::RunState::completed;
    }
  }
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET holder_pid = NULL, holder_host = NULL, holder_start = NULL, "
          "state = ?2, updated_at = ?3, rate = 0 WHERE rid = ?1",
          rid, core::to_string(state), util::now_ms());
      !r) {
    return r;
  }
  return tx->commit();
}

util::Result<std::vector<LockRecord>> SqliteStore::locks() {
  return query_locks("", "");
}

util::Result<std::vector<LockRecord>> SqliteStore::query_locks(std::string_view where,
                                                               const std::string& name) {
  auto st = Statement::prepare(
      m_db, "SELECT l.name, l.rid, r.id, r.name, j.id, l.since, r.holder_pid, r.holder_host, "
            "r.holder_start, r.heartbeat_at FROM locks l JOIN runs r ON r.rid = l.rid "
            "LEFT JOIN jobs j ON j.jid = l.jid " + std::string(where) + " ORDER BY l.name");
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

util::Result<KeyUsage> SqliteStore::key_usage(int64_t rid, const std::string& key,
                                              int64_t window_start) {
  KeyUsage u;
  m_key_running.bind(1, rid).bind(2, key);
  auto running = scalar(m_key_running);
  if (!running) {
    return running.error();
  }
  u.running = *running;
  m_key_count.bind(1, rid).bind(2, key).bind(3, window_start);
  auto counted = scalar(m_key_count);
  if (!counted) {
    return counted.error();
  }
  u.counted = *counted;
  return u;
}

util::Result<void> SqliteStore::set_run_state(int64_t rid, core::RunState state) {
  return run_sql(m_db, "UPDATE runs SET state = ?2, updated_at = ?3 WHERE rid = ?1", rid,
                 core::to_string(state), util::now_ms());
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
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return changed;
}

} // namespace muster::store::sqlite

namespace muster::store::sqlite {

util::Result<Control> SqliteStore::control(int64_t rid) {
  m_read_control.bind(1, rid);
  Control c;
  auto r = m_read_control.each([&](Statement& row) {
    c.request = parse_control_request(row.text(0)).value_or(ControlRequest::none);
    c.target_slots = row.optional_int64(1).value_or(0);
    c.generation = row.int64(2);
    c.resume_at = row.int64(3);
  });
  if (!r) {
    return r.error();
  }
  return c;
}

util::Result<void> SqliteStore::set_control(int64_t rid, std::optional<ControlRequest> request,
                                            std::optional<int64_t> target_slots, bool lift_halt,
                                            const Event& event) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  // An empty request is stored as NULL; no request keeps the stored one.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET control = CASE WHEN ?5 THEN nullif(?2, '') ELSE control "
          "END, target_slots = coalesce(?3, target_slots), updated_at = ?4 "
          "WHERE rid = ?1",
          rid, to_string(request.value_or(ControlRequest::none)), target_slots, event.at,
          static_cast<int64_t>(request.has_value()));
      !r) {
    return r;
  }
  if (lift_halt) {
    if (auto r = m_unhalt.bind(1, rid).bind(2, event.at).run(); !r) {
      return r;
    }
  }
  if (auto r = add_event(rid, event); !r) {
    return r;
  }
  return tx->commit();
}

util::Result<void> SqliteStore::add_event(int64_t rid, const Event& e) {
  return run_sql(
      m_db,
      "INSERT INTO events (rid, at, host, user, pid, action, detail) VALUES (?1, ?2, "
      "?3, ?4, ?5, ?6, ?7)",
      rid, e.at, e.host, e.user, e.pid, e.action, e.detail);
}

util::Result<std::vector<Event>> SqliteStore::events(int64_t rid) {
  auto st = Statement::prepare(m_db, "SELECT at, host, user, pid, action, detail FROM events "
                                     "WHERE rid = ?1 ORDER BY eid");
  if (!st) {
    return st.error();
  }
  std::vector<Event> out;
  auto r = st->bind(1, rid).each([&](Statement& row) {
    out.push_back(Event{row.int64(0), row.text(1), row.text(2), row.int64(3), row.text(4),
                        row.text(5)});
  });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<int64_t>
SqliteStore::add_jobs(int64_t rid, const std::function<util::Result<bool>(NewJob&)>& next) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto last = Statement::prepare(m_db, "SELECT coalesce(max(seq), 0), "
                                       "json_extract(r.settings, '$.max_attempts'), r.state "
                                       "FROM runs r "
                                       "LEFT JOIN jobs j ON j.rid = r.rid WHERE r.rid = ?1");
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
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET total = total + ?2, generation = generation + 1, updated_at = ?3, "
          "state = ?4 WHERE rid = ?1",
          rid, *added, util::now_ms(), core::to_string(state));
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return *added;
}

util::Result<int64_t> SqliteStore::cancel_rest(int64_t rid, int64_t now_ms) {
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
  return static_cast<int64_t>(sqlite3_changes(m_db.handle()));
}

} // namespace muster::store::sqlite

namespace muster::store::sqlite {

util::Result<void> SqliteStore::delete_run(int64_t rid) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  for (const char* table : {"jobs", "events", "agents", "key_counts", "locks", "slot_leases",
                            "runs"}) {
    if (auto r =
            run_sql(m_db, std::string("DELETE FROM ") + table + " WHERE rid = ?1", rid);
        !r) {
      return r;
    }
  }
  m_run_limits.erase(rid);
  return tx->commit();
}

} // namespace muster::store::sqlite

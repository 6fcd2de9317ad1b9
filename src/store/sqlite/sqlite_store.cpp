// Opening the store, preparing each part's statements, and what the parts
// share: durability, a run's limits, one-value queries.

#include "store/sqlite/sqlite_store.hpp"

#include "store/codec.hpp"
#include "store/sqlite/schema.hpp"

#include <cerrno>
#include <cstring>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::store::sqlite {

namespace {

util::Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    const int err = errno;
    return util::Error{"cannot create store directory " + path + ": " +
                           std::strerror(err) +
                           "; pass --store DIR on a filesystem this user can write",
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
      return util::Error{"no store at " + dir +
                             ": run `muster run` here first, or pass --store DIR",
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
  // is told "locked" without waiting: try again for a while. Any other
  // error (a damaged or read-only file) is final at once.
  for (int tries = 0;; ++tries) {
    auto r = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (r) {
      break;
    }
    const int code = sqlite3_extended_errcode(db->handle()) & 0xff;
    if (tries >= 100 || (code != SQLITE_BUSY && code != SQLITE_LOCKED)) {
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
  // Each part prepares its own statements, once per connection.
  for (auto r :
       {m_claims.prepare(m_db, m_per_turn_sql), m_results.prepare(m_db, m_per_turn_sql),
        m_limits.prepare(m_db, m_per_turn_sql), m_locks.prepare(m_db, m_per_turn_sql),
        m_control.prepare(m_db, m_per_turn_sql)}) {
    if (!r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqliteStore::set_durability(Durability d) {
  return m_db.exec(d == Durability::full ? "PRAGMA synchronous=FULL"
                                         : "PRAGMA synchronous=NORMAL");
}

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
    return util::Error{"run vanished from the store", util::ErrorKind::not_found};
  }
  auto settings = decode_settings(st->text(0));
  st->reset();
  if (!settings) {
    return settings.error();
  }
  RunLimits l;
  l.limits = settings->limits;
  auto zone = util::TimeZone::load(l.limits.timezone);
  if (!zone) {
    return zone.error();
  }
  l.zone = std::move(*zone);
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

} // namespace muster::store::sqlite

// Opening the store, preparing each part's statements, and what the parts
// share: durability, a run's limits, one-value queries.

#include "store/sqlite/sqlite_store.hpp"

#include "store/codec.hpp"
#include "store/sqlite/schema.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::store::sqlite {

namespace {

util::Result<void> make_dir(const std::string& path) {
  // The umask gives the store its mode (0700 unless --store-mode widens it).
  if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
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

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

/// 0 when this user may write `path`, else why not (EACCES, EROFS, ...).
int write_denied(const std::string& path) {
  return ::access(path.c_str(), W_OK) == 0 ? 0 : errno;
}

std::string mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "?";
  }
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return text;
}

/// Refuses, before SQLite opens it, a store this user cannot write. SQLite
/// would fall back to reading it, and create its -wal and -shm files with the
/// database's read-only mode: those would keep the store broken after the
/// database is made writable again.
util::Result<void> check_writable(const std::string& dir, const std::string& db) {
  const std::string head = "cannot open store " + db + " for writing: ";
  const std::string fix = "; check that this user may write its directory and files";
  if (const int err = write_denied(dir); err == EROFS) {
    return util::Error{
        head + "it cannot be written: the filesystem is mounted read-only" + fix,
        util::ErrorKind::store_unavailable};
  }
  if (exists(db) && write_denied(db) == EACCES) {
    return util::Error{head + "it cannot be written: " + db + " is read-only (mode " +
                           mode_of(db) +
                           ") for this user; make it writable (`chmod u+w " + db +
                           "`), or use a read-only command such as `muster list`",
                       util::ErrorKind::store_unavailable};
  }
  std::string stuck;
  std::string mode;
  for (const std::string& f : {db + "-wal", db + "-shm"}) {
    if (exists(f) && write_denied(f) == EACCES) {
      stuck += (stuck.empty() ? "" : " ") + f;
      mode = mode_of(f);
    }
  }
  if (!stuck.empty()) {
    return util::Error{
        head + "it cannot be written: " + stuck + " are read-only (mode " + mode +
            ") while the database is not; they were left so while the "
            "database was read-only. Give them its mode: `chmod --reference=" +
            db + " " + stuck + "`",
        util::ErrorKind::store_unavailable};
  }
  if (write_denied(dir) == EACCES &&
      (!exists(db) || !exists(db + "-wal") || !exists(db + "-shm"))) {
    return util::Error{head + "it cannot be written: this user may not create files in " +
                           dir + fix,
                       util::ErrorKind::store_unavailable};
  }
  return {};
}

/// Creates an empty database file with the umask's mode: SQLite would give a
/// new file 0644 whatever the umask, and its -wal and -shm files copy it.
void create_db_file(const std::string& db) {
  const int fd = ::open(db.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd >= 0) {
    ::close(fd);
  }
}

/// How a reader opens `db`: frozen when the -wal file is absent (so the file
/// holds every commit) and SQLite could not make the -wal and -shm files, or
/// would make them with a read-only database's mode.
OpenMode read_mode(const std::string& dir, const std::string& db) {
  if (!exists(db + "-wal") && (write_denied(db) != 0 || write_denied(dir) != 0)) {
    return OpenMode::frozen;
  }
  return OpenMode::read_only;
}

/// Runs the check `pragma`, handing each row to `on_row`. Damage that stops
/// it is one more problem in `found` (once), not an error.
util::Result<void> run_check(Db& db, std::string_view pragma,
                             std::vector<std::string>& found,
                             const std::function<void(Statement&)>& on_row) {
  util::Result<void> read;
  if (auto st = Statement::prepare(db, pragma); st) {
    read = st->each(on_row);
  } else {
    read = st.error();
  }
  if (!read && read.error().kind != util::ErrorKind::corrupt) {
    return read.error();
  }
  const std::string stopped =
      std::string("reading stopped: ") + sqlite3_errmsg(db.handle());
  if (!read && std::find(found.begin(), found.end(), stopped) == found.end()) {
    found.push_back(stopped);
  }
  return {};
}

/// The problems an integrity pragma finds, one line each.
util::Result<std::vector<std::string>> problems(Db& db, std::string_view pragma) {
  std::vector<std::string> found;
  auto r = run_check(db, pragma, found, [&found](Statement& row) {
    std::string line = row.text(0);
    if (line.rfind("*** in database main ***\n", 0) == 0) {
      line.erase(0, line.find('\n') + 1);
    }
    std::replace(line.begin(), line.end(), '\n', ' ');
    if (line != "ok") {
      found.push_back(line);
    }
  });
  if (!r) {
    return r.error();
  }
  return found;
}

/// Refuses to write to a damaged database. SQLite finds damage only on the
/// pages a statement reads, and a new run writes mostly new pages; the quick
/// check reads them all (see docs/store.md for its cost).
util::Result<void> refuse_damaged(Db& db) {
  const Doing doing(db, "check it for damage");
  auto found = problems(db, "PRAGMA quick_check(1)");
  if (!found) {
    return found.error();
  }
  if (!found->empty()) {
    return util::Error{"store " + db.path() + " is damaged (" + found->front() +
                           "); muster writes nothing to a damaged store. `muster check` "
                           "lists what is damaged; " +
                           damaged_advice(db.path()),
                       util::ErrorKind::corrupt};
  }
  return {};
}

} // namespace

util::Result<std::unique_ptr<SqliteStore>>
SqliteStore::open(const std::string& dir, Create create, Access access) {
  struct stat st {};
  const std::string path = dir + "/muster.db";
  if (::stat(dir.c_str(), &st) != 0 || (access == Access::read_only && !exists(path))) {
    if (create == Create::no || access == Access::read_only) {
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
  if (access == Access::read_only) {
    return open_read_only(dir);
  }
  if (auto r = check_writable(dir, path); !r) {
    return r.error();
  }
  if (auto r = make_dir(dir + "/runs"); !r) {
    return r.error();
  }
  create_db_file(path);
  auto db = Db::open(path, OpenMode::read_write);
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
  if (auto r = refuse_damaged(*db); !r) {
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

util::Result<std::unique_ptr<SqliteStore>>
SqliteStore::open_read_only(const std::string& dir) {
  const std::string path = dir + "/muster.db";
  if (exists(path + "-journal") && write_denied(path) == 0 && write_denied(dir) == 0) {
    // A store whose creation was cut short (kill -9) keeps a hot rollback
    // journal, which only a writer may roll back: a reader would fail with
    // "attempt to write a readonly database". Open as a writer, which
    // finishes that recovery, as the next `muster run` would.
    return open(dir, Create::no, Access::read_write);
  }
  auto db = Db::open(path, read_mode(dir, path));
  if (!db) {
    return db.error();
  }
  auto version = schema_version(*db);
  if (!version) {
    return version.error();
  }
  if (*version < current_schema_version()) {
    // An older store is upgraded first, which takes a writer.
    return open(dir, Create::no, Access::read_write);
  }
  if (*version > current_schema_version()) {
    return newer_schema(db->path(), *version);
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(*db), dir));
  if (auto r = store->prepare_statements(); !r) {
    return r.error();
  }
  return store;
}

SqliteStore::~SqliteStore() = default;

util::Result<CheckReport> SqliteStore::check() {
  const Doing doing(m_db, "check every page");
  auto found = problems(m_db, "PRAGMA integrity_check");
  if (!found) {
    return found.error();
  }
  auto keys = run_check(m_db, "PRAGMA foreign_key_check", *found, [&](Statement& row) {
    found->push_back("table " + row.text(0) + ": row " + row.text(1) +
                     " refers to a missing row of " + row.text(2));
  });
  if (!keys) {
    return keys.error();
  }
  return CheckReport{m_db.path(), std::move(*found), damaged_advice(m_db.path())};
}

util::Result<void> SqliteStore::prepare_statements() {
  const Doing doing(m_db, "read the schema");
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
  const Doing doing(m_db, "set the durability");
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
  l.job_locks = !settings->job_locks.empty();
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

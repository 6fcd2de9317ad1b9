// Opening the embedded store: its directory, the checks before writing,
// WAL mode and the schema.

#include "store/sqlite/sqlite_store.hpp"

#include "store/sqlite/connection.hpp"
#include "store/sqlite/schema.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
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

/// Refuses to write to a damaged database. SQLite finds damage only on the
/// pages a statement reads, and a new run writes mostly new pages; the quick
/// check reads them all (see docs/store.md for its cost).
util::Result<void> refuse_damaged(Connection& db) {
  db.doing = "check it for damage";
  auto found = problems(db, "PRAGMA quick_check(1)");
  if (!found) {
    return found.error();
  }
  if (!found->empty()) {
    return util::Error{"store " + db.where() + " is damaged (" + found->front() +
                           "); muster writes nothing to a damaged store. `muster check` "
                           "lists what is damaged; " +
                           damaged_advice(db.where()),
                       util::ErrorKind::corrupt};
  }
  return {};
}

util::Result<std::unique_ptr<sql::SqlStore>> open_read_only(const std::string& dir);

} // namespace

util::Result<std::unique_ptr<sql::SqlStore>> open(const std::string& dir, Create create,
                                                  Access access) {
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
  auto db = Connection::open(path, OpenMode::read_write);
  if (!db) {
    return db.error();
  }
  // WAL lets readers in other terminals see the run while it commits. Two
  // processes opening a new store at once race to switch it, and the loser
  // is told "locked" without waiting: try again for a while. Any other
  // error (a damaged or read-only file) is final at once.
  for (int tries = 0;; ++tries) {
    auto r = (*db)->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (r) {
      break;
    }
    const int code = sqlite3_extended_errcode((*db)->handle()) & 0xff;
    if (tries >= 100 || (code != SQLITE_BUSY && code != SQLITE_LOCKED)) {
      return r.error();
    }
    ::usleep(50'000);
  }
  if (auto r = refuse_damaged(**db); !r) {
    return r.error();
  }
  sql::Db conn(std::move(*db));
  if (auto r = migrate(conn); !r) {
    return r.error();
  }
  return sql::SqlStore::make(std::move(conn), dir);
}

namespace {

util::Result<std::unique_ptr<sql::SqlStore>> open_read_only(const std::string& dir) {
  const std::string path = dir + "/muster.db";
  if (exists(path + "-journal") && write_denied(path) == 0 && write_denied(dir) == 0) {
    // A store whose creation was cut short (kill -9) keeps a hot rollback
    // journal, which only a writer may roll back: a reader would fail with
    // "attempt to write a readonly database". Open as a writer, which
    // finishes that recovery, as the next `muster run` would.
    return open(dir, Create::no, Access::read_write);
  }
  auto opened = Connection::open(path, read_mode(dir, path));
  if (!opened) {
    return opened.error();
  }
  sql::Db db(std::move(*opened));
  auto version = schema_version(db);
  if (!version) {
    return version.error();
  }
  if (*version < current_schema_version()) {
    // An older store is upgraded first, which takes a writer.
    return open(dir, Create::no, Access::read_write);
  }
  if (*version > current_schema_version()) {
    return newer_schema(db.path(), *version);
  }
  return sql::SqlStore::make(std::move(db), dir);
}

} // namespace

} // namespace muster::store::sqlite

#include "store/sqlite/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sqlite3.h>
#include <unistd.h>
#include <utility>

namespace muster::store::sqlite {

namespace {

/// EROFS or EACCES when this process cannot write `path` or create files
/// beside it (the -wal and -shm files), else 0. SQLite reports a read-only
/// filesystem as "unable to open" with the errno of an earlier open, so
/// classify() asks the filesystem itself.
int unwritable(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  for (const std::string& p : {path, dir}) {
    if (::access(p.c_str(), W_OK) != 0 && (errno == EROFS || errno == EACCES)) {
      return errno;
    }
  }
  return 0;
}

/// `path` for a file: URI, with the characters a URI gives a meaning escaped.
std::string uri_path(const std::string& path) {
  std::string out;
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

util::Error classify(int code, int sys_errno, const std::string& path,
                     std::string_view action, std::string_view why) {
  const std::string head = "cannot " + std::string(action) + " in store " + path + ": ";
  std::string reason(why);
  const int primary = code & 0xff;
  if ((primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) && sys_errno != EROFS &&
      sys_errno != EACCES) {
    if (const int err = unwritable(path); err != 0) {
      sys_errno = err;
      reason +=
          err == EROFS ? "; the filesystem is mounted read-only" : "; permission denied";
    }
  }
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sys_errno == ENOSPC)) {
    return {head + "the disk is full (" + reason +
                "); free space on its filesystem, then run the command again: nothing "
                "was lost",
            util::ErrorKind::disk_full};
  }
  if (primary == SQLITE_READONLY || sys_errno == EROFS ||
      (primary == SQLITE_CANTOPEN && sys_errno == EACCES) || primary == SQLITE_PERM) {
    return {head + "it cannot be written (" + reason +
                "); check that its directory and files are writable by this user and "
                "that the filesystem is not mounted read-only",
            util::ErrorKind::store_unavailable};
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return {head + "it stayed locked by another process past the timeout (" + reason +
                "); find the process that holds it (`fuser " + path +
                "`) and let it finish, then run the command again",
            util::ErrorKind::store_unavailable};
  }
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return {head + "it is damaged or is not a muster store (" + reason +
                "); `muster check` lists what is damaged; " + damaged_advice(path),
            util::ErrorKind::corrupt};
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR) {
    return {head + "it cannot be read or written (" + reason +
                "); check the disk and the path",
            util::ErrorKind::store_unavailable};
  }
  return {head + reason, util::ErrorKind::internal};
}

std::string damaged_advice(const std::string& path) {
  return "restore it from a backup, or save what can be read with `sqlite3 " + path +
         " .recover | sqlite3 recovered.db` and move the damaged file aside";
}

namespace {

/// One prepared SQLite statement.
class SqliteCursor final : public sql::Cursor {
public:
  SqliteCursor(sqlite3_stmt* st, const Connection& conn) : m_stmt(st), m_conn(conn) {}
  ~SqliteCursor() override { sqlite3_finalize(m_stmt); }
  SqliteCursor(const SqliteCursor&) = delete;
  SqliteCursor& operator=(const SqliteCursor&) = delete;

  void bind(int index, int64_t value) override {
    sqlite3_bind_int64(m_stmt, index, value);
  }
  void bind(int index, std::string_view text) override {
    sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                        SQLITE_UTF8);
  }
  void bind(int index, double value) override {
    sqlite3_bind_double(m_stmt, index, value);
  }
  void bind_null(int index) override { sqlite3_bind_null(m_stmt, index); }
  util::Result<bool> step() override {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
      return true;
    }
    if (rc == SQLITE_DONE) {
      return false;
    }
    util::Error e = m_conn.error();
    sqlite3_reset(m_stmt);
    return e;
  }
  void reset() override {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
  }
  int64_t int64(int col) const override { return sqlite3_column_int64(m_stmt, col); }
  double real(int col) const override { return sqlite3_column_double(m_stmt, col); }
  std::string text(int col) const override {
    const auto* p = sqlite3_column_text(m_stmt, col);
    if (!p) {
      return {};
    }
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(m_stmt, col)));
  }
  bool is_null(int col) const override {
    return sqlite3_column_type(m_stmt, col) == SQLITE_NULL;
  }

private:
  sqlite3_stmt* m_stmt;
  const Connection& m_conn;
};

/// Runs the check `pragma`, handing each row to `on_row`. Damage that stops
/// it is one more problem in `found` (once), not an error.
util::Result<void> run_check(Connection& conn, std::string_view pragma,
                             std::vector<std::string>& found,
                             const std::function<void(const sql::Cursor&)>& on_row) {
  util::Result<void> read;
  if (auto st = conn.prepare(pragma); st) {
    for (;;) {
      auto row = (*st)->step();
      if (!row) {
        read = row.error();
        break;
      }
      if (!*row) {
        break;
      }
      on_row(**st);
    }
  } else {
    read = st.error();
  }
  if (!read && read.error().kind != util::ErrorKind::corrupt) {
    return read.error();
  }
  const std::string stopped =
      std::string("reading stopped: ") + sqlite3_errmsg(conn.handle());
  if (!read && std::find(found.begin(), found.end(), stopped) == found.end()) {
    found.push_back(stopped);
  }
  return {};
}

} // namespace

util::Result<std::vector<std::string>> problems(Connection& conn,
                                                std::string_view pragma) {
  std::vector<std::string> found;
  auto r = run_check(conn, pragma, found, [&found](const sql::Cursor& row) {
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

util::Result<CheckReport> Connection::check() {
  auto found = problems(*this, "PRAGMA integrity_check");
  if (!found) {
    return found.error();
  }
  auto keys =
      run_check(*this, "PRAGMA foreign_key_check", *found, [&](const sql::Cursor& row) {
        found->push_back("table " + row.text(0) + ": row " + row.text(1) +
                         " refers to a missing row of " + row.text(2));
      });
  if (!keys) {
    return keys.error();
  }
  return CheckReport{m_path, std::move(*found), damaged_advice(m_path)};
}

Connection& sqlite_of(sql::Db& db) {
  return static_cast<Connection&>(db.connection());
}

Connection::~Connection() {
  for (auto*& st : m_cached) {
    sqlite3_finalize(st);
  }
  if (m_db) {
    sqlite3_close_v2(m_db);
  }
}

util::Result<void> Connection::run_cached(Cached which) {
  static const char* k_sql[] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
  sqlite3_stmt*& st = m_cached[which];
  if (!st && sqlite3_prepare_v3(m_db, k_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st,
                                nullptr) != SQLITE_OK) {
    return error();
  }
  const int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    return error();
  }
  return {};
}

util::Result<std::unique_ptr<Connection>> Connection::open(const std::string& path,
                                                           OpenMode mode) {
  std::unique_ptr<Connection> db(new Connection);
  db->m_path = path;
  int flags = SQLITE_OPEN_NOMUTEX;
  std::string name = path;
  switch (mode) {
  case OpenMode::read_write:
    flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    break;
  case OpenMode::read_only:
    flags |= SQLITE_OPEN_READONLY;
    break;
  case OpenMode::frozen:
    flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    name = "file:" + uri_path(path) + "?immutable=1";
    break;
  }
  if (sqlite3_open_v2(name.c_str(), &db->m_db, flags, nullptr) != SQLITE_OK) {
    return db->error();
  }
  // How long a statement waits for another process's lock before it fails;
  // MUSTER_STORE_BUSY_TIMEOUT_MS shortens it where waiting 10 s is pointless.
  int busy_ms = 10'000;
  if (const char* env = std::getenv("MUSTER_STORE_BUSY_TIMEOUT_MS"); env && *env) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end == '\0' && v >= 0 && v <= 3'600'000) {
      busy_ms = static_cast<int>(v);
    }
  }
  sqlite3_busy_timeout(db->m_db, busy_ms);
  sqlite3_extended_result_codes(db->m_db, 1);
  return db;
}

util::Result<void> Connection::exec(std::string_view sql) {
  char* msg = nullptr;
  std::string owned(sql);
  if (int rc = sqlite3_exec(m_db, owned.c_str(), nullptr, nullptr, &msg);
      rc != SQLITE_OK) {
    std::string why = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return classify(sqlite3_extended_errcode(m_db), sqlite3_system_errno(m_db), m_path,
                    doing, why);
  }
  return {};
}

util::Result<std::unique_ptr<sql::Cursor>> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
    return error();
  }
  return std::unique_ptr<sql::Cursor>(new SqliteCursor(st, *this));
}

int64_t Connection::changes() const {
  return sqlite3_changes(m_db);
}

std::string Connection::unique_violation() const {
  if (sqlite3_extended_errcode(m_db) != SQLITE_CONSTRAINT_UNIQUE) {
    return "";
  }
  // "UNIQUE constraint failed: runs.name"
  const std::string msg = sqlite3_errmsg(m_db);
  const auto colon = msg.rfind(": ");
  return colon == std::string::npos ? "?" : msg.substr(colon + 2);
}

util::Error Connection::error() const {
  if (!m_db) {
    return {"cannot " + std::string(doing) + " in store " + m_path + ": out of memory",
            util::ErrorKind::internal};
  }
  return classify(sqlite3_extended_errcode(m_db), sqlite3_system_errno(m_db), m_path,
                  doing, sqlite3_errmsg(m_db));
}

util::Result<void> Connection::set_durability(Durability d) {
  return exec(d == Durability::full ? "PRAGMA synchronous=FULL"
                                    : "PRAGMA synchronous=NORMAL");
}

} // namespace muster::store::sqlite

#include "store/sqlite/db.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

Db::Db(Db&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path)) {
  for (int i = 0; i < 3; ++i) {
    m_cached[i] = std::exchange(other.m_cached[i], nullptr);
  }
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    finalize_cached();
    if (m_db) {
      sqlite3_close_v2(m_db);
    }
    m_db = std::exchange(other.m_db, nullptr);
    m_path = std::move(other.m_path);
    for (int i = 0; i < 3; ++i) {
      m_cached[i] = std::exchange(other.m_cached[i], nullptr);
    }
  }
  return *this;
}

Db::~Db() {
  finalize_cached();
  if (m_db) {
    sqlite3_close_v2(m_db);
  }
}

void Db::finalize_cached() {
  for (auto*& st : m_cached) {
    sqlite3_finalize(st);
    st = nullptr;
  }
}

util::Result<void> Db::run_cached(int which) {
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

util::Result<Db> Db::open(const std::string& path, OpenMode mode) {
  Db db;
  db.m_path = path;
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
  if (sqlite3_open_v2(name.c_str(), &db.m_db, flags, nullptr) != SQLITE_OK) {
    return db.error();
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
  sqlite3_busy_timeout(db.m_db, busy_ms);
  sqlite3_extended_result_codes(db.m_db, 1);
  return db;
}

util::Result<void> Db::exec(std::string_view sql) {
  char* msg = nullptr;
  std::string owned(sql);
  if (int rc = sqlite3_exec(m_db, owned.c_str(), nullptr, nullptr, &msg);
      rc != SQLITE_OK) {
    std::string why = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return classify(sqlite3_extended_errcode(m_db), sqlite3_system_errno(m_db), m_path,
                    m_doing, why);
  }
  return {};
}

util::Error Db::error() const {
  if (!m_db) {
    return {"cannot " + std::string(m_doing) + " in store " + m_path + ": out of memory",
            util::ErrorKind::internal};
  }
  return classify(sqlite3_extended_errcode(m_db), sqlite3_system_errno(m_db), m_path,
                  m_doing, sqlite3_errmsg(m_db));
}

Statement::Statement(Statement&& other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)), m_db(other.m_db) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(m_stmt);
    m_stmt = std::exchange(other.m_stmt, nullptr);
    m_db = other.m_db;
  }
  return *this;
}

Statement::~Statement() {
  sqlite3_finalize(m_stmt);
}

util::Result<Statement> Statement::prepare(Db& db, std::string_view sql) {
  Statement s;
  s.m_db = &db;
  if (sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &s.m_stmt, nullptr) != SQLITE_OK) {
    return db.error();
  }
  return s;
}

Statement& Statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(m_stmt, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    return bind(index, *value);
  }
  return bind_null(index);
}

Statement& Statement::bind(int index, double value) {
  sqlite3_bind_double(m_stmt, index, value);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(m_stmt, index);
  return *this;
}

util::Result<bool> Statement::step() {
  int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  util::Error e = m_db->error();
  sqlite3_reset(m_stmt);
  return e;
}

util::Result<void> Statement::run() {
  auto r = step();
  reset();
  if (!r) {
    return r.error();
  }
  return {};
}

void Statement::reset() {
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
}

int64_t Statement::int64(int col) const {
  return sqlite3_column_int64(m_stmt, col);
}
double Statement::real(int col) const {
  return sqlite3_column_double(m_stmt, col);
}

std::optional<int64_t> Statement::optional_int64(int col) const {
  if (is_null(col)) {
    return std::nullopt;
  }
  return int64(col);
}

std::string Statement::text(int col) const {
  const auto* p = sqlite3_column_text(m_stmt, col);
  if (!p) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(m_stmt, col)));
}

bool Statement::is_null(int col) const {
  return sqlite3_column_type(m_stmt, col) == SQLITE_NULL;
}

util::Result<Transaction> Transaction::begin(Db& db) {
  if (auto r = db.run_cached(Db::begin_immediate); !r) {
    return r.error();
  }
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept
    : m_db(other.m_db), m_done(std::exchange(other.m_done, true)) {}

Transaction::~Transaction() {
  if (!m_done && m_db) {
    // The one discarded result in the store: a destructor cannot report, and
    // a failed ROLLBACK leaves nothing to do (SQLite rolls the transaction
    // back itself when it cannot go on, and the caller already has the error
    // that ended it).
    (void)m_db->run_cached(Db::rollback);
  }
}

util::Result<void> Transaction::commit() {
  m_done = true;
  return m_db->run_cached(Db::commit);
}

} // namespace muster::store::sqlite

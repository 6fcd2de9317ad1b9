#include "store/sqlite/db.hpp"

#include <sqlite3.h>
#include <utility>

namespace muster::store::sqlite {

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
    return error(k_sql[which]);
  }
  const int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    return error(k_sql[which]);
  }
  return {};
}

util::Result<Db> Db::open(const std::string& path) {
  Db db;
  db.m_path = path;
  int rc = sqlite3_open_v2(path.c_str(), &db.m_db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    return db.error("open");
  }
  sqlite3_busy_timeout(db.m_db, 10'000);
  sqlite3_extended_result_codes(db.m_db, 1);
  return db;
}

util::Result<void> Db::exec(std::string_view sql) {
  char* msg = nullptr;
  std::string owned(sql);
  if (sqlite3_exec(m_db, owned.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string why = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return util::Error{"store " + m_path + ": " + why};
  }
  return {};
}

util::Error Db::error(std::string_view what) const {
  std::string why = m_db ? sqlite3_errmsg(m_db) : "out of memory";
  return util::Error{"store " + m_path + ": " + std::string(what) + ": " + why};
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

Statement::~Statement() { sqlite3_finalize(m_stmt); }

util::Result<Statement> Statement::prepare(Db& db, std::string_view sql) {
  Statement s;
  s.m_db = &db;
  if (sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &s.m_stmt, nullptr) != SQLITE_OK) {
    return db.error("prepare " + std::string(sql.substr(0, 60)));
  }
  return s;
}

Statement& Statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(m_stmt, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
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
  util::Error e = m_db->error(sqlite3_sql(m_stmt) ? std::string_view(sqlite3_sql(m_stmt)).substr(0, 60)
                                                 : "step");
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

int64_t Statement::int64(int col) const { return sqlite3_column_int64(m_stmt, col); }
double Statement::real(int col) const { return sqlite3_column_double(m_stmt, col); }

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

bool Statement::is_null(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }

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
    (void)m_db->run_cached(Db::rollback);
  }
}

util::Result<void> Transaction::commit() {
  m_done = true;
  return m_db->run_cached(Db::commit);
}

} // namespace muster::store::sqlite

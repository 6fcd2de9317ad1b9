#pragma once
// Thin RAII over the SQLite C API: a connection, prepared statements and
// transactions that roll back unless committed.

#include "util/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace muster::store::sqlite {

/// The error for SQLite result `code` (extended) with the system's `sys_errno`,
/// met while the store was doing `action` ("claim jobs"): "cannot ACTION in
/// store PATH: WHY". A full disk, a read-only, locked or unreadable store and
/// a damaged file each get their kind and a message that says what to do.
util::Error classify(int code, int sys_errno, const std::string& path,
                     std::string_view action, std::string_view why);

/// How to recover a damaged database at `path`.
std::string damaged_advice(const std::string& path);

/// How a connection may use its database.
enum class OpenMode {
  read_write, ///< created when missing
  read_only,  ///< never writes, nor creates a file
  frozen,     ///< read-only, and no other connection writes (SQLite's immutable=1):
              ///< reads a database whose -wal and -shm files cannot be made
};

/// One open database connection.
class Db {
public:
  Db() = default;
  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  static util::Result<Db> open(const std::string& path, OpenMode mode);
  /// Runs one or more statements that return no rows.
  util::Result<void> exec(std::string_view sql);
  sqlite3* handle() const { return m_db; }
  const std::string& path() const { return m_path; }
  /// The last error, as "cannot DOING in store PATH: sqlite's reason".
  util::Error error() const;
  /// What the store is doing, in its callers' words ("claim jobs"), for
  /// errors: they say it instead of the SQL that failed. See Doing.
  std::string_view doing() const { return m_doing; }
  void set_doing(std::string_view action) { m_doing = action; }
  /// Runs BEGIN IMMEDIATE, COMMIT or ROLLBACK from statements prepared once:
  /// they run once per turn of the agent's loop.
  util::Result<void> run_cached(int which);
  enum Cached { begin_immediate = 0, commit = 1, rollback = 2 };

private:
  void finalize_cached();
  sqlite3* m_db = nullptr;
  std::string m_path;
  std::string_view m_doing = "open the database";
  sqlite3_stmt* m_cached[3] = {nullptr, nullptr, nullptr};
};

/// Names what the store does while it lives (`action` must outlive it: a
/// literal), and restores what it did before.
class Doing {
public:
  Doing(Db& db, std::string_view action) : m_db(db), m_before(db.doing()) {
    db.set_doing(action);
  }
  ~Doing() { m_db.set_doing(m_before); }
  Doing(const Doing&) = delete;
  Doing& operator=(const Doing&) = delete;

private:
  Db& m_db;
  std::string_view m_before;
};

/// A prepared statement, reset after each use.
class Statement {
public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  static util::Result<Statement> prepare(Db& db, std::string_view sql);

  /// Binds parameters by 1-based position.
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::optional<int64_t>& value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);

  /// Steps once: true when a row is ready, false when done.
  util::Result<bool> step();
  /// Steps to completion, expecting no rows.
  util::Result<void> run();
  /// Steps through every row, calling `on_row(*this)` for each; then resets.
  template <typename F> util::Result<void> each(F&& on_row) {
    for (;;) {
      auto row = step();
      if (!row) {
        return row.error();
      }
      if (!*row) {
        reset();
        return {};
      }
      on_row(*this);
    }
  }
  /// Resets and clears bindings for the next use.
  void reset();

  int64_t int64(int col) const;
  double real(int col) const;
  std::optional<int64_t> optional_int64(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

private:
  sqlite3_stmt* m_stmt = nullptr;
  Db* m_db = nullptr;
};

/// Prepares `sql`, binds `args` to ?1, ?2, ... in order, and runs it to its
/// end: for statements run once, where a cached Statement buys nothing.
template <typename... Args>
util::Result<void> run_sql(Db& db, std::string_view sql, const Args&... args) {
  auto st = Statement::prepare(db, sql);
  if (!st) {
    return st.error();
  }
  int index = 0;
  (st->bind(++index, args), ...);
  return st->run();
}

/// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless committed.
class Transaction {
public:
  static util::Result<Transaction> begin(Db& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  util::Result<void> commit();

private:
  explicit Transaction(Db& db) : m_db(&db) {}
  Db* m_db = nullptr;
  bool m_done = false;
};

} // namespace muster::store::sqlite

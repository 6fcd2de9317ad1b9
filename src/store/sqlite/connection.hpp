#pragma once
// The SQLite engine under store/sql/: a connection to one database file.

#include "store/sql/db.hpp"
#include "util/result.hpp"

#include <string>
#include <string_view>
#include <vector>

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

/// One open SQLite database.
class Connection final : public sql::Connection {
public:
  static util::Result<std::unique_ptr<Connection>> open(const std::string& path,
                                                        OpenMode mode);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Dialect dialect() const override { return sql::Dialect::sqlite; }
  const std::string& where() const override { return m_path; }
  util::Result<void> exec(std::string_view sql) override;
  util::Result<std::unique_ptr<sql::Cursor>> prepare(std::string_view sql) override;
  util::Result<void> begin(sql::Writes) override { return run_cached(begin_immediate); }
  util::Result<void> commit() override { return run_cached(commit_tx); }
  util::Result<void> rollback() override { return run_cached(rollback_tx); }
  int64_t changes() const override;
  std::string unique_violation() const override;
  util::Result<CheckReport> check() override;
  util::Result<void> set_durability(Durability d) override;

  sqlite3* handle() const { return m_db; }
  /// The last error, as "cannot DOING in store PATH: sqlite's reason".
  util::Error error() const;

private:
  Connection() = default;
  /// Runs BEGIN IMMEDIATE, COMMIT or ROLLBACK from statements prepared once:
  /// they run once per turn of the agent's loop.
  enum Cached { begin_immediate = 0, commit_tx = 1, rollback_tx = 2 };
  util::Result<void> run_cached(Cached which);
  sqlite3* m_db = nullptr;
  std::string m_path;
  sqlite3_stmt* m_cached[3] = {nullptr, nullptr, nullptr};
};

/// The SQLite connection under `db`.
Connection& sqlite_of(sql::Db& db);

/// The problems an integrity pragma finds, one line each.
util::Result<std::vector<std::string>> problems(Connection& conn,
                                                std::string_view pragma);

} // namespace muster::store::sqlite

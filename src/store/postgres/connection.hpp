#pragma once
// The PostgreSQL engine under store/sql/: a connection through libpq.

#include "store/sql/db.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace muster::store::postgres {

/// `url` as messages may show it: a password in it, in the user part of a
/// postgres:// URL or as a password= parameter, is replaced by ***.
std::string mask_password(std::string_view url);

/// `sql` with SQLite's parameters (?1, ?2, ... and ?) written as
/// PostgreSQL's ($1, $2, ...), numbered in the order they first appear:
/// `slots[N]` is the $ number of ?N (0 when ?N does not appear). String
/// literals, quoted names and comments are left as they are.
std::string to_dollar_params(std::string_view sql, std::vector<int>& slots);

/// What to do about a PostgreSQL store that is damaged (`muster check`).
std::string damaged_advice();

/// One connection to a PostgreSQL database.
class Connection final : public sql::Connection {
public:
  /// Connects to `url` (a postgres:// URL or a libpq connection string).
  /// The password comes from the URL, PGPASSWORD, ~/.pgpass or a service
  /// file, as libpq finds it; no message shows it.
  static util::Result<std::unique_ptr<Connection>> open(const std::string& url);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Dialect dialect() const override { return sql::Dialect::postgres; }
  const std::string& where() const override { return m_where; }
  util::Result<void> exec(std::string_view sql) override;
  util::Result<std::unique_ptr<sql::Cursor>> prepare(std::string_view sql) override;
  util::Result<void> begin(sql::Writes writes) override;
  util::Result<void> commit() override;
  util::Result<void> rollback() override;
  int64_t changes() const override { return m_changes; }
  std::string unique_violation() const override { return m_unique; }
  util::Result<CheckReport> check() override;
  util::Result<void> set_durability(Durability d) override;
  bool can_copy() const override { return true; }
  util::Result<void> copy_in(std::string_view copy, std::string_view data) override;
  util::Result<void> notify(std::string_view channel) override;
  util::Result<void> listen(std::string_view channel) override;
  int wake_fd() const override;
  util::Result<void> limit_idle_transactions(int64_t ms) override;
  bool take_notifications() override;

  pg_conn* handle() const { return m_conn; }
  /// Grows each time the connection is made again: statements prepared on
  /// an earlier one are prepared again.
  uint64_t epoch() const { return m_epoch; }
  /// A name for the next statement prepared on the server.
  std::string next_statement_name() { return "m" + std::to_string(++m_statements); }
  /// Takes the outcome of a command: OK, or the error it is. Records the
  /// rows changed and any unique violation, and clears `res` unless it
  /// succeeded and `keep` says its rows are to be read.
  util::Result<void> finish(pg_result* res, bool keep);
  /// A statement prepared as `name` will not run again: it is freed with
  /// the next BEGIN.
  void forget(const std::string& name);
  /// Outside a transaction, makes the connection again when the server
  /// dropped it (a restart): the next statement then goes on.
  util::Result<void> ensure_connected();

private:
  Connection() = default;
  /// Sets util::now_ms() to follow the server's clock.
  util::Result<void> follow_server_clock();
  util::Error connection_error(std::string_view why) const;
  /// The one value of a query that returns one row of one column.
  util::Result<std::string> one_value(const char* sql);
  /// `channel` (muster_…) in this store's schema: muster_<hash of the
  /// schema>_…, as NOTIFY's channels are per database, and stores in two
  /// schemas of one database must not wake each other's agents.
  util::Result<std::string> scoped(std::string_view channel);
  pg_conn* m_conn = nullptr;
  std::string m_url;
  std::string m_where;
  int64_t m_changes = 0;
  std::string m_unique;
  uint64_t m_epoch = 0;
  uint64_t m_statements = 0;
  bool m_in_tx = false;
  std::string m_forgotten; ///< DEALLOCATEs to send with the next BEGIN
  std::vector<std::string>
      m_channels;              ///< listened on (scoped), again after a reconnection
  std::string m_scope;         ///< "muster_<hash>_" once known (scoped())
  int64_t m_idle_limit_ms = 0; ///< set again after a reconnection
};

} // namespace muster::store::postgres

#pragma once
// The SQL the store's parts run, on either engine: a connection, prepared
// statements and transactions that roll back unless committed. SQLite
// (store/sqlite/) and PostgreSQL (store/postgres/) each implement Connection
// and Cursor; the parts above see only Db and Statement.

#include "store/store.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::store::sql {

/// Which SQL an engine speaks, where the two differ.
enum class Dialect { sqlite, postgres };

/// How a write transaction shares the database with other connections'.
enum class Writes {
  /// Serialized with every other write transaction, so that what it reads
  /// (limits, locks, counts, halts) cannot change under it.
  exclusive,
  /// Serialized with the exclusive ones only; shared ones run side by side.
  /// For the claims and results of a run without limits or locks: its jobs
  /// are claimed with FOR UPDATE SKIP LOCKED (Db::shares_writes) and changed
  /// afterwards only by their owner. An engine without row locks (SQLite)
  /// serializes it as an exclusive one.
  shared,
};

/// One statement of an engine, prepared once and run many times. Parameters
/// are numbered from 1 (written ?1, ?2, ... in the SQL, as SQLite has them).
class Cursor {
public:
  virtual ~Cursor() = default;
  virtual void bind(int index, int64_t value) = 0;
  virtual void bind(int index, std::string_view text) = 0;
  virtual void bind(int index, double value) = 0;
  virtual void bind_null(int index) = 0;
  /// Runs the statement on its first call after a reset, then moves to the
  /// next row: true when a row is ready, false when done.
  virtual util::Result<bool> step() = 0;
  /// Ends this use and clears the bindings.
  virtual void reset() = 0;
  /// Reads a column of the current row. A boolean reads as 0 or 1.
  virtual int64_t int64(int col) const = 0;
  virtual double real(int col) const = 0;
  virtual std::string text(int col) const = 0;
  virtual bool is_null(int col) const = 0;
};

/// One engine's connection to its database.
class Connection {
public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  /// Where the database is, as messages show it: a path, or a URL with its
  /// password masked.
  virtual const std::string& where() const = 0;
  /// Runs one or more statements that return no rows.
  virtual util::Result<void> exec(std::string_view sql) = 0;
  virtual util::Result<std::unique_ptr<Cursor>> prepare(std::string_view sql) = 0;
  /// Starts a write transaction. Exclusive write transactions of every
  /// connection to the database are serialized (SQLite's BEGIN IMMEDIATE; an
  /// advisory lock on PostgreSQL), so that a claim sees every commit before
  /// it; shared ones hold that lock shared (see Writes).
  virtual util::Result<void> begin(Writes writes) = 0;
  virtual util::Result<void> commit() = 0;
  virtual util::Result<void> rollback() = 0;
  /// Rows the last statement changed.
  virtual int64_t changes() const = 0;
  /// "table.column" of the unique constraint the last failed statement
  /// broke ("table." when the engine does not say the column); "" when none.
  virtual std::string unique_violation() const = 0;
  virtual util::Result<CheckReport> check() = 0;
  virtual util::Result<void> set_durability(Durability d) = 0;
  // Notifications, where the engine has them (PostgreSQL's LISTEN/NOTIFY);
  // elsewhere they do nothing, and readers poll.
  /// Tells the connections listening on `channel`, when this transaction
  /// commits (at once outside one). changes() stays as it was.
  virtual util::Result<void> notify(std::string_view channel) { return {}; }
  /// Listens on `channel` from now on, also after reconnecting.
  virtual util::Result<void> listen(std::string_view channel) { return {}; }
  /// Ends the session when a transaction waits on this client longer than
  /// `ms` (PostgreSQL's idle_in_transaction_session_timeout).
  virtual util::Result<void> limit_idle_transactions(int64_t ms) { return {}; }
  /// A descriptor that becomes readable (edge-triggered) when a
  /// notification may have come; -1: none.
  virtual int wake_fd() const { return -1; }
  /// Whether another connection's notification came since the last call.
  /// Never blocks.
  virtual bool take_notifications() { return false; }
  /// Bulk loading, where the engine has it (PostgreSQL's COPY FROM STDIN,
  /// text format: tab-separated columns, a line per row, \N for NULL).
  virtual bool can_copy() const { return false; }
  /// Runs `copy` ("COPY t (a, b) FROM STDIN") with `data` as its rows.
  virtual util::Result<void> copy_in(std::string_view copy, std::string_view data) {
    return util::Error{"this store cannot COPY", util::ErrorKind::internal};
  }

  /// What the store is doing, in its callers' words ("claim jobs"), for
  /// errors: they say it instead of the SQL that failed. See Doing.
  std::string_view doing = "open the database";
};

/// One open database connection.
class Db {
public:
  Db() = default;
  explicit Db(std::unique_ptr<Connection> conn) : m_conn(std::move(conn)) {}

  /// Runs one or more statements that return no rows.
  util::Result<void> exec(std::string_view sql) { return m_conn->exec(sql); }
  Connection& connection() const { return *m_conn; }
  Dialect dialect() const { return m_conn->dialect(); }
  /// The database, as messages name it.
  const std::string& path() const { return m_conn->where(); }
  std::string_view doing() const { return m_conn->doing; }
  void set_doing(std::string_view action) { m_conn->doing = action; }
  int64_t changes() const { return m_conn->changes(); }
  std::string unique_violation() const { return m_conn->unique_violation(); }
  /// Tells the listeners of run `rid` that something changed (see
  /// Store::listen), when the transaction commits.
  util::Result<void> notify(int64_t rid) { return m_conn->notify(channel(rid)); }
  util::Result<void> listen(int64_t rid) { return m_conn->listen(channel(rid)); }
  static std::string channel(int64_t rid) { return "muster_run_" + std::to_string(rid); }
  bool can_copy() const { return m_conn->can_copy(); }
  /// Whether shared write transactions run side by side here (row locks,
  /// and FOR UPDATE SKIP LOCKED): PostgreSQL's.
  bool shares_writes() const { return dialect() == Dialect::postgres; }
  util::Result<void> copy_in(std::string_view copy, std::string_view data) {
    return m_conn->copy_in(copy, data);
  }

  // Where the dialects differ, the SQL asks for the words.
  /// The integer at `key` ("max_attempts") of the JSON text in `expr`.
  std::string json_int(std::string_view expr, std::string_view key) const;
  /// The text at `path` ("limits.scope") of the JSON text in `expr`.
  std::string json_text(std::string_view expr, std::string_view path) const;
  /// "INDEXED BY name" where the engine takes the hint; "" elsewhere.
  std::string indexed_by(std::string_view index) const;
  /// The larger of two values (SQLite's max(a, b), PostgreSQL's GREATEST).
  std::string greatest(std::string_view a, std::string_view b) const;
  /// The newline character, as an expression (instr() is defined on both).
  std::string_view newline() const;

private:
  std::unique_ptr<Connection> m_conn;
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

  static util::Result<Statement> prepare(Db& db, std::string_view sql);

  /// Binds parameters by 1-based position.
  Statement& bind(int index, int64_t value) {
    m_cursor->bind(index, value);
    return *this;
  }
  Statement& bind(int index, std::string_view text) {
    m_cursor->bind(index, text);
    return *this;
  }
  Statement& bind(int index, const std::optional<int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }
  Statement& bind(int index, double value) {
    m_cursor->bind(index, value);
    return *this;
  }
  Statement& bind_null(int index) {
    m_cursor->bind_null(index);
    return *this;
  }

  /// Steps once: true when a row is ready, false when done.
  util::Result<bool> step() { return m_cursor->step(); }
  /// Steps to completion, expecting no rows.
  util::Result<void> run();
  /// Steps through every row, calling `on_row(*this)` for each; then resets.
  template <typename F> util::Result<void> each(F&& on_row) {
    for (;;) {
      auto row = step();
      if (!row) {
        reset();
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
  void reset() { m_cursor->reset(); }

  int64_t int64(int col) const { return m_cursor->int64(col); }
  double real(int col) const { return m_cursor->real(col); }
  std::optional<int64_t> optional_int64(int col) const {
    if (is_null(col)) {
      return std::nullopt;
    }
    return int64(col);
  }
  std::string text(int col) const { return m_cursor->text(col); }
  bool is_null(int col) const { return m_cursor->is_null(col); }

private:
  std::unique_ptr<Cursor> m_cursor;
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

/// The refusal of the store at `where`, whose schema a newer muster wrote
/// (`version`, above `newest`, the newest this muster knows).
util::Error newer_schema(const std::string& where, int version, int newest);

/// Runs `migrations[from]` up to the last, in order, in the caller's
/// transaction: migration i takes the schema from version i to i + 1.
util::Result<void> run_migrations(Db& db, const std::vector<std::string_view>& migrations,
                                  int from);

/// Begins a write transaction; rolls it back on destruction unless committed.
class Transaction {
public:
  static util::Result<Transaction> begin(Db& db, Writes writes = Writes::exclusive);
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

} // namespace muster::store::sql

#include "store/sql/db.hpp"

#include <utility>

namespace muster::store::sql {

std::string Db::json_int(std::string_view expr, std::string_view key) const {
  if (dialect() == Dialect::postgres) {
    return "((" + std::string(expr) + ")::jsonb ->> '" + std::string(key) + "')::bigint";
  }
  return "json_extract(" + std::string(expr) + ", '$." + std::string(key) + "')";
}

std::string Db::json_text(std::string_view expr, std::string_view path) const {
  if (dialect() == Dialect::postgres) {
    std::string keys(path);
    for (char& c : keys) {
      c = c == '.' ? ',' : c;
    }
    return "((" + std::string(expr) + ")::jsonb #>> '{" + keys + "}')";
  }
  return "json_extract(" + std::string(expr) + ", '$." + std::string(path) + "')";
}

std::string Db::indexed_by(std::string_view index) const {
  return dialect() == Dialect::sqlite ? "INDEXED BY " + std::string(index) : "";
}

std::string Db::greatest(std::string_view a, std::string_view b) const {
  return std::string(dialect() == Dialect::sqlite ? "max(" : "GREATEST(") +
         std::string(a) + ", " + std::string(b) + ")";
}

std::string_view Db::newline() const {
  return dialect() == Dialect::sqlite ? "char(10)" : "chr(10)";
}

util::Result<Statement> Statement::prepare(Db& db, std::string_view sql) {
  auto cursor = db.connection().prepare(sql);
  if (!cursor) {
    return cursor.error();
  }
  Statement s;
  s.m_cursor = std::move(*cursor);
  return s;
}

util::Result<void> Statement::run() {
  auto r = step();
  reset();
  if (!r) {
    return r.error();
  }
  return {};
}

util::Error newer_schema(const std::string& where, int version, int newest) {
  return util::Error{"store " + where + " has schema version " + std::to_string(version) +
                     ", which a newer muster wrote; this muster knows versions up to " +
                     std::to_string(newest) +
                     ". Upgrade muster, or use another --store."};
}

util::Result<void> run_migrations(Db& db, const std::vector<std::string_view>& migrations,
                                  int from) {
  for (size_t v = static_cast<size_t>(from); v < migrations.size(); ++v) {
    if (auto r = db.exec(migrations[v]); !r) {
      return util::Error{"migrating store to schema version " + std::to_string(v + 1) +
                             ": " + r.error().message,
                         r.error().kind};
    }
  }
  return {};
}

util::Result<Transaction> Transaction::begin(Db& db, Writes writes) {
  if (auto r = db.connection().begin(writes); !r) {
    return r.error();
  }
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept
    : m_db(other.m_db), m_done(std::exchange(other.m_done, true)) {}

Transaction::~Transaction() {
  if (!m_done && m_db) {
    // The one discarded result in the store: a destructor cannot report, and
    // a failed ROLLBACK leaves nothing to do (the engine rolls the
    // transaction back itself when it cannot go on, and the caller already
    // has the error that ended it).
    (void)m_db->connection().rollback();
  }
}

util::Result<void> Transaction::commit() {
  m_done = true;
  return m_db->connection().commit();
}

} // namespace muster::store::sql

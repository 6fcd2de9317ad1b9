#pragma once
// The SQLite schema and its migrations. PRAGMA user_version is the schema's
// version; each migration moves it up by one, inside one transaction.

#include "store/sql/db.hpp"

#include <string_view>
#include <vector>

namespace muster::store::sqlite {

using sql::Db;
using sql::Doing;
using sql::Statement;
using sql::Transaction;

/// The SQL of each migration; migration i takes the schema from version i to i+1.
const std::vector<std::string_view>& migrations();
/// The version this muster writes.
int current_schema_version();
/// Brings `db` up to the current version. Refuses a newer one.
util::Result<void> migrate(Db& db);
/// The refusal of a store at `path` that a newer muster wrote.
util::Error newer_schema(const std::string& path, int version);
/// Reads PRAGMA user_version.
util::Result<int> schema_version(Db& db);

} // namespace muster::store::sqlite

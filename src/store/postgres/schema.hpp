#pragma once
// The PostgreSQL schema and its migrations. The table muster_schema holds
// the schema's version; a migration runs under an advisory lock, so that
// agents starting at once do not both migrate.

#include "store/sql/db.hpp"

#include <string_view>
#include <vector>

namespace muster::store::postgres {

/// The SQL of each migration; migration i takes the schema from version i to i+1.
const std::vector<std::string_view>& migrations();
/// The version this muster writes.
int current_schema_version();
/// Creates the schema, or brings it up to the current version. Refuses a
/// newer one. With `create` false, a database without the schema is a
/// not_found error and nothing is written.
util::Result<void> migrate(sql::Db& db, bool create);

} // namespace muster::store::postgres

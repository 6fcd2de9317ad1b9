#pragma once
// The shared store: a PostgreSQL database that agents on many hosts use at
// once. Runs' files (captured output, slot directories) stay on each host.

#include "store/sql/sql_store.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <memory>
#include <string>

namespace muster::store::postgres {

/// Opens the store in the database at `url`, creating or upgrading its
/// schema when `create` allows; runs' files live under `files_dir`. A
/// read-only opener neither creates nor upgrades the schema.
util::Result<std::unique_ptr<sql::SqlStore>> open(const std::string& url,
                                                  const std::string& files_dir,
                                                  Create create,
                                                  Access access = Access::read_write);

} // namespace muster::store::postgres

#pragma once
// The embedded store: one SQLite database in WAL mode under the store
// directory, next to the jobs' captured output.

#include "store/sql/sql_store.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <memory>
#include <string>

namespace muster::store::sqlite {

/// Opens (or creates) the store in `dir`: dir/muster.db and dir/runs/. With
/// Access::read_only it creates nothing and writes nothing. A commit
/// survives a crash of muster (WAL, synchronous=NORMAL); Durability::full
/// makes it survive power loss too (synchronous=FULL).
util::Result<std::unique_ptr<sql::SqlStore>> open(const std::string& dir, Create create,
                                                  Access access = Access::read_write);

} // namespace muster::store::sqlite

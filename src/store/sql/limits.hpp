#pragma once
// Limits: a key's running jobs and day-window counts, and holding jobs back.

#include "store/sql/db.hpp"

#include <string>
#include <vector>

namespace muster::store::sql {

/// The statements of limits, prepared once per connection.
struct LimitStatements {
  Statement count_key;
  Statement key_count;
  Statement key_running;
  Statement store_key_count;
  Statement store_key_running;
  Statement hold;
  Statement relabel_busy;
  /// Prepares them; adds their SQL to `sql`.
  util::Result<void> prepare(Db& db, std::vector<std::string>& sql);
};

} // namespace muster::store::sql

#pragma once
// Control: the request other terminals leave for a run's agents.

#include "store/sql/db.hpp"

#include <string>
#include <vector>

namespace muster::store::sql {

/// The statements of control, prepared once per connection.
struct ControlStatements {
  Statement read;
  /// Prepares them; adds their SQL to `sql`.
  util::Result<void> prepare(Db& db, std::vector<std::string>& sql);
};

} // namespace muster::store::sql

#pragma once
// Claims: selecting due jobs and taking them for free slots; halts and the start rate.

#include "store/sql/db.hpp"

#include <string>
#include <vector>

namespace muster::store::sql {

/// The statements of claims, prepared once per connection.
struct ClaimStatements {
  Statement select_due_retries;
  Statement select_pending;
  Statement select_due; ///< both, for a run without limits
  Statement claim;
  Statement halt_state;
  Statement unhalt;
  Statement wake_due;
  Statement next_wake;
  Statement next_start;
  Statement set_next_start;
  /// Prepares them; adds their SQL to `sql`.
  util::Result<void> prepare(Db& db, std::vector<std::string>& sql);
};

} // namespace muster::store::sql

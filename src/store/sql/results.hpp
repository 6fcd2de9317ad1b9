#pragma once
// Results: recording an attempt's pid and end, halts and block_key.

#include "store/sql/db.hpp"

#include <string>
#include <vector>

namespace muster::store::sql {

/// The statements of results, prepared once per connection.
struct ResultStatements {
  Statement set_pid;
  Statement finish;
  Statement halt;
  Statement block_key;
  Statement promote_key;
  Statement promote_key_elsewhere;
  Statement keep_output;
  Statement whose; ///< a job's id and state, its owner, the agent that sent a result
  /// Prepares them; adds their SQL to `sql`.
  util::Result<void> prepare(Db& db, std::vector<std::string>& sql);
};

/// Binds `u`'s result to parameters p.. p+8 of `st`: state, exit_code,
/// signal, error, error_type, finished_at, retry_at, interrupts (0 or 1),
/// pid (NULL when it never started).
void bind_finish(Statement& st, int p, const Update& u);

} // namespace muster::store::sql

#pragma once
// Locks: taking, releasing and waking the waiters of named locks.

#include "store/sql/db.hpp"

#include <string>
#include <vector>

namespace muster::store::sql {

/// The statements of locks, prepared once per connection.
struct LockStatements {
  Statement unlock;
  Statement promote_lock;
  Statement promote_lock_of_many;
  Statement lock_holder;
  Statement lock_job;
  Statement wake_free_locks;
  Statement expire_lock;
  Statement expire_locks;
  /// Prepares them; adds their SQL to `sql`.
  util::Result<void> prepare(Db& db, std::vector<std::string>& sql);
};

} // namespace muster::store::sql

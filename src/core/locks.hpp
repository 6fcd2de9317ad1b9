#pragma once
// Locks as people read them: who holds a name, and since when. The same words
// reach `muster run` (a refusal), `muster why` and a waiting job's reason.

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace muster::core {

/// Who holds a lock: a run, and the job of it when a job holds it.
struct LockHolder {
  std::string name;       ///< the lock's name
  std::string run_id;     ///< the holding run's short id
  std::string run_name;   ///< "" when the run has none
  std::string job_id;     ///< "" for a lock the run itself holds
  int64_t since = 0;      ///< epoch ms
  std::string owner;      ///< the holder named by `muster lock --holder` (no run)
  int64_t expires_at = 0; ///< epoch ms; 0: until unlocked
};

/// `lock src/a.py held by run 3f2e1d "Build frontend" job 7 since 10:02:11`,
/// or `lock src/a.py held by frontend since 10:02:11 until 10:32:11`.
std::string describe_lock(const LockHolder& holder);

/// A lock name is printable text, not empty: a newline or another control
/// character could never be named on a command line, and would split a
/// job's list of locks.
util::Result<void> check_lock_name(std::string_view name);

} // namespace muster::core

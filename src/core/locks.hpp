#pragma once
// Locks as people read them: who holds a name, and since when. The same words
// reach `muster run` (a refusal), `muster why` and a waiting job's reason.

#include <cstdint>
#include <string>

namespace muster::core {

/// Who holds a lock: a run, and the job of it when a job holds it.
struct LockHolder {
  std::string name;     ///< the lock's name
  std::string run_id;   ///< the holding run's short id
  std::string run_name; ///< "" when the run has none
  std::string job_id;   ///< "" for a lock the run itself holds
  int64_t since = 0;    ///< epoch ms
};

/// `lock src/a.py held by run 3f2e1d "Build frontend" job 7 since 10:02:11`.
std::string describe_lock(const LockHolder& holder);

} // namespace muster::core

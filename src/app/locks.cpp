#include "app/locks.hpp"

#include "app/store.hpp"
#include "core/locks.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::app {

std::string describe_lock(const store::LockRecord& lock) {
  return core::describe_lock(
      {lock.name, lock.run_id, lock.run_name, lock.job_id, lock.since});
}

util::Result<void> wait_for_locks(store::Store& store, int64_t rid,
                                  const std::vector<std::string>& names, bool wait,
                                  const LockWaiting& waiting) {
  bool told = false;
  for (;;) {
    auto held = store.lock_conflict(names, rid, holder_alive);
    if (!held) {
      return held.error();
    }
    if (!*held) {
      return {};
    }
    if (!wait) {
      return util::Error{describe_lock(**held) +
                             " (--wait-locks waits for it; `muster locks` lists them)",
                         util::ErrorKind::busy};
    }
    if (!told && waiting) {
      waiting(**held);
    }
    told = true;
    ::usleep(250'000);
  }
}

util::Result<std::vector<store::LockRecord>> locks(store::Store& store) {
  return store.locks();
}

} // namespace muster::app

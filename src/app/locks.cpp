#include "app/locks.hpp"

#include "app/store.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::app {

std::string describe_lock(const store::LockRecord& lock) {
  std::string out = "lock " + lock.name + " held by run " + lock.run_id;
  if (!lock.run_name.empty()) {
    out += " \"" + lock.run_name + "\"";
  }
  if (!lock.job_id.empty()) {
    out += " job " + lock.job_id;
  }
  return out + " since " + util::format_clock(lock.since);
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

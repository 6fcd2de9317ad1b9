#include "app/locks.hpp"

#include "app/store.hpp"
#include "core/locks.hpp"
#include "exec/proc.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::app {

std::string describe_lock(const store::LockRecord& lock) {
  return core::describe_lock({lock.name, lock.run_id, lock.run_name, lock.job_id,
                              lock.since, lock.owner, lock.expires_at});
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

util::Result<store::Holder> process_holder(int64_t pid) {
  if (pid <= 0 || !exec::process_alive(static_cast<pid_t>(pid), 0)) {
    return util::Error{"--pid: no process " + std::to_string(pid) + " runs on this host"};
  }
  store::Holder h = this_holder();
  h.pid = pid;
  h.start_time = exec::process_start_ticks(static_cast<pid_t>(pid));
  return h;
}

util::Result<void> lock(store::Store& store, const store::LockRequest& request, bool wait,
                        const LockWaiting& waiting) {
  bool told = false;
  for (;;) {
    auto held = store.take_locks(request, util::now_ms(), holder_alive);
    if (!held) {
      return held.error();
    }
    if (!*held) {
      return {};
    }
    if (!wait) {
      return util::Error{describe_lock(**held) + " (--wait waits for it)",
                         util::ErrorKind::busy};
    }
    if (!told && waiting) {
      waiting(**held);
    }
    told = true;
    ::usleep(250'000);
  }
}

util::Result<std::vector<std::string>> unlock(store::Store& store,
                                              const std::vector<std::string>& names,
                                              const std::string& owner) {
  auto dropped = store.drop_locks(names, owner, util::now_ms());
  if (!dropped) {
    return dropped.error();
  }
  if (dropped->other) {
    return util::Error{describe_lock(*dropped->other) + ", not by " + owner +
                           "; nothing was unlocked",
                       util::ErrorKind::busy};
  }
  return std::move(dropped->freed);
}

} // namespace muster::app

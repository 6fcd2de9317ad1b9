#pragma once
// Locks seen from outside a run: who holds one, waiting until none of a
// run's locks is held, and the locks `muster lock` takes and frees.

#include "store/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace muster::app {

/// Told once, when a lock is first waited for (the CLI prints "waiting").
using LockWaiting = std::function<void(const store::LockRecord& held)>;

/// "lock src/a.py held by run 3f2e1d "Build frontend" since 10:02:11".
std::string describe_lock(const store::LockRecord& lock);

/// Returns when none of `names` is held by a live holder other than run
/// `rid` (0 for a run not created yet). Without `wait`, a held one is a busy
/// error that names its holder.
util::Result<void> wait_for_locks(store::Store& store, int64_t rid,
                                  const std::vector<std::string>& names, bool wait,
                                  const LockWaiting& waiting);

/// Every lock held in the store (`holder_alive` says whether its holder runs).
util::Result<std::vector<store::LockRecord>> locks(store::Store& store);

/// Process `pid` of this host as a lock's holder (`muster lock --pid`).
util::Result<store::Holder> process_holder(int64_t pid);

/// Takes `request`'s locks, all or none. A lock another holds is a busy
/// error naming its holder; with `wait`, it waits until all are free.
util::Result<void> lock(store::Store& store, const store::LockRequest& request, bool wait,
                        const LockWaiting& waiting);

/// Frees the `names` (all, when empty) that `owner` holds; returns those
/// freed. A name another holds is a busy error naming its holder, and
/// nothing is freed.
util::Result<std::vector<std::string>> unlock(store::Store& store,
                                              const std::vector<std::string>& names,
                                              const std::string& owner);

} // namespace muster::app

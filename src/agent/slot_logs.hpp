#pragma once
// The slots' logs of one host, kept in a store shared by many hosts
// (Store::keeps_output), so that `muster logs RUN --slot N` works from any
// of them. The files stay where they are; the store gets their tails.

#include "store/store.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace muster::agent {

class SlotLogShipper {
public:
  /// The logs under `logs_dir` (a run's logs/), written on `host`.
  SlotLogShipper(std::string logs_dir, std::string host);

  /// The tails of the logs that grew since the last call that shipped
  /// (every slot-N.log under the directory, also of slots since retired).
  std::vector<store::StoredSlotLog> changed() const;
  /// Records that `logs` (from changed()) are in the store.
  void shipped(const std::vector<store::StoredSlotLog>& logs);

  /// changed(), kept in `store`, when k_every_ms passed since the last time
  /// (monotonic `mono`) or with `now`; on failure nothing counts as shipped,
  /// and the next call tries again. A busy log's tail is up to 64 KiB: every
  /// 10 s, 8 busy slots write about 50 KB/s.
  util::Result<void> ship(store::Store& store, int64_t rid, int64_t mono, bool now);

  static constexpr int64_t k_every_ms = 10'000;

private:
  std::string m_dir;
  std::string m_host;
  std::map<int64_t, int64_t> m_shipped; ///< slot -> the size that is in the store
  int64_t m_next_mono = 0;              ///< when ship() looks again
};

} // namespace muster::agent

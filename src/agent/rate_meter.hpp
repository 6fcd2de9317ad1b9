#pragma once
// The recent rate of finished jobs, for the progress line and the heartbeat.
// Ten one-second buckets: noting a finish and reading the rate cost the same
// whatever the run's size, and allocate nothing.

#include <cstdint>

namespace muster::agent {

/// Jobs finished per second over the last ten seconds (fewer at the start).
class RateMeter {
public:
  /// One job finished at `mono_ms` (monotonic).
  void note(int64_t mono_ms);
  /// The rate at `mono_ms`, `elapsed_ms` into the run; < 0 while too little
  /// time has passed to say.
  double rate(int64_t mono_ms, int64_t elapsed_ms) const;

private:
  static constexpr int64_t k_buckets = 10;
  int64_t m_buckets[k_buckets] = {};
  int64_t m_bucket_second = 0;
};

} // namespace muster::agent

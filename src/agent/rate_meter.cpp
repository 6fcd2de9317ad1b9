#include "agent/rate_meter.hpp"

#include <algorithm>

namespace muster::agent {

void RateMeter::note(int64_t mono_ms) {
  const int64_t second = mono_ms / 1000;
  if (second != m_bucket_second) {
    for (int64_t s = m_bucket_second + 1; s <= second && s <= m_bucket_second + k_buckets;
         ++s) {
      m_buckets[s % k_buckets] = 0;
    }
    m_bucket_second = second;
  }
  m_buckets[second % k_buckets] += 1;
}

double RateMeter::rate(int64_t mono_ms, int64_t elapsed_ms) const {
  // The last ten whole seconds (fewer at the start), plus the current one.
  const int64_t second = mono_ms / 1000;
  int64_t done = 0;
  for (int64_t s = second - (k_buckets - 1); s <= second; ++s) {
    if (s > m_bucket_second - k_buckets && s <= m_bucket_second) {
      done += m_buckets[s % k_buckets];
    }
  }
  const int64_t span_ms = std::min<int64_t>(elapsed_ms, 9000 + mono_ms % 1000);
  if (span_ms < 200) {
    return -1;
  }
  return static_cast<double>(done) * 1000.0 / static_cast<double>(span_ms);
}

} // namespace muster::agent

#pragma once
// Exponential backoff with jitter for retries.

#include <cstdint>

namespace muster::core {

/// How retries are spaced.
struct BackoffPolicy {
  int64_t initial_ms = 1000; ///< the delay before the first retry
  int64_t max_ms = 300'000;  ///< the delay never grows past this (before jitter)
  double jitter = 0.2;       ///< ±20%
};

/// The delay before retry number `retry` (1 for the first retry). `unit` is a
/// random number in [-1, 1] that picks the jitter; the result lies within
/// [base × (1 - jitter), base × (1 + jitter)], where base = min(initial ×
/// 2^(retry-1), max).
int64_t backoff_delay_ms(const BackoffPolicy& policy, int64_t retry, double unit);

} // namespace muster::core

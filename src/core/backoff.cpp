#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace muster::core {

int64_t backoff_delay_ms(const BackoffPolicy& policy, int64_t retry, double unit) {
  double base = static_cast<double>(std::max<int64_t>(policy.initial_ms, 0));
  const double cap = static_cast<double>(std::max(policy.max_ms, policy.initial_ms));
  for (int64_t i = 1; i < retry && base < cap; ++i) {
    base *= 2;
  }
  base = std::min(base, cap);
  unit = std::clamp(unit, -1.0, 1.0);
  return static_cast<int64_t>(std::llround(base * (1.0 + policy.jitter * unit)));
}

} // namespace muster::core

#include "core/eta.hpp"

#include <algorithm>

namespace muster::core {

int64_t eta_ms(const EtaInput& in) {
  if (in.left <= 0) {
    return 0;
  }
  if (in.paused) {
    return -1; // it waits for someone to resume it
  }
  int64_t work = -1;
  if (in.rate > 0) {
    work = static_cast<int64_t>(static_cast<double>(in.left) * 1000.0 / in.rate);
  }
  if (in.rate_interval_us > 0) {
    // The jobs left cannot start faster than the cap allows.
    work = std::max(work, in.left * in.rate_interval_us / 1000);
  }
  if (work < 0) {
    return -1;
  }
  const int64_t halt = std::max<int64_t>(0, in.halted_until - in.now_ms);
  const int64_t retry = std::max<int64_t>(0, in.retry_at - in.now_ms);
  return std::max(work + halt, retry);
}

} // namespace muster::core

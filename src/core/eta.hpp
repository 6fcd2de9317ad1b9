#pragma once
// When a run should end, from what it has measured and what holds it back:
// the rate of finished jobs, a --rate cap on starts, a rule's halt, a retry
// that is not due yet, and a pause. Pure: the agent's progress line, `status`
// and `--json` all ask it.

#include <cstdint>

namespace muster::core {

struct EtaInput {
  int64_t left = 0;             ///< jobs not finished
  double rate = 0;              ///< jobs finished per second, as measured; 0 none yet
  int64_t rate_interval_us = 0; ///< --rate: the least time between starts; 0 none
  int64_t now_ms = 0;           ///< epoch ms
  int64_t halted_until = 0;     ///< epoch ms: no claims before it; 0 none
  int64_t retry_at = 0;         ///< epoch ms: a retrying job is due then; 0 none
  bool paused = false;          ///< `muster pause`: nothing starts until a resume
};

/// Milliseconds until the run ends; -1 when that cannot be told (paused, or
/// nothing measured and no cap to go by).
int64_t eta_ms(const EtaInput& in);

} // namespace muster::core

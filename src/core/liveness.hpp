#pragma once
// Liveness: how often an agent beats, how long its claims stay its own, and
// when it counts as gone. One definition, so the agent, every backend and
// the CLI agree on who is alive. Pure; no I/O.

#include <algorithm>
#include <cstdint>

namespace muster::core {

/// The heartbeat interval when none is given (ms).
inline constexpr int64_t k_default_heartbeat_ms = 2000;
/// Missed heartbeats after which an agent is gone and its leases run out.
inline constexpr int64_t k_missed_beats = 3;
/// How long an agent of unknown interval may stay silent (ms).
inline constexpr int64_t k_unknown_silence_ms = 60'000;

/// The lease a claim or heartbeat grants: three heartbeat intervals.
constexpr int64_t lease_ms(int64_t heartbeat_ms) {
  return k_missed_beats * heartbeat_ms;
}

/// How long an agent may stay silent before it counts as gone; an agent of
/// unknown interval (0) gets k_unknown_silence_ms.
constexpr int64_t silence_limit_ms(int64_t heartbeat_ms) {
  return heartbeat_ms > 0 ? lease_ms(heartbeat_ms) : k_unknown_silence_ms;
}

/// True when an agent whose last heartbeat was at `heartbeat_at` is gone.
constexpr bool is_offline(int64_t now_ms, int64_t heartbeat_at, int64_t heartbeat_ms) {
  return now_ms - heartbeat_at > silence_limit_ms(heartbeat_ms);
}

} // namespace muster::core

#pragma once
// Slots that yield to the machine, as GNU parallel's --load and --memfree: no
// new job starts while the load average is above a limit or the memory
// available is below one. Looked at once a second at most.

#include <cstdint>
#include <functional>
#include <string>

namespace muster::agent {

/// What the gate reads of the machine; tests give their own.
struct MachineState {
  double load1 = 0;       ///< the 1-minute load average
  uint64_t available = 0; ///< MemAvailable, in bytes
};

/// Reads /proc/loadavg and /proc/meminfo.
MachineState read_machine_state();

class MachineGate {
public:
  /// `max_load` <= 0 and `min_free` == 0 turn each check off.
  MachineGate(double max_load, uint64_t min_free,
              std::function<MachineState()> read = read_machine_state)
      : m_max_load(max_load), m_min_free(min_free), m_read(std::move(read)) {}

  /// Which limit holds new jobs back.
  enum class Limit { none, load, memory };

  bool enabled() const { return m_max_load > 0 || m_min_free > 0; }
  /// Why no job may start now ("" when one may), as of `mono_ms`.
  const std::string& holding(int64_t mono_ms);
  /// What `holding()` last said, without looking again.
  const std::string& last_reason() const { return m_why; }
  /// Which limit `holding()` last found passed.
  Limit limit() const { return m_limit; }

private:
  double m_max_load;
  uint64_t m_min_free;
  std::function<MachineState()> m_read;
  int64_t m_checked = -1'000'000;
  std::string m_why;
  Limit m_limit = Limit::none;
};

} // namespace muster::agent

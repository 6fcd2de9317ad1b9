#include "agent/machine_gate.hpp"

#include "util/files.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace muster::agent {

MachineState read_machine_state() {
  MachineState m;
  const std::string load = util::read_file("/proc/loadavg");
  std::sscanf(load.c_str(), "%lf", &m.load1);
  const std::string mem = util::read_file("/proc/meminfo");
  if (const char* at = std::strstr(mem.c_str(), "MemAvailable:")) {
    uint64_t kib = 0;
    std::sscanf(at + std::strlen("MemAvailable:"), "%" SCNu64, &kib);
    m.available = kib * 1024;
  }
  return m;
}

const std::string& MachineGate::holding(int64_t mono_ms) {
  if (!enabled() || mono_ms - m_checked < 1000) {
    return m_why;
  }
  m_checked = mono_ms;
  const MachineState m = m_read();
  char buf[160];
  if (m_max_load > 0 && m.load1 > m_max_load) {
    std::snprintf(buf, sizeof buf, "the load average is %.2f, above --load %g", m.load1,
                  m_max_load);
    m_why = buf;
    m_limit = Limit::load;
  } else if (m_min_free > 0 && m.available < m_min_free) {
    std::snprintf(buf, sizeof buf,
                  "%" PRIu64 " MiB of memory is free, below --memfree %" PRIu64 " MiB",
                  m.available >> 20, m_min_free >> 20);
    m_why = buf;
    m_limit = Limit::memory;
  } else {
    m_why.clear();
    m_limit = Limit::none;
  }
  return m_why;
}

} // namespace muster::agent

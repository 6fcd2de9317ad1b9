#pragma once
// What each slot owns: named ports now. Pure: the plan is computed from the
// run's settings and the slot count, and checked, without touching the system.

#include "util/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace muster::core {

/// A named port, or range of ports, that every slot gets its own of:
/// slot s owns base + s × stride … base + s × stride + count − 1.
struct PortSpec {
  std::string name;
  int64_t base = 0;
  int64_t stride = 1;
  int64_t count = 1;
  std::string where; ///< "FILE:LINE" of its definition, for messages ("" from flags)
};

/// The ports of one slot: name → first port, and the last one of a range.
struct SlotPorts {
  int64_t slot = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> ports; ///< name → [first, last]
};

/// Checks names, ranges and overlaps for `slots` slots, and lays the ports out.
/// Errors name the definition's file and line, the slots and the ports.
util::Result<std::vector<SlotPorts>> plan_ports(const std::vector<PortSpec>& specs,
                                               int64_t slots);

/// The placeholders and environment of one slot: {port.NAME}, {port.NAME.last}
/// and MUSTER_PORT_NAME, MUSTER_PORT_NAME_LAST (the name upper-cased, with
/// anything not a letter or digit turned into '_').
std::map<std::string, std::string> slot_values(const SlotPorts& ports);
std::vector<std::string> slot_env(const SlotPorts& ports);

} // namespace muster::core

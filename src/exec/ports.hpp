#pragma once
// Whether a TCP port on this machine is free, and who holds it when not.

#include "util/result.hpp"

#include <cstdint>
#include <string>

namespace muster::exec {

/// Tries to bind `port` on all addresses. An error says which process holds
/// it when /proc tells ("in use by pid 123 (python3)").
util::Result<void> check_port_free(int64_t port);

} // namespace muster::exec

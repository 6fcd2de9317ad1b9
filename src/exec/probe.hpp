#pragma once
// Readiness probes for sidecars: an HTTP GET that must answer 2xx, or a TCP
// port that must accept a connection. A probe never blocks: it is started,
// then checked from the event loop until it answers or its time runs out.

#include "util/fd.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace muster::exec {

/// One readiness check in flight.
class Probe {
public:
  enum class Status { pending, ready, failed };
  virtual ~Probe() = default;
  /// Goes as far as it can without waiting. `now_ms` is monotonic.
  virtual Status check(int64_t now_ms) = 0;
};

/// Starts probing `url`, "http://HOST:PORT/PATH" (ready on a 2xx status
/// line) or "tcp://HOST:PORT" (ready once a connection opens). It fails once
/// `deadline_ms` (monotonic) passes. HOST is an address, or a name the
/// system resolves (`localhost` from /etc/hosts; a DNS name may wait for
/// the resolver, once per probe).
std::unique_ptr<Probe> start_probe(const std::string& url, int64_t deadline_ms);

} // namespace muster::exec

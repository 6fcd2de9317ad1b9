#pragma once
// Readiness probes for sidecars: an HTTP GET that must answer 2xx, or a TCP
// port that must accept a connection.

#include <string>

namespace muster::exec {

/// "http://HOST:PORT/PATH": true on a 2xx status line. "tcp://HOST:PORT":
/// true when a connection opens. Waits at most `timeout_ms`.
bool probe(const std::string& url, int timeout_ms);

} // namespace muster::exec

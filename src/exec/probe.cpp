#include "exec/probe.hpp"

#include "util/fd.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace muster::exec {

namespace {

// Connects to host:port within timeout_ms; an invalid Fd when it cannot.
util::Fd connect_to(const std::string& host, const std::string& port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    return util::Fd();
  }
  util::Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  bool ok = false;
  if (fd.valid()) {
    int rc = ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd.get(), POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, timeout_ms) == 1 &&
           getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  freeaddrinfo(res);
  return ok ? std::move(fd) : util::Fd();
}

} // namespace

bool probe(const std::string& url, int timeout_ms) {
  const bool http = url.rfind("http://", 0) == 0;
  const bool tcp = url.rfind("tcp://", 0) == 0;
  if (!http && !tcp) {
    return false;
  }
  std::string rest = url.substr(http ? 7 : 6);
  const size_t slash = rest.find('/');
  const std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string hostport = rest.substr(0, slash);
  const size_t colon = hostport.rfind(':');
  const std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  const std::string port =
      colon == std::string::npos ? (http ? "80" : "") : hostport.substr(colon + 1);
  util::Fd fd = connect_to(host, port, timeout_ms);
  if (!fd.valid()) {
    return false;
  }
  if (tcp) {
    return true;
  }
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string reply;
  char buf[256];
  while (reply.find("\r\n") == std::string::npos && reply.size() < 4096) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) {
      return false;
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.x 2xx ..."
  const size_t sp = reply.find(' ');
  return sp != std::string::npos && sp + 1 < reply.size() && reply[sp + 1] == '2';
}

} // namespace muster::exec

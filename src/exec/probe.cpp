#include "exec/probe.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace muster::exec {

namespace {

/// A probe of a socket: connecting, then (for HTTP) sending the request
/// and reading the status line, each step only when the socket is ready.
class SocketProbe final : public Probe {
public:
  SocketProbe(util::Fd fd, bool http, std::string request, int64_t deadline_ms)
      : m_fd(std::move(fd)), m_http(http), m_request(std::move(request)),
        m_deadline(deadline_ms) {}

  Status check(int64_t now_ms) override {
    if (m_status == Status::pending) {
      m_status = step();
      if (m_status == Status::pending && now_ms >= m_deadline) {
        m_status = Status::failed;
      }
      if (m_status != Status::pending) {
        m_fd.reset();
      }
    }
    return m_status;
  }

private:
  /// Whether the socket has `events` now (a poll that does not wait).
  bool ready_for(short events) {
    pollfd p{m_fd.get(), events, 0};
    return ::poll(&p, 1, 0) == 1;
  }

  Status step() {
    if (!m_connected) {
      if (!ready_for(POLLOUT)) {
        return Status::pending;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(m_fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        return Status::failed;
      }
      m_connected = true;
      if (!m_http) {
        return Status::ready;
      }
    }
    while (m_sent < m_request.size()) {
      const ssize_t n = ::send(m_fd.get(), m_request.data() + m_sent,
                               m_request.size() - m_sent, MSG_NOSIGNAL);
      if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? Status::pending : Status::failed;
      }
      m_sent += static_cast<size_t>(n);
    }
    char buf[256];
    while (m_reply.find("\r\n") == std::string::npos && m_reply.size() < 4096) {
      const ssize_t n = ::recv(m_fd.get(), buf, sizeof buf, 0);
      if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? Status::pending : Status::failed;
      }
      if (n == 0) {
        break; // closed: judge what came
      }
      m_reply.append(buf, static_cast<size_t>(n));
    }
    // "HTTP/1.x 2xx ..."
    const size_t sp = m_reply.find(' ');
    return sp != std::string::npos && sp + 1 < m_reply.size() && m_reply[sp + 1] == '2'
               ? Status::ready
               : Status::failed;
  }

  util::Fd m_fd;
  bool m_http;
  std::string m_request;
  int64_t m_deadline;
  bool m_connected = false;
  size_t m_sent = 0;
  std::string m_reply;
  Status m_status = Status::pending;
};

/// A probe that has its answer already (a bad URL, a refused connection).
class Answered final : public Probe {
public:
  explicit Answered(Status s) : m_status(s) {}
  Status check(int64_t) override { return m_status; }

private:
  Status m_status;
};

} // namespace

std::unique_ptr<Probe> start_probe(const std::string& url, int64_t deadline_ms) {
  const auto failed = [] { return std::make_unique<Answered>(Probe::Status::failed); };
  const bool http = url.rfind("http://", 0) == 0;
  const bool tcp = url.rfind("tcp://", 0) == 0;
  if (!http && !tcp) {
    return failed();
  }
  std::string rest = url.substr(http ? 7 : 6);
  const size_t slash = rest.find('/');
  const std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string hostport = rest.substr(0, slash);
  const size_t colon = hostport.rfind(':');
  const std::string host =
      colon == std::string::npos ? hostport : hostport.substr(0, colon);
  const std::string port =
      colon == std::string::npos ? (http ? "80" : "") : hostport.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    return failed();
  }
  util::Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const int rc = fd.valid() ? ::connect(fd.get(), res->ai_addr, res->ai_addrlen) : -1;
  const bool connecting = fd.valid() && (rc == 0 || errno == EINPROGRESS);
  freeaddrinfo(res);
  if (!connecting) {
    return failed();
  }
  std::string request = http ? "GET " + path + " HTTP/1.0\r\nHost: " + hostport +
                                   "\r\nConnection: close\r\n\r\n"
                             : "";
  return std::make_unique<SocketProbe>(std::move(fd), http, std::move(request),
                                       deadline_ms);
}

} // namespace muster::exec

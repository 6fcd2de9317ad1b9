// Readiness probes: never a blocking wait, and the answers they read.

#include "exec/probe.hpp"
#include "util/time.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace muster::exec {
namespace {

/// A socket listening on a free loopback port.
struct Listener {
  util::Fd fd;
  int port = 0;
  Listener() {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
  }
  std::string url(const std::string& scheme) const {
    return scheme + "://127.0.0.1:" + std::to_string(port) + "/status";
  }
};

/// Checks `p` every millisecond until it answers or `ms` pass; fails the
/// test if one check takes longer than 20 ms (a check must not wait).
Probe::Status settle(Probe& p, int64_t ms) {
  const int64_t end = util::monotonic_ms() + ms;
  for (;;) {
    const int64_t before = util::monotonic_ms();
    const auto s = p.check(before);
    EXPECT_LT(util::monotonic_ms() - before, 20) << "a probe's check waited";
    if (s != Probe::Status::pending || before >= end) {
      return s;
    }
    ::usleep(1000);
  }
}

TEST(Probe, AServerThatNeverAnswersNeitherBlocksNorPasses) {
  Listener l; // the kernel accepts the connection; nobody ever answers
  const int64_t start = util::monotonic_ms();
  auto p = start_probe(l.url("http"), start + 300);
  EXPECT_LT(util::monotonic_ms() - start, 20) << "starting a probe waited";
  EXPECT_EQ(p->check(util::monotonic_ms()), Probe::Status::pending);
  EXPECT_EQ(settle(*p, 2000), Probe::Status::failed);
  EXPECT_GE(util::monotonic_ms() - start, 300) << "failed before its deadline";
}

TEST(Probe, HttpIsReadyOn2xxAndNotOnOtherStatuses) {
  for (const auto& [status, want] :
       {std::pair{std::string("200 OK"), Probe::Status::ready},
        std::pair{std::string("204 No Content"), Probe::Status::ready},
        std::pair{std::string("503 Service Unavailable"), Probe::Status::failed}}) {
    Listener l;
    std::string asked;
    std::thread server([&] {
      util::Fd c(::accept(l.fd.get(), nullptr, nullptr));
      char buf[512];
      const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      asked.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
      ::usleep(30'000); // answers late: the probe must still be pending meanwhile
      const std::string reply = "HTTP/1.0 " + status + "\r\nContent-Length: 0\r\n\r\n";
      ::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    });
    auto p = start_probe(l.url("http"), util::monotonic_ms() + 5000);
    EXPECT_EQ(settle(*p, 5000), want) << status;
    server.join();
    EXPECT_EQ(asked.rfind("GET /status HTTP/1.0\r\n", 0), 0u) << asked;
  }
}

TEST(Probe, TcpIsReadyWhenAConnectionOpensAndFailsWhenRefused) {
  int closed_port = 0;
  {
    Listener l;
    auto p = start_probe(l.url("tcp"), util::monotonic_ms() + 2000);
    EXPECT_EQ(settle(*p, 2000), Probe::Status::ready);
    closed_port = l.port;
  } // closed: nothing listens there now
  auto refused = start_probe("tcp://127.0.0.1:" + std::to_string(closed_port),
                             util::monotonic_ms() + 2000);
  EXPECT_EQ(settle(*refused, 2000), Probe::Status::failed);
}

TEST(Probe, ABadUrlFails) {
  for (const char* url : {"ftp://127.0.0.1:21/", "http://", "tcp://127.0.0.1:notaport"}) {
    auto p = start_probe(url, util::monotonic_ms() + 1000);
    EXPECT_EQ(settle(*p, 1000), Probe::Status::failed) << url;
  }
}

} // namespace
} // namespace muster::exec

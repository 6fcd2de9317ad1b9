#include "util/fd.hpp"

#include <cerrno>
#include <unistd.h>

namespace muster::util {

void Fd::reset(int fd) {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
  m_fd = fd;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

uint64_t read_chunks(int fd, const std::function<void(std::string_view)>& each) {
  char buf[64 * 1024];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return total;
    }
    total += static_cast<uint64_t>(n);
    each(std::string_view(buf, static_cast<size_t>(n)));
  }
}

} // namespace muster::util

#pragma once
// RAII for file descriptors.

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

namespace muster::util {

/// Owns one file descriptor and closes it on destruction.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  int release() { return std::exchange(m_fd, -1); }
  void reset(int fd = -1);

private:
  int m_fd = -1;
};

/// Writes all of `data` to `fd`, across short writes and EINTR; false when a
/// write fails (errno says why: EPIPE when the reader is gone).
bool write_all(int fd, std::string_view data);

/// Reads `fd` to its current end in pieces of at most 64 KiB, handing each to
/// `each`; returns the bytes read.
uint64_t read_chunks(int fd, const std::function<void(std::string_view)>& each);

} // namespace muster::util

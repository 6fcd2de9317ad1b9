#pragma once
// What the unit tests of every layer share.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace muster::util::test_support {

/// What `fd` gives until a read returns 0 (its end) or fails (EAGAIN on an
/// empty non-blocking pipe).
inline std::string read_fd(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

/// A new directory under /tmp for one test, removed with all it holds. A
/// test fixture holds one; if it cannot be made, the constructor throws, and
/// the test fails before it runs.
class TempDir {
public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
    }
    m_path = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

} // namespace muster::util::test_support

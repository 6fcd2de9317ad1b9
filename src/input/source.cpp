#include "input/source.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace muster::input {

namespace {

constexpr size_t k_chunk = size_t{64} * 1024;
constexpr std::string_view k_bom = "\xEF\xBB\xBF";

} // namespace

LineSource::LineSource(std::string name, util::Fd owned, int fd)
    : m_name(std::move(name)), m_owned(std::move(owned)), m_fd(fd),
      m_buf(new char[k_chunk]), m_capacity(k_chunk) {}

util::Error LineSource::error_at(size_t line, size_t column,
                                 std::string_view what) const {
  std::string msg = util::printable(m_name);
  msg += ':';
  msg += std::to_string(line);
  msg += ':';
  msg += std::to_string(column);
  msg += ": ";
  msg += what;
  return util::Error{std::move(msg)};
}

util::Result<bool> LineSource::checked(std::string_view line) const {
  const void* nul = std::memchr(line.data(), '\0', line.size());
  if (nul == nullptr) {
    return true;
  }
  const auto column =
      static_cast<size_t>(static_cast<const char*>(nul) - line.data()) + 1;
  return error_at(m_line, column,
                  "NUL byte: expected text, since no argument of a job can hold a NUL");
}

util::Result<void> LineSource::fill() {
  if (m_begin > 0) {
    // Keep the partial line, drop what was returned already.
    std::memmove(m_buf.get(), m_buf.get() + m_begin, m_end - m_begin);
    m_scan -= m_begin;
    m_end -= m_begin;
    m_begin = 0;
  }
  if (m_end == m_capacity) {
    // One line longer than the buffer: grow to hold it.
    size_t capacity = m_capacity * 2;
    std::unique_ptr<char[]> buf(new char[capacity]);
    std::memcpy(buf.get(), m_buf.get(), m_end);
    m_buf = std::move(buf);
    m_capacity = capacity;
  }
  size_t want = std::min(k_chunk, m_capacity - m_end);
  for (;;) {
    ssize_t n = ::read(m_fd, m_buf.get() + m_end, want);
    if (n > 0) {
      m_end += static_cast<size_t>(n);
      return {};
    }
    if (n == 0) {
      m_eof = true;
      return {};
    }
    if (errno != EINTR) {
      return util::Error{util::printable(m_name) +
                         ": cannot read: " + std::strerror(errno)};
    }
  }
}

util::Result<bool> LineSource::next(std::string_view& line) {
  if (!m_started) {
    // A short read (a pipe) may split the mark, so get three bytes first.
    while (m_end < k_bom.size() && !m_eof) {
      if (auto r = fill(); !r) {
        return r.error();
      }
    }
    if (std::string_view(m_buf.get(), m_end).substr(0, k_bom.size()) == k_bom) {
      m_begin = m_scan = k_bom.size();
    }
    m_started = true;
  }
  for (;;) {
    const char* base = m_buf.get();
    const void* nl =
        m_scan < m_end ? std::memchr(base + m_scan, '\n', m_end - m_scan) : nullptr;
    if (nl != nullptr) {
      size_t at = static_cast<size_t>(static_cast<const char*>(nl) - base);
      line = std::string_view(base + m_begin, at - m_begin);
      m_begin = m_scan = at + 1;
      ++m_line;
      return checked(line);
    }
    m_scan = m_end;
    if (m_eof) {
      if (m_begin == m_end) {
        return false;
      }
      // The last line has no "\n".
      line = std::string_view(base + m_begin, m_end - m_begin);
      m_begin = m_scan = m_end;
      ++m_line;
      return checked(line);
    }
    if (auto r = fill(); !r) {
      return r.error();
    }
  }
}

util::Result<LineSource> open_source(const std::string& path) {
  if (path == "-") {
    return LineSource("<stdin>", util::Fd(), STDIN_FILENO);
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return util::Error{util::printable(path) + ": cannot open: " + std::strerror(errno)};
  }
  util::Fd owned(fd);
  return LineSource(path, std::move(owned), fd);
}

} // namespace muster::input

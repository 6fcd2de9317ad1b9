#pragma once
// A buffered line source over one file descriptor, shared by the readers.
// Private to input/.

#include "util/fd.hpp"
#include "util/result.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace muster::input {

/// Splits a file into lines, reading it in fixed chunks, so memory stays at
/// one chunk (or the longest line) whatever the file's size. A UTF-8 byte order
/// mark at the start is dropped.
class LineSource {
public:
  /// Reads `fd`; `owned` closes it at the end (invalid for standard input).
  LineSource(std::string name, util::Fd owned, int fd);

  /// The next line without its "\n" (a "\r" before it is kept), valid until
  /// the next call; false at the end. A NUL byte is an error: no argument or
  /// environment value of a job could hold it.
  util::Result<bool> next(std::string_view& line);
  /// 1-based number of the line that next() returned last.
  size_t line_number() const { return m_line; }
  /// The input's name in messages: the path as given, or "<stdin>".
  const std::string& name() const { return m_name; }

  /// "NAME:LINE:COLUMN: what" as an Error.
  util::Error error_at(size_t line, size_t column, std::string_view what) const;

private:
  // Reads more bytes after m_end, compacting or growing the buffer first.
  util::Result<void> fill();
  // `line` as next() returns it: true, or the error for a NUL in it.
  util::Result<bool> checked(std::string_view line) const;

  std::string m_name;
  util::Fd m_owned;
  int m_fd = -1;
  std::unique_ptr<char[]> m_buf;
  size_t m_capacity = 0;
  size_t m_begin = 0; // start of the unread bytes
  size_t m_scan = 0;  // bytes before this hold no '\n'
  size_t m_end = 0;   // end of the bytes read
  size_t m_line = 0;
  bool m_eof = false;
  bool m_started = false;
};

/// Opens `path` ("-" is standard input).
util::Result<LineSource> open_source(const std::string& path);

/// `line` without one trailing "\r" (the rest of a CRLF line ending).
inline std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

} // namespace muster::input

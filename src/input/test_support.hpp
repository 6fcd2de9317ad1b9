#pragma once
// Temporary input files and whole-input reads for the input/ tests.

#include "input/reader.hpp"

#include <cstdlib>
#include <gtest/gtest.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace muster::input::test_support {

/// A file under /tmp holding given bytes, removed on destruction.
class TempFile {
public:
  explicit TempFile(std::string_view content, std::string_view suffix = "") {
    std::string name = "/tmp/muster_input_XXXXXX";
    name += suffix;
    int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd < 0) {
      ADD_FAILURE() << "mkstemps failed";
      return;
    }
    m_path = name;
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n <= 0) {
        ADD_FAILURE() << "write failed";
        break;
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!m_path.empty()) {
      ::unlink(m_path.c_str());
    }
  }

  const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

/// Everything a reader produced: its columns and records, or its error with the
/// file's path cut off the front (so "3:5: what").
struct ReadAll {
  std::vector<std::string> columns;
  std::vector<Record> records;
  std::string error;
};

inline ReadAll read_reader(Reader& reader) {
  ReadAll out;
  out.columns = reader.columns();
  for (;;) {
    Record rec;
    auto got = reader.next(rec);
    if (!got) {
      out.error = got.error().message;
      return out;
    }
    if (!*got) {
      return out;
    }
    out.records.push_back(std::move(rec));
  }
}

inline ReadAll read_all(std::string_view content, Format format,
                        std::string_view json_path = "") {
  TempFile file(content);
  ReadAll out;
  auto reader = open_reader(file.path(), format, json_path);
  if (!reader) {
    out.error = reader.error().message;
  } else {
    out = read_reader(**reader);
  }
  std::string prefix = file.path() + ":";
  if (out.error.compare(0, prefix.size(), prefix) == 0) {
    out.error.erase(0, prefix.size());
  } else if (!out.error.empty()) {
    ADD_FAILURE() << "error does not start with the path: " << out.error;
  }
  return out;
}

} // namespace muster::input::test_support

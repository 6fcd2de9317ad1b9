#include "util/files.hpp"

#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace muster::util {

namespace {

bool excluded(const fs::path& p, const std::vector<std::string>& exclude) {
  const std::string name = p.filename().string();
  for (const auto& pattern : exclude) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

/// The umask muster was started with, once use_store_mode replaced it.
std::optional<mode_t> g_inherited_umask;

} // namespace

void use_store_mode(unsigned mode) {
  const mode_t before = ::umask(~static_cast<mode_t>(mode) & 0777);
  if (!g_inherited_umask) {
    g_inherited_umask = before;
  }
}

unsigned job_umask() {
  if (g_inherited_umask) {
    return *g_inherited_umask;
  }
  const mode_t now = ::umask(022);
  ::umask(now);
  return now;
}

Result<void> copy_tree(const std::string& from, const std::string& to,
                       const std::vector<std::string>& exclude) {
  std::error_code ec;
  if (!fs::is_directory(from, ec)) {
    return Error{"slot directory template " + from + " is not a directory"};
  }
  fs::create_directories(to, ec);
  if (ec) {
    return Error{"cannot create " + to + ": " + ec.message()};
  }
  fs::recursive_directory_iterator it(from, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path& src = it->path();
    if (excluded(src, exclude)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    const fs::path dst = fs::path(to) / fs::relative(src, from, ec);
    if (it->is_symlink(ec)) {
      fs::copy_symlink(src, dst, ec);
    } else if (it->is_directory(ec)) {
      fs::create_directories(dst, ec);
    } else {
      fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) {
      return Error{"copying " + src.string() + " to " + dst.string() + ": " +
                   ec.message()};
    }
  }
  if (ec) {
    return Error{"reading " + from + ": " + ec.message()};
  }
  return {};
}

bool copy_file_to(const std::string& path, FILE* to, bool* ends_with_newline) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  std::fflush(to);
  char buf[64 * 1024];
  bool newline = true;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    std::fwrite(buf, 1, static_cast<size_t>(n), to);
    newline = buf[n - 1] == '\n';
  }
  ::close(fd);
  std::fflush(to);
  if (ends_with_newline) {
    *ends_with_newline = newline;
  }
  return true;
}

Result<void> make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return Error{"cannot create " + path + ": " + ec.message()};
  }
  return {};
}

Result<void> remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    return Error{"cannot remove " + path + ": " + ec.message()};
  }
  return {};
}

void append_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_tail(const std::string& path, uint64_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
    return {};
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  const uint64_t from = max_bytes > 0 && size > max_bytes ? size - max_bytes : 0;
  std::string out(size - from, '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(from + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

bool keep_tail(const std::string& path, uint64_t max_bytes) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (max_bytes == 0 || !in.valid() || ::fstat(in.get(), &st) != 0 ||
      static_cast<uint64_t>(st.st_size) <= max_bytes) {
    return false;
  }
  const std::string tmp = path + ".tail";
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!out.valid()) {
    return false;
  }
  off_t at = st.st_size - static_cast<off_t>(max_bytes);
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::pread(in.get(), buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    if (!write_all(out.get(), std::string_view(buf, static_cast<size_t>(n)))) {
      ::unlink(tmp.c_str());
      return false;
    }
    at += n;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
}

bool each_chunk(const std::string& path,
                const std::function<void(std::string_view)>& each) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return false;
  }
  read_chunks(fd.get(), each);
  return true;
}

} // namespace muster::util

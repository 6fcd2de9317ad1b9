#include "util/files.hpp"

#include "util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace muster::util {

namespace {

bool excluded(std::string_view name, const std::vector<std::string>& exclude) {
  const std::string n(name);
  for (const auto& pattern : exclude) {
    if (fnmatch(pattern.c_str(), n.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

/// The umask muster was started with, once use_store_mode replaced it.
std::optional<mode_t> g_inherited_umask;

Error copy_error(const std::string& what, const std::string& path) {
  return Error{what + " " + path + ": " + std::strerror(errno)};
}

// Copies the file `name` of the directory `src` to the same name in `dst`,
// with its permission bits. The new file is created, never opened through
// an existing link.
Result<void> copy_file_at(int src, int dst, const char* name, mode_t mode,
                          const std::string& src_path, const std::string& dst_path) {
  Fd in(::openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.valid()) {
    return copy_error("cannot read", src_path);
  }
  Fd out(::openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  mode & 07777));
  if (!out.valid()) {
    return copy_error("cannot create", dst_path);
  }
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return copy_error("cannot read", src_path);
    }
    if (n == 0) {
      break;
    }
    if (!write_all(out.get(), std::string_view(buf, static_cast<size_t>(n)))) {
      return copy_error("cannot write", dst_path);
    }
  }
  ::fchmod(out.get(), mode & 07777); // the umask may have taken bits away
  return {};
}

// Copies what the directory `src` holds into the directory `dst`, working
// only through the two descriptors and names inside them: no path is
// resolved, no link is followed, so nothing is written outside `dst`.
Result<void> copy_dir_at(int src, int dst, const std::string& src_path,
                         const std::string& dst_path,
                         const std::vector<std::string>& exclude, int depth) {
  if (depth > 256) {
    return Error{"slot directory template " + src_path + " is nested too deep"};
  }
  const int listing = ::dup(src);
  DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
  if (dir == nullptr) {
    if (listing >= 0) {
      ::close(listing);
    }
    return copy_error("cannot read", src_path);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  ::rewinddir(dir);
  while (dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == ".." || excluded(name, exclude)) {
      continue;
    }
    const std::string from = src_path + "/" + e->d_name;
    const std::string to = dst_path + "/" + e->d_name;
    struct stat st {};
    if (::fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return copy_error("cannot read", from);
    }
    // What a previous setup left: a directory stays and is filled again;
    // anything else (a file, a link) is replaced, never written through.
    struct stat old {};
    const bool exists = ::fstatat(dst, e->d_name, &old, AT_SYMLINK_NOFOLLOW) == 0;
    const bool keep_dir = exists && S_ISDIR(old.st_mode) && S_ISDIR(st.st_mode);
    if (exists && !keep_dir) {
      if (S_ISDIR(old.st_mode)) {
        return Error{"cannot copy " + from + ": " + to + " is a directory"};
      }
      if (::unlinkat(dst, e->d_name, 0) != 0) {
        return copy_error("cannot replace", to);
      }
    }
    if (S_ISLNK(st.st_mode)) {
      // The link's text as it is, absolute or not: it is never resolved.
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlinkat(src, e->d_name, target.data(), target.size());
      if (n < 0) {
        return copy_error("cannot read", from);
      }
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), dst, e->d_name) != 0) {
        return copy_error("cannot create", to);
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (!keep_dir && ::mkdirat(dst, e->d_name, 0700) != 0) {
        return copy_error("cannot create", to);
      }
      Fd sub_src(
          ::openat(src, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_src.valid()) {
        return copy_error("cannot read", from);
      }
      Fd sub_dst(
          ::openat(dst, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_dst.valid()) {
        return copy_error("cannot open", to);
      }
      if (auto r =
              copy_dir_at(sub_src.get(), sub_dst.get(), from, to, exclude, depth + 1);
          !r) {
        return r;
      }
      ::fchmod(sub_dst.get(), st.st_mode & 07777);
    } else if (S_ISREG(st.st_mode)) {
      if (auto r = copy_file_at(src, dst, e->d_name, st.st_mode, from, to); !r) {
        return r;
      }
    }
    // Sockets, fifos and devices are not copied.
  }
  return {};
}

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
  Fd src(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src.valid()) {
    return Error{"slot directory template " + from + " is not a directory"};
  }
  if (auto made = make_dirs(to); !made) {
    return made;
  }
  Fd dst(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst.valid()) {
    return copy_error("cannot open", to);
  }
  return copy_dir_at(src.get(), dst.get(), from, to, exclude, 0);
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

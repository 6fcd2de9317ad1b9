#include "exec/ports.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace muster::exec {

namespace {

// The inode of a listening socket on `port`, from /proc/net/tcp and tcp6.
std::string listening_inode(int64_t port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
          inode;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") { // 0A: LISTEN
        continue;
      }
      if (std::stoll(local.substr(colon + 1), nullptr, 16) == port) {
        return inode;
      }
    }
  }
  return {};
}

// "pid 123 (name)" of the process holding socket `inode`, or "".
std::string socket_holder(const std::string& inode) {
  if (inode.empty()) {
    return {};
  }
  const std::string target = "socket:[" + inode + "]";
  DIR* proc = opendir("/proc");
  if (!proc) {
    return {};
  }
  std::string found;
  while (struct dirent* d = readdir(proc)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') {
      continue;
    }
    const std::string fd_dir = std::string("/proc/") + d->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) {
      continue;
    }
    while (struct dirent* f = readdir(fds)) {
      char buf[256];
      const std::string link = fd_dir + "/" + f->d_name;
      ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
      if (n > 0 && std::string(buf, static_cast<size_t>(n)) == target) {
        std::ifstream comm(std::string("/proc/") + d->d_name + "/comm");
        std::string name;
        std::getline(comm, name);
        found = std::string("pid ") + d->d_name + " (" + name + ")";
        break;
      }
    }
    closedir(fds);
    if (!found.empty()) {
      break;
    }
  }
  closedir(proc);
  return found;
}

} // namespace

util::Result<void> check_port_free(int64_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return util::Error{std::string("socket: ") + std::strerror(errno)};
  }
  int one = 1;
  // A port left in TIME_WAIT by an earlier run is free for a new server.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (rc == 0) {
    return {};
  }
  std::string why = "port " + std::to_string(port) + " is ";
  if (err == EADDRINUSE) {
    const std::string holder = socket_holder(listening_inode(port));
    why += holder.empty() ? "in use" : "in use by " + holder;
  } else {
    why += std::string("not usable: ") + std::strerror(err);
  }
  return util::Error{why};
}

} // namespace muster::exec

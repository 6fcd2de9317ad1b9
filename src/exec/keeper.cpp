#include "exec/keeper.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

namespace muster::exec {

namespace {

// Closes every fd but `keep`: the keeper must not hold the store's files or
// the jobs' pipes open.
void close_other_fds(int keep) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) {
    return;
  }
  const int own = dirfd(dir);
  std::vector<int> fds;
  while (struct dirent* d = readdir(dir)) {
    int fd = std::atoi(d->d_name);
    if (d->d_name[0] != '.' && fd != keep && fd != own && fd > 2) {
      fds.push_back(fd);
    }
  }
  closedir(dir);
  for (int fd : fds) {
    close(fd);
  }
}

[[noreturn]] void keeper_main(int pipe_fd) {
  // Terminal signals are for muster, which drains; the keeper's work starts
  // only when muster is gone.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) {
    signal(sig, SIG_IGN);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_NAME, "muster-keeper");
  close_other_fds(pipe_fd);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    close(devnull);
  }
  std::unordered_set<int32_t> groups;
  int32_t buf[1024];
  size_t have = 0; // bytes in buf
  for (;;) {
    ssize_t n = read(pipe_fd, reinterpret_cast<char*>(buf) + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break; // muster is gone, one way or another
    }
    have += static_cast<size_t>(n);
    const size_t whole = have / sizeof(int32_t);
    for (size_t i = 0; i < whole; ++i) {
      if (buf[i] > 0) {
        groups.insert(buf[i]);
      } else {
        groups.erase(-buf[i]);
      }
    }
    const size_t rest = have % sizeof(int32_t);
    std::memmove(buf, reinterpret_cast<char*>(buf) + whole * sizeof(int32_t), rest);
    have = rest;
  }
  for (int32_t pgid : groups) {
    kill(-pgid, SIGKILL);
  }
  _exit(0);
}

} // namespace

util::Result<Keeper> Keeper::start() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return util::Error{std::string("keeper: pipe2: ") + std::strerror(errno)};
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return util::Error{std::string("keeper: fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    close(fds[1]);
    // Its own group: a Ctrl-C at the terminal is not meant for it.
    setpgid(0, 0);
    keeper_main(fds[0]);
  }
  close(fds[0]);
  Keeper k;
  k.m_pipe.reset(fds[1]);
  k.m_pid = pid;
  return k;
}

Keeper::~Keeper() {
  if (m_pid > 0) {
    m_pipe.reset();
    // It exits at once on EOF; reap it so it never lingers as a zombie.
    int status = 0;
    while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void Keeper::send(int32_t message) {
  if (!m_pipe.valid()) {
    return;
  }
  const char* p = reinterpret_cast<const char*>(&message);
  size_t left = sizeof message;
  while (left > 0) {
    ssize_t n = write(m_pipe.get(), p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      m_pipe.reset(); // the keeper died; the parent-death signal still holds
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

} // namespace muster::exec

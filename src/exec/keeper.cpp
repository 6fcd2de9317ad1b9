#include "exec/keeper.hpp"

#include "exec/cgroup.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
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

[[noreturn]] void keeper_main(int pipe_fd, const std::atomic<int32_t>* table,
                              const std::string& cgroup) {
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
  char c;
  while (read(pipe_fd, &c, 1) < 0 && errno == EINTR) {
  }
  // muster is gone, one way or another: nothing it started may run on.
  for (size_t i = 0; i < Keeper::k_capacity; ++i) {
    const int32_t pgid = table[i].load(std::memory_order_acquire);
    if (pgid > 0) {
      kill(-pgid, SIGKILL);
    }
  }
  if (!cgroup.empty()) {
    kill_cgroup_tree(cgroup.c_str(), 5000, false); // all of it, setsid or not
  }
  _exit(0);
}

} // namespace

util::Result<Keeper> Keeper::start(const std::string& cgroup) {
  const size_t bytes = k_capacity * sizeof(std::atomic<int32_t>);
  void* shared =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    return util::Error{std::string("keeper: mmap: ") + std::strerror(errno)};
  }
  auto* table = static_cast<std::atomic<int32_t>*>(shared); // zero-filled
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
    keeper_main(fds[0], table, cgroup);
  }
  close(fds[0]);
  Keeper k;
  k.m_pipe.reset(fds[1]);
  k.m_pid = pid;
  k.m_table = table;
  k.m_free.reserve(k_capacity);
  for (size_t i = k_capacity; i > 0; --i) {
    k.m_free.push_back(static_cast<uint32_t>(i - 1));
  }
  return k;
}

Keeper::Keeper(Keeper&& other) noexcept
    : m_pipe(std::move(other.m_pipe)), m_pid(std::exchange(other.m_pid, 0)),
      m_table(std::exchange(other.m_table, nullptr)), m_free(std::move(other.m_free)),
      m_where(std::move(other.m_where)) {}

void Keeper::add(pid_t pgid) {
  if (!m_table || m_free.empty()) {
    return;
  }
  const uint32_t at = m_free.back();
  m_free.pop_back();
  m_where[pgid] = at;
  m_table[at].store(pgid, std::memory_order_release);
}

void Keeper::remove(pid_t pgid) {
  auto it = m_where.find(pgid);
  if (it == m_where.end()) {
    return;
  }
  m_table[it->second].store(0, std::memory_order_release);
  m_free.push_back(it->second);
  m_where.erase(it);
}

Keeper::~Keeper() {
  if (m_pid > 0) {
    // Everything was reaped on the way out; an empty table means the keeper
    // kills nothing.
    m_pipe.reset();
    // It exits at once on EOF; reap it so it never lingers as a zombie.
    int status = 0;
    while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (m_table) {
    munmap(m_table, k_capacity * sizeof(std::atomic<int32_t>));
  }
}

} // namespace muster::exec

#include "exec/local_runner.hpp"

#include "exec/spawn.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/time.hpp"

extern char** environ;

namespace muster::exec {

namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) {
    sigaddset(&set, sig);
  }
  return set;
}

util::Error sys_error(const std::string& what) {
  return util::Error{what + ": " + std::strerror(errno)};
}

bool is_muster_var(const char* entry) {
  static const char* k_vars[] = {"MUSTER_RUN_ID=", "MUSTER_JOB_ID=", "MUSTER_SLOT=",
                                 "MUSTER_ATTEMPT="};
  for (const char* v : k_vars) {
    if (std::strncmp(entry, v, std::strlen(v)) == 0) {
      return true;
    }
  }
  return false;
}

util::Result<util::Fd> open_output(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return sys_error("cannot open " + path);
  }
  return util::Fd(fd);
}

// Removes an empty output file, or cuts a long one to its tail.
uint64_t finish_output(int fd, const std::string& path, uint64_t max_output) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return 0;
  }
  if (st.st_size == 0) {
    ::unlink(path.c_str());
    return 0;
  }
  if (max_output > 0 && static_cast<uint64_t>(st.st_size) > max_output) {
    return keep_tail(fd, max_output);
  }
  return static_cast<uint64_t>(st.st_size);
}

} // namespace

void block_handled_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

uint64_t keep_tail(int fd, uint64_t max_bytes) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) <= max_bytes) {
    return static_cast<uint64_t>(st.st_size);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  const uint64_t from = size - max_bytes;
  char buf[64 * 1024];
  for (uint64_t done = 0; done < max_bytes;) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, max_bytes - done));
    ssize_t n = pread(fd, buf, want, static_cast<off_t>(from + done));
    if (n <= 0) {
      break;
    }
    if (pwrite(fd, buf, static_cast<size_t>(n), static_cast<off_t>(done)) != n) {
      break;
    }
    done += static_cast<uint64_t>(n);
  }
  if (ftruncate(fd, static_cast<off_t>(max_bytes)) != 0) {
    return size;
  }
  return max_bytes;
}

util::Result<std::unique_ptr<LocalRunner>> LocalRunner::create() {
  std::unique_ptr<LocalRunner> r(new LocalRunner());
  block_handled_signals();
  sigset_t set = handled_signals();
  r->m_signals.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!r->m_signals.valid()) {
    return sys_error("signalfd");
  }
  r->m_epoll.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!r->m_epoll.valid()) {
    return sys_error("epoll_create1");
  }
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = r->m_signals.get();
  if (epoll_ctl(r->m_epoll.get(), EPOLL_CTL_ADD, r->m_signals.get(), &ev) != 0) {
    return sys_error("epoll_ctl");
  }
  // Orphaned grandchildren are re-parented to muster and reaped here.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return sys_error("prctl(PR_SET_CHILD_SUBREAPER)");
  }
  for (char** e = environ; e && *e; ++e) {
    if (!is_muster_var(*e)) {
      r->m_base_env.emplace_back(*e);
    }
    if (std::strncmp(*e, "PATH=", 5) == 0) {
      r->m_path_env = *e + 5;
    }
  }
  if (r->m_path_env.empty()) {
    r->m_path_env = "/usr/local/bin:/usr/bin:/bin";
  }
  return r;
}

LocalRunner::~LocalRunner() = default;

util::Result<std::string> LocalRunner::resolve(const std::string& name) {
  if (auto it = m_resolved.find(name); it != m_resolved.end()) {
    return it->second;
  }
  auto path = resolve_executable(name, m_path_env);
  if (path) {
    m_resolved.emplace(name, *path);
  }
  return path;
}

util::Result<pid_t> LocalRunner::start(const StartRequest& request) {
  if (request.argv.empty()) {
    return util::Error{"cannot run an empty command"};
  }
  auto path = resolve(request.argv[0]);
  if (!path) {
    return path.error();
  }
  Job job;
  job.max_output = request.max_output;
  auto out = open_output(request.stdout_path);
  if (!out) {
    return out.error();
  }
  auto err = open_output(request.stderr_path);
  if (!err) {
    ::unlink(request.stdout_path.c_str());
    return err.error();
  }
  std::vector<char*> argv;
  argv.reserve(request.argv.size() + 1);
  for (const auto& a : request.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(m_base_env.size() + request.env.size() + 1);
  for (const auto& e : m_base_env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  for (const auto& e : request.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);

  SpawnRequest sr;
  sr.path = path->c_str();
  sr.argv = argv.data();
  sr.envp = envp.data();
  sr.stdout_fd = out->get();
  sr.stderr_fd = err->get();
  auto pid = spawn(sr);
  if (!pid) {
    ::unlink(request.stdout_path.c_str());
    ::unlink(request.stderr_path.c_str());
    return pid.error();
  }
  job.out = std::move(*out);
  job.err = std::move(*err);
  job.out_path = request.stdout_path;
  job.err_path = request.stderr_path;
  m_jobs.emplace(*pid, std::move(job));
  return *pid;
}

void LocalRunner::signal_group(pid_t pgid, int sig) {
  if (pgid > 0) {
    ::kill(-pgid, sig);
  }
}

void LocalRunner::reap(Events& events) {
  for (;;) {
    siginfo_t info{};
    // Look before reaping: while the leader is a zombie its group id cannot be
    // reused, so killing what is left of the group is safe.
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
      return;
    }
    const pid_t pid = info.si_pid;
    auto it = m_jobs.find(pid);
    if (it != m_jobs.end()) {
      // The job is over when its leader exits; nothing it started may linger.
      ::kill(-pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (it == m_jobs.end()) {
      continue; // an adopted grandchild
    }
    Job& job = it->second;
    Exited e;
    e.pid = pid;
    e.status = status;
    e.stdout_bytes = finish_output(job.out.get(), job.out_path, job.max_output);
    e.stderr_bytes = finish_output(job.err.get(), job.err_path, job.max_output);
    m_jobs.erase(it);
    events.exited.push_back(e);
  }
}

util::Result<Events> LocalRunner::wait(int64_t deadline_ms) {
  Events events;
  int timeout = -1;
  if (deadline_ms >= 0) {
    const int64_t left = deadline_ms - util::monotonic_ms();
    timeout = static_cast<int>(std::clamp<int64_t>(left, 0, 1'000'000));
  }
  struct epoll_event ev {};
  int n = epoll_wait(m_epoll.get(), &ev, 1, timeout);
  if (n < 0) {
    if (errno == EINTR) {
      return events;
    }
    return sys_error("epoll_wait");
  }
  if (n == 0) {
    return events;
  }
  bool child = false;
  for (;;) {
    struct signalfd_siginfo si {};
    ssize_t got = read(m_signals.get(), &si, sizeof si);
    if (got != static_cast<ssize_t>(sizeof si)) {
      break;
    }
    if (static_cast<int>(si.ssi_signo) == SIGCHLD) {
      child = true;
    } else {
      events.signals.push_back(static_cast<int>(si.ssi_signo));
    }
  }
  if (child) {
    reap(events);
  }
  return events;
}

} // namespace muster::exec

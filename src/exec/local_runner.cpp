#include "exec/local_runner.hpp"

#include "exec/probe.hpp"
#include "exec/spawn.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sstream>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <unordered_set>

extern char** environ;

namespace muster::exec {

namespace {

// The ids of this process's threads: its children are listed per thread.
std::vector<std::string> list_tasks() {
  std::vector<std::string> out;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') {
        out.emplace_back(e->d_name);
      }
    }
    ::closedir(d);
  }
  return out;
}

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
  static const char* k_vars[] = {
      "MUSTER_RUN_ID=", "MUSTER_JOB_ID=", "MUSTER_SLOT=", "MUSTER_ATTEMPT="};
  for (const char* v : k_vars) {
    if (std::strncmp(entry, v, std::strlen(v)) == 0) {
      return true;
    }
  }
  return false;
}

// A pipe whose read end (first) is non-blocking and close-on-exec.
util::Result<std::pair<util::Fd, util::Fd>> make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return sys_error("pipe2");
  }
  util::Fd read_end(fds[0]);
  util::Fd write_end(fds[1]);
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    return sys_error("fcntl(O_NONBLOCK)");
  }
  return std::make_pair(std::move(read_end), std::move(write_end));
}

// A new pseudo-terminal: its master (first), non-blocking, and its slave,
// both close-on-exec. What is written to it keeps its "\n" (no ONLCR), and
// nothing typed is echoed.
util::Result<std::pair<util::Fd, util::Fd>> make_pty() {
  util::Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid()) {
    return sys_error("posix_openpt");
  }
  char name[128];
  if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
      ::ptsname_r(master.get(), name, sizeof name) != 0) {
    return sys_error("a pseudo-terminal");
  }
  util::Fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.valid()) {
    return sys_error(std::string("open ") + name);
  }
  struct termios t {};
  if (::tcgetattr(slave.get(), &t) == 0) {
    t.c_oflag &= ~static_cast<tcflag_t>(ONLCR);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(slave.get(), TCSANOW, &t);
  }
  struct winsize size {};
  size.ws_row = 24;
  size.ws_col = 80;
  ::ioctl(slave.get(), TIOCSWINSZ, &size);
  if (fcntl(master.get(), F_SETFL, O_NONBLOCK) != 0) {
    return sys_error("fcntl(O_NONBLOCK)");
  }
  return std::make_pair(std::move(master), std::move(slave));
}

} // namespace

void block_handled_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

util::Result<std::unique_ptr<LocalRunner>> LocalRunner::create() {
  block_handled_signals();
  ContainmentInfo containment;
  auto cgroups = Cgroups::create();
  if (cgroups) {
    containment.mode = Containment::cgroup;
    containment.cgroup = (*cgroups)->dir();
  } else {
    containment.why = cgroups.error().message;
  }
  auto keeper = Keeper::start(cgroups ? (*cgroups)->dir() : "");
  if (!keeper) {
    return keeper.error();
  }
  std::unique_ptr<LocalRunner> r(new LocalRunner(std::move(*keeper)));
  r->m_containment = std::move(containment);
  if (cgroups) {
    r->m_cgroups = std::move(*cgroups);
  }
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
  // With a terminal, everything the job writes comes through its master.
  auto out = request.pty ? make_pty() : make_pipe();
  if (!out) {
    return out.error();
  }
  auto err = request.pty ? util::Result<std::pair<util::Fd, util::Fd>>(
                               std::make_pair(util::Fd(), util::Fd()))
                         : make_pipe();
  if (!err) {
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
  sr.stdout_fd = out->second.get();
  sr.stderr_fd = request.pty ? sr.stdout_fd : err->second.get();
  if (request.pty) {
    sr.stdin_fd = sr.stdout_fd;
    sr.controlling_tty = true;
  }
  Cgroups::Job cgroup;
  if (m_cgroups) {
    auto taken = m_cgroups->take();
    if (!taken) {
      return taken.error();
    }
    cgroup = *taken;
    sr.cgroup_procs = cgroup.procs;
  }
  auto pid = spawn(sr);
  if (!pid) {
    if (m_cgroups) {
      m_cgroups->release(cgroup.id);
    }
    return pid.error();
  }
  Job job;
  job.cgroup = cgroup.id;
  for (const auto& e : request.env) {
    if (e.rfind("MUSTER_JOB_ID=", 0) == 0) {
      job.job_id = e.substr(14);
    }
  }
  job.append = request.append;
  job.stream = request.stream;
  job.out.pipe = std::move(out->first);
  job.out.path = request.stdout_path;
  job.err.pipe = std::move(err->first);
  job.err.path = request.stderr_path;
  m_keeper.add(*pid);
  Job& added = m_jobs.emplace(*pid, std::move(job)).first->second;
  for (Stream* s : {&added.out, &added.err}) {
    if (!s->pipe.valid()) {
      continue; // stderr, with a terminal
    }
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.fd = s->pipe.get();
    if (epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, s->pipe.get(), &ev) != 0) {
      // Unread, the pipe would fill and stall the job: stop it; its exit is
      // still reaped and reported.
      ::kill(-*pid, SIGKILL);
      s->pipe.reset();
      continue;
    }
    m_pipe_owner[s->pipe.get()] = *pid;
  }
  return *pid;
}

void LocalRunner::write_chunk(const Job& job, Stream& stream, std::string_view data) {
  stream.bytes += data.size();
  if (stream.bytes <= k_output_in_memory) {
    stream.kept.append(data);
  } else if (!stream.kept.empty()) {
    stream.kept = std::string(); // too big to keep: its file has it
  }
  if (!stream.error.empty()) {
    return;
  }
  if (!stream.file.valid()) {
    const int mode = job.append ? O_APPEND : O_TRUNC;
    stream.file.reset(
        ::open(stream.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0666));
    if (!stream.file.valid()) {
      stream.error = "cannot write " + stream.path + ": " + std::strerror(errno);
      return;
    }
  }
  if (!util::write_all(stream.file.get(), data)) {
    stream.error = "cannot write " + stream.path + ": " + std::strerror(errno);
  }
}

void LocalRunner::read_stream(pid_t pid, Job& job, Stream& stream, Events& events) {
  char buf[64 * 1024];
  while (stream.pipe.valid()) {
    ssize_t n = ::read(stream.pipe.get(), buf, sizeof buf);
    if (n > 0) {
      const std::string_view data(buf, static_cast<size_t>(n));
      write_chunk(job, stream, data);
      if (job.stream) {
        events.output.push_back(Output{pid, &stream == &job.err, std::string(data)});
      }
      if (static_cast<size_t>(n) < sizeof buf) {
        return; // drained for now; a full buffer may have more behind it
      }
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n == 0 || errno != EAGAIN) {
      // End of output: every writer is gone.
      m_pipe_owner.erase(stream.pipe.get());
      stream.pipe.reset(); // closing removes it from the epoll set
    }
    return;
  }
}

void LocalRunner::close_stream(pid_t pid, Job& job, Stream& stream, Events& events) {
  // Whatever is still in the pipe: a group that exited may have left a lot.
  while (stream.pipe.valid()) {
    const uint64_t before = stream.bytes;
    read_stream(pid, job, stream, events);
    if (stream.bytes == before) {
      break;
    }
  }
  if (stream.pipe.valid()) {
    // Something outside the job's group still holds the pipe; stop listening.
    m_pipe_owner.erase(stream.pipe.get());
    stream.pipe.reset();
  }
  stream.file.reset();
}

std::unique_ptr<Probe> LocalRunner::probe(const std::string& url, int64_t deadline_ms) {
  return start_probe(url, deadline_ms);
}

void LocalRunner::signal_group(pid_t pgid, int sig) {
  // In a cgroup, every process of the job (its group, and whatever left it)
  // gets the signal once; else its process group does.
  if (auto it = m_jobs.find(pgid); m_cgroups && it != m_jobs.end()) {
    m_cgroups->signal(it->second.cgroup, sig);
  } else if (pgid > 0) {
    ::kill(-pgid, sig);
  }
}

void LocalRunner::kill_strays() {
  // Without cgroups, what left a job's group is found by its environment:
  // re-parented to muster (the subreaper), it names a job that has ended.
  std::vector<pid_t> children;
  for (const auto& task : list_tasks()) {
    std::istringstream in(util::read_file("/proc/self/task/" + task + "/children"));
    for (pid_t pid = 0; in >> pid;) {
      children.push_back(pid);
    }
  }
  std::unordered_set<std::string> running;
  for (const auto& [pid, job] : m_jobs) {
    running.insert(job.job_id);
  }
  for (pid_t pid : children) {
    if (pid == m_keeper.pid() || m_jobs.count(pid) > 0) {
      continue;
    }
    const std::string env = util::read_file("/proc/" + std::to_string(pid) + "/environ");
    const size_t at = env.find(std::string_view("MUSTER_JOB_ID="));
    if (at == std::string::npos || (at > 0 && env[at - 1] != '\0')) {
      continue;
    }
    const size_t end = env.find('\0', at);
    const std::string id =
        env.substr(at + 14, end == std::string::npos ? end : end - at - 14);
    if (running.count(id) == 0) {
      if (::getpgid(pid) == pid) {
        ::kill(-pid, SIGKILL);
      }
      ::kill(pid, SIGKILL);
    }
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
      m_keeper.remove(pid);
      if (m_cgroups) {
        m_cgroups->release(it->second.cgroup);
      }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (pid == m_keeper.pid()) {
      continue; // it died early; jobs still have their parent-death signal
    }
    if (it == m_jobs.end()) {
      if (!m_cgroups) {
        kill_strays(); // what it left, re-parented to muster in turn
      }
      continue; // an adopted grandchild
    }
    Job& job = it->second;
    Exited e;
    e.pid = pid;
    e.status = status;
    close_stream(pid, job, job.out, events);
    close_stream(pid, job, job.err, events);
    e.stdout_bytes = job.out.bytes;
    e.stderr_bytes = job.err.bytes;
    e.stdout_data = std::move(job.out.kept);
    e.stderr_data = std::move(job.err.kept);
    e.output_error = !job.out.error.empty() ? job.out.error : job.err.error;
    m_jobs.erase(it);
    if (!m_cgroups) {
      kill_strays();
    }
    events.exited.push_back(e);
  }
}

void LocalRunner::watch(int fd) {
  m_watched = fd;
  if (fd < 0) {
    return;
  }
  // MOD keeps a registration; when the number is a new socket (the old one
  // closed, which took it out of the set) it fails, and ADD registers it.
  // Nothing is ever deleted: a closed descriptor's number may be a job's
  // pipe by now.
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = fd;
  if (epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  }
}

util::Result<Events> LocalRunner::wait(int64_t deadline_ms) {
  Events events;
  int timeout = -1;
  if (deadline_ms >= 0) {
    const int64_t left = deadline_ms - util::monotonic_ms();
    timeout = static_cast<int>(std::clamp<int64_t>(left, 0, 1'000'000));
  }
  struct epoll_event evs[64];
  int n = epoll_wait(m_epoll.get(), evs, 64, timeout);
  if (n < 0) {
    if (errno == EINTR) {
      return events;
    }
    return sys_error("epoll_wait");
  }
  bool signalled = false;
  for (int i = 0; i < n; ++i) {
    const int fd = evs[i].data.fd;
    if (fd == m_signals.get()) {
      signalled = true;
      continue;
    }
    if (fd == m_watched) {
      continue; // the caller asks the store what came
    }
    auto owner = m_pipe_owner.find(fd);
    if (owner == m_pipe_owner.end()) {
      continue;
    }
    auto job = m_jobs.find(owner->second);
    if (job == m_jobs.end()) {
      continue;
    }
    Stream& s = job->second.out.pipe.get() == fd ? job->second.out : job->second.err;
    read_stream(owner->second, job->second, s, events);
  }
  if (!signalled) {
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

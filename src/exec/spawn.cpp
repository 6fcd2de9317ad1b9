#include "exec/spawn.hpp"

#include "util/files.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::exec {

namespace {

// AddressSanitizer cannot follow a child that shares the parent's memory on a
// stack of its own, so sanitized builds fork instead; the release build keeps
// the vfork-style clone that spawns near the machine's ceiling.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool k_fork = true;
#else
constexpr bool k_fork = false;
#endif

struct ChildArgs {
  const SpawnRequest* request;
  pid_t parent;
  int devnull;
  int error;      // written by the child when exec fails; shared through CLONE_VM
  int error_pipe; // with fork: where the child writes errno when exec fails
  mode_t umask;   // the user's, not the store's (util::job_umask)
};

[[noreturn]] void child_fail(ChildArgs* a, int err) {
  a->error = err;
  if (a->error_pipe >= 0) {
    ssize_t ignored = write(a->error_pipe, &err, sizeof err);
    (void)ignored;
  }
  _exit(127);
}

// Runs in the child, on its own stack, sharing the parent's memory until
// execve (CLONE_VM | CLONE_VFORK): only async-signal-safe calls, no allocation.
int child_main(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  const SpawnRequest& r = *a->request;
  // Own process group, so that a Ctrl-C at the terminal reaches muster only
  // and a timeout can signal the job's whole tree.
  if ((r.controlling_tty ? setsid() : setpgid(0, 0)) < 0) {
    child_fail(a, errno);
  }
  if (r.cgroup_procs >= 0 && write(r.cgroup_procs, "0", 1) != 1) {
    child_fail(a, errno);
  }
  // Reset the signals muster handles; passing through SIG_IGN discards any
  // that arrived while the child was still in muster's process group.
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2}) {
    sigaction(sig, &ign, nullptr);
    sigaction(sig, &dfl, nullptr);
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    child_fail(a, errno);
  }
  if (getppid() != a->parent) {
    child_fail(a, ESRCH); // muster died before the child could bind to it
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  umask(a->umask);

  int in = r.stdin_fd >= 0 ? r.stdin_fd : a->devnull;
  if (dup2(in, 0) < 0 || dup2(r.stdout_fd, 1) < 0 || dup2(r.stderr_fd, 2) < 0) {
    child_fail(a, errno);
  }
  if (r.controlling_tty && ioctl(0, TIOCSCTTY, 0) != 0) {
    child_fail(a, errno);
  }
  execve(r.path, r.argv, r.envp);
  child_fail(a, errno);
}

util::Result<pid_t> fork_spawn(ChildArgs& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return util::Error{std::string("spawn: pipe: ") + std::strerror(errno)};
  }
  args.error_pipe = fds[1];
  pid_t pid = fork();
  if (pid == 0) {
    child_main(&args);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return util::Error{std::string("spawn: fork: ") + std::strerror(errno)};
  }
  int err = 0;
  ssize_t n;
  while ((n = read(fds[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  close(fds[0]);
  args.error = n == static_cast<ssize_t>(sizeof err) ? err : 0;
  return pid;
}

constexpr size_t k_stack_size = 64 * 1024;

char* child_stack() {
  static char* stack = [] {
    void* p = mmap(nullptr, k_stack_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }();
  return stack;
}

int devnull_fd() {
  static int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd;
}

} // namespace

util::Result<pid_t> spawn(const SpawnRequest& request) {
  char* stack = child_stack();
  if (!stack || devnull_fd() < 0) {
    return util::Error{std::string("spawn: cannot set up: ") + std::strerror(errno)};
  }
  ChildArgs args{&request, getpid(), devnull_fd(), 0, -1, util::job_umask()};
  pid_t pid = -1;
  if constexpr (k_fork) {
    auto forked = fork_spawn(args);
    if (!forked) {
      return forked.error();
    }
    pid = *forked;
  } else {
    // The stack grows down on every platform muster supports.
    pid =
        clone(child_main, stack + k_stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    if (pid < 0) {
      return util::Error{std::string("spawn ") + request.path + ": " +
                         std::strerror(errno)};
    }
  }
  if (args.error != 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return util::Error{std::string("cannot run ") + request.path + ": " +
                       std::strerror(args.error)};
  }
  return pid;
}

util::Result<std::string> resolve_executable(const std::string& name,
                                             const std::string& path_env) {
  if (name.empty()) {
    return util::Error{"cannot run an empty command name"};
  }
  if (name.find('/') != std::string::npos) {
    return name;
  }
  size_t start = 0;
  int last_error = ENOENT;
  for (;;) {
    size_t end = path_env.find(':', start);
    std::string dir =
        path_env.substr(start, end == std::string::npos ? end : end - start);
    if (dir.empty()) {
      dir = ".";
    }
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
      last_error = EACCES;
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return util::Error{"cannot run " + name + ": " +
                     (last_error == ENOENT
                          ? std::string("command not found") + " (searched PATH)"
                          : std::string(std::strerror(last_error)))};
}

} // namespace muster::exec

#include "exec/cgroup.hpp"

#include "util/files.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::exec {

namespace {

constexpr const char* k_prefix = "muster-";

// The cgroup v2 mount point, from /proc/self/mountinfo, or "".
std::string cgroup2_mount() {
  std::istringstream in(util::read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options... - fstype source ...
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) {
      continue;
    }
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, mount;
    fields >> id >> parent >> dev >> root >> mount;
    return mount;
  }
  return "";
}

bool write_text(const std::string& path, std::string_view text) {
  util::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd.valid() && util::write_all(fd.get(), text);
}

bool populated(const std::string& dir) {
  const std::string events = util::read_file(dir + "/cgroup.events");
  return events.find("populated 1") != std::string::npos;
}

// Removes the directory tree of a cgroup, deepest first.
void remove_cgroup_dirs(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (dirent* e = ::readdir(d)) {
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 &&
          std::strcmp(e->d_name, "..") != 0) {
        subs.push_back(dir + "/" + e->d_name);
      }
    }
    ::closedir(d);
    for (const auto& s : subs) {
      remove_cgroup_dirs(s);
    }
  }
  ::rmdir(dir.c_str());
}

// Removes the subtrees that musters which are gone left behind (a keeper
// killed with its muster): only directories named muster-PID whose PID is dead.
void remove_stale(const std::string& parent) {
  DIR* d = ::opendir(parent.c_str());
  if (!d) {
    return;
  }
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR || std::strncmp(e->d_name, k_prefix, 7) != 0) {
      continue;
    }
    char* end = nullptr;
    const long pid = std::strtol(e->d_name + 7, &end, 10);
    if (pid > 0 && *end == '\0' && ::kill(static_cast<pid_t>(pid), 0) != 0 &&
        errno == ESRCH) {
      stale.push_back(parent + "/" + e->d_name);
    }
  }
  ::closedir(d);
  for (const auto& dir : stale) {
    kill_cgroup_tree(dir.c_str(), 1000, false);
  }
}

} // namespace

ContainmentInfo detect_containment() {
  ContainmentInfo info;
  if (const char* forced = std::getenv("MUSTER_CONTAINMENT");
      forced != nullptr && std::strcmp(forced, "process") == 0) {
    info.why = "MUSTER_CONTAINMENT=process asks for it";
    return info;
  }
  std::string own;
  std::istringstream lines(util::read_file("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0::", 0) == 0) {
      own = line.substr(3);
    }
  }
  const std::string mount = cgroup2_mount();
  if (own.empty() || mount.empty()) {
    info.why = "this system has no cgroup v2 hierarchy";
    return info;
  }
  const std::string dir = mount + (own == "/" ? "" : own);
  if (::access(dir.c_str(), W_OK) != 0 ||
      ::access((dir + "/cgroup.procs").c_str(), W_OK) != 0) {
    info.why =
        "muster's cgroup " + dir + " is not writable for it (" + std::strerror(errno) +
        "); run it as root, or in a delegated cgroup: systemd-run --user --scope -p "
        "Delegate=yes muster ...";
    return info;
  }
  info.mode = Containment::cgroup;
  info.cgroup = dir;
  return info;
}

void kill_cgroup_tree(const char* dir, int wait_ms, bool reap) {
  const std::string d(dir);
  write_text(d + "/cgroup.kill", "1");
  for (int waited = 0; waited < wait_ms; waited += 10) {
    // A killed process counts until its parent reaps it; as the subreaper,
    // that may be this process.
    for (int status = 0; reap && ::waitpid(-1, &status, WNOHANG) > 0;) {
    }
    if (!populated(d)) {
      break;
    }
    ::usleep(10 * 1000);
  }
  remove_cgroup_dirs(d);
}

util::Result<std::unique_ptr<Cgroups>> Cgroups::create() {
  const ContainmentInfo info = detect_containment();
  if (info.mode != Containment::cgroup) {
    return util::Error{info.why};
  }
  remove_stale(info.cgroup);
  const std::string dir = info.cgroup + "/" + k_prefix + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return util::Error{"cannot create the cgroup " + dir + ": " + std::strerror(errno)};
  }
  std::unique_ptr<Cgroups> cg(new Cgroups(dir));
  if (::access((dir + "/cgroup.kill").c_str(), F_OK) != 0) {
    return util::Error{
        "this kernel's cgroups have no cgroup.kill (Linux 5.14 or later has it)"};
  }
  // The test that counts: a process moves into a job's cgroup.
  auto job = cg->take();
  if (!job) {
    return job.error();
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    _exit(::write(job->procs, "0", 1) == 1 ? 0 : errno);
  }
  int status = 0;
  while (pid > 0 && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int err = pid < 0 ? errno : WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
    return util::Error{"cannot move a process into the cgroup " + dir + ": " +
                       std::strerror(err)};
  }
  cg->release(job->id);
  return cg;
}

Cgroups::~Cgroups() {
  m_groups.clear(); // closes their files
  kill_cgroup_tree(m_dir.c_str(), 2000, true);
}

bool Cgroups::empty(const Group& g) const {
  return !populated(g.dir);
}

util::Result<Cgroups::Job> Cgroups::take() {
  // Released groups whose processes are gone by now come back first.
  std::erase_if(m_draining, [&](int id) {
    if (!empty(m_groups[static_cast<size_t>(id)])) {
      return false;
    }
    m_free.push_back(id);
    return true;
  });
  int id = -1;
  if (!m_free.empty()) {
    id = m_free.back();
    m_free.pop_back();
  } else {
    Group g;
    g.dir = m_dir + "/" + std::to_string(m_groups.size());
    if (::mkdir(g.dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return util::Error{"cannot create the cgroup " + g.dir + ": " +
                         std::strerror(errno)};
    }
    g.procs.reset(::open((g.dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    g.kill.reset(::open((g.dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC));
    if (!g.procs.valid() || !g.kill.valid()) {
      return util::Error{"cannot open the cgroup " + g.dir + ": " + std::strerror(errno)};
    }
    id = static_cast<int>(m_groups.size());
    m_groups.push_back(std::move(g));
  }
  Group& g = m_groups[static_cast<size_t>(id)];
  g.busy = true;
  return Job{id, g.procs.get()};
}

void Cgroups::signal(int id, int sig) {
  if (id < 0 || static_cast<size_t>(id) >= m_groups.size()) {
    return;
  }
  const Group& g = m_groups[static_cast<size_t>(id)];
  if (sig == SIGKILL) {
    util::write_all(g.kill.get(), "1");
    return;
  }
  std::istringstream pids(util::read_file(g.dir + "/cgroup.procs"));
  for (pid_t pid = 0; pids >> pid;) {
    ::kill(pid, sig);
  }
}

void Cgroups::release(int id) {
  if (id < 0 || static_cast<size_t>(id) >= m_groups.size()) {
    return;
  }
  Group& g = m_groups[static_cast<size_t>(id)];
  g.busy = false;
  util::write_all(g.kill.get(), "1");
  if (empty(g)) {
    m_free.push_back(id);
  } else {
    m_draining.push_back(id);
  }
}

} // namespace muster::exec

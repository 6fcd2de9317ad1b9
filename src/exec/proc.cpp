#include "exec/proc.hpp"

#include "util/time.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <string_view>
#include <unistd.h>
#include <unordered_map>

namespace muster::exec {

namespace {

std::string read_file(const std::string& path, size_t limit = 1 << 20) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0 || out.size() > limit) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

/// What /proc/PID/stat says of a process.
struct Stat {
  char state = '?'; ///< R, S, D, Z (a zombie: exited, not yet reaped), X, ...
  int64_t pgid = 0;
  int64_t start_ticks = 0;
};

// The fields after the command name, which may hold spaces and parentheses.
std::optional<Stat> read_stat(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
  size_t close = s.rfind(')');
  if (close == std::string::npos || close + 2 >= s.size()) {
    return std::nullopt;
  }
  // After ") ": state(3) ppid(4) pgrp(5) ... starttime(22).
  const char* p = s.c_str() + close + 2;
  Stat st;
  st.state = *p;
  int field = 3;
  while (*p && field <= 22) {
    const char* end = std::strchr(p, ' ');
    if (field == 5) {
      st.pgid = std::strtoll(p, nullptr, 10);
    } else if (field == 22) {
      st.start_ticks = std::strtoll(p, nullptr, 10);
      return st;
    }
    if (!end) {
      break;
    }
    p = end + 1;
    ++field;
  }
  return std::nullopt;
}

int64_t boot_time_ms() {
  static int64_t boot = [] {
    std::string s = read_file("/proc/stat");
    size_t at = s.find("\nbtime ");
    return at == std::string::npos ? int64_t{0}
                                   : std::strtoll(s.c_str() + at + 7, nullptr, 10) * 1000;
  }();
  return boot;
}

bool environ_has(const std::string& env, std::string_view entry) {
  size_t pos = 0;
  while (pos < env.size()) {
    size_t end = env.find('\0', pos);
    if (end == std::string::npos) {
      end = env.size();
    }
    if (std::string_view(env).substr(pos, end - pos) == entry) {
      return true;
    }
    pos = end + 1;
  }
  return false;
}

} // namespace

int64_t process_start_ticks(pid_t pid) {
  const auto st = read_stat(pid);
  return st ? st->start_ticks : 0;
}

int64_t process_start_epoch_ms(pid_t pid) {
  const int64_t ticks = process_start_ticks(pid);
  if (ticks == 0) {
    return 0;
  }
  return boot_time_ms() + ticks * 1000 / sysconf(_SC_CLK_TCK);
}

bool process_alive(pid_t pid, int64_t start_ticks) {
  if (pid <= 0) {
    return false;
  }
  if (::kill(pid, 0) != 0 && errno != EPERM) {
    return false;
  }
  // A zombie has exited: only its parent has yet to reap it.
  const auto st = read_stat(pid);
  if (!st) {
    return false;
  }
  return st->state != 'Z' && st->state != 'X' &&
         (start_ticks == 0 || st->start_ticks == start_ticks);
}

int kill_leftovers(const std::string& run_id, const std::vector<Leftover>& jobs) {
  if (jobs.empty()) {
    return 0;
  }
  std::unordered_map<int64_t, const Leftover*> by_pgid;
  for (const auto& j : jobs) {
    if (j.pgid > 0) {
      by_pgid[j.pgid] = &j;
    }
  }
  const std::string run_entry = "MUSTER_RUN_ID=" + run_id;
  const pid_t self = getpid();
  std::vector<pid_t> doomed;
  DIR* dir = opendir("/proc");
  if (!dir) {
    return 0;
  }
  while (struct dirent* d = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(d->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) {
      continue;
    }
    const auto st = read_stat(static_cast<pid_t>(pid));
    if (!st) {
      continue;
    }
    const int64_t pgid = st->pgid;
    const int64_t ticks = st->start_ticks;
    bool kill_it = false;
    if (auto it = by_pgid.find(pgid); it != by_pgid.end()) {
      const int64_t started = boot_time_ms() + ticks * 1000 / sysconf(_SC_CLK_TCK);
      // A group id can be reused only once the old group is gone, so a member
      // that started after the claim (allowing for clock-tick rounding) is ours.
      kill_it = started + 2000 >= it->second->started_at;
    }
    if (!kill_it) {
      std::string env = read_file("/proc/" + std::to_string(pid) + "/environ");
      if (environ_has(env, run_entry)) {
        for (const auto& j : jobs) {
          if (environ_has(env, "MUSTER_JOB_ID=" + j.job_id)) {
            kill_it = true;
            break;
          }
        }
      }
    }
    if (kill_it) {
      doomed.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(dir);
  for (pid_t pid : doomed) {
    ::kill(pid, SIGKILL);
  }
  const int64_t until = util::monotonic_ms() + 1000;
  for (pid_t pid : doomed) {
    while (::kill(pid, 0) == 0 && util::monotonic_ms() < until) {
      // A killed process lingers as a zombie until its parent reaps it; stop
      // waiting once it is no longer running.
      std::string st = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
      size_t close = st.rfind(')');
      if (close == std::string::npos || (close + 2 < st.size() && st[close + 2] == 'Z')) {
        break;
      }
      usleep(1000);
    }
  }
  return static_cast<int>(doomed.size());
}

} // namespace muster::exec

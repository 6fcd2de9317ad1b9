#include "agent/fence_timer.hpp"
#include "util/time.hpp"

#include <csignal>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace muster::agent {
namespace {

/// A child in a process group of its own that sleeps until killed.
pid_t sleeper() {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    pause();
    _exit(0);
  }
  setpgid(pid, pid);
  return pid;
}

/// Whether `pid` ended by SIGKILL within `ms`.
bool killed_within(pid_t pid, int64_t ms) {
  const int64_t until = util::monotonic_ms() + ms;
  int status = 0;
  while (util::monotonic_ms() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(FenceTimer, KillsTheGroupsAtTheDeadline) {
  FenceTimer timer;
  const pid_t a = sleeper();
  const pid_t b = sleeper();
  timer.set_groups({a, b});
  const int64_t start = util::monotonic_ms();
  timer.arm(start + 100);
  EXPECT_TRUE(killed_within(a, 2000));
  EXPECT_TRUE(killed_within(b, 2000));
  EXPECT_GE(util::monotonic_ms() - start, 95) << "killed before the deadline";
  EXPECT_TRUE(timer.fired());
}

TEST(FenceTimer, ArmingAgainPutsTheDeadlineOff) {
  FenceTimer timer;
  const pid_t a = sleeper();
  timer.set_groups({a});
  for (int i = 0; i < 6; ++i) { // renewed every 50 ms for 300 ms
    timer.arm(util::monotonic_ms() + 150);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(timer.fired());
  EXPECT_FALSE(killed_within(a, 50)) << "a renewed deadline killed the job";
  stop(a);
}

TEST(FenceTimer, KillsOnlyTheGroupsItWasGiven) {
  FenceTimer timer;
  const pid_t job = sleeper();
  const pid_t other = sleeper();
  timer.set_groups({job});
  timer.arm(util::monotonic_ms() + 20);
  EXPECT_TRUE(killed_within(job, 2000));
  EXPECT_FALSE(killed_within(other, 100));
  stop(other);
}

} // namespace
} // namespace muster::agent

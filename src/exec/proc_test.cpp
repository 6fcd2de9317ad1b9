// What /proc tells about processes, on real processes.

#include "exec/proc.hpp"
#include "util/time.hpp"

#include <csignal>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::exec {
namespace {

TEST(Proc, KnowsLiveProcessesByStartTime) {
  const int64_t ticks = process_start_ticks(getpid());
  EXPECT_GT(ticks, 0);
  EXPECT_TRUE(process_alive(getpid(), ticks));
  EXPECT_TRUE(process_alive(getpid(), 0));
  EXPECT_FALSE(process_alive(getpid(), ticks + 1));
  EXPECT_FALSE(process_alive(0, 0));
}

TEST(Proc, AZombieIsNotAlive) {
  // An agent that died while its parent does not reap it stays a zombie:
  // kill(pid, 0) still succeeds, but it will never act again.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    _exit(0);
  }
  const int64_t ticks = process_start_ticks(child);
  const int64_t until = util::monotonic_ms() + 5000;
  while (process_alive(child, 0) && util::monotonic_ms() < until) {
    ::usleep(1000);
  }
  EXPECT_EQ(::kill(child, 0), 0) << "the child is reaped only below";
  EXPECT_FALSE(process_alive(child, 0)) << "a zombie counts as dead";
  EXPECT_FALSE(process_alive(child, ticks));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(process_alive(child, ticks));
}

TEST(Proc, ARunningChildIsAlive) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    _exit(0);
  }
  EXPECT_TRUE(process_alive(child, process_start_ticks(child)));
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(process_alive(child, 0));
}

} // namespace
} // namespace muster::exec

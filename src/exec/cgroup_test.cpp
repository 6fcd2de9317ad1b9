#include "exec/cgroup.hpp"
#include "util/files.hpp"

#include <csignal>
#include <cstdlib>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::exec {
namespace {

TEST(Containment, AskingForProcessGroupsIsHonouredAndSaysWhy) {
  ::setenv("MUSTER_CONTAINMENT", "process", 1);
  const ContainmentInfo info = detect_containment();
  const bool made = Cgroups::create().ok();
  ::unsetenv("MUSTER_CONTAINMENT");
  EXPECT_EQ(info.mode, Containment::process_group);
  EXPECT_NE(info.why.find("MUSTER_CONTAINMENT=process"), std::string::npos);
  EXPECT_FALSE(made);
}

TEST(Cgroups, ReleaseKillsWhatLeftTheGroupAndTheSubtreeGoesAway) {
  auto made = Cgroups::create();
  if (!made) {
    GTEST_SKIP() << "no cgroup here: " << made.error().message;
  }
  const std::string dir = (*made)->dir();
  auto job = (*made)->take();
  ASSERT_TRUE(job.ok()) << job.error().message;
  // A child that moves in, then starts a process in a session of its own.
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::write(job->procs, "0", 1) != 1) {
      _exit(1);
    }
    if (::fork() == 0) {
      ::setsid();
      ::execlp("sleep", "sleep", "300", static_cast<char*>(nullptr));
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string group = dir + "/" + std::to_string(job->id);
  EXPECT_NE(util::read_file(group + "/cgroup.events").find("populated 1"),
            std::string::npos)
      << "the setsid sleep runs in the job's cgroup";
  (*made)->release(job->id);
  for (int i = 0;
       i < 200 &&
       util::read_file(group + "/cgroup.events").find("populated 1") != std::string::npos;
       ++i) {
    ::usleep(10 * 1000);
  }
  EXPECT_NE(util::read_file(group + "/cgroup.events").find("populated 0"),
            std::string::npos)
      << "released: everything in it was killed";
  // Taken again, the emptied cgroup is reused.
  auto again = (*made)->take();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, job->id);
  (*made)->release(again->id);
  made->reset();
  struct stat st {};
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " is removed with the Cgroups";
}

} // namespace
} // namespace muster::exec

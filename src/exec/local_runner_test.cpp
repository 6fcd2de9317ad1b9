// Process tests: real tiny commands through the real runner.

#include "exec/local_runner.hpp"
#include "exec/proc.hpp"
#include "exec/spawn.hpp"
#include "util/files.hpp"
#include "util/test_support.hpp"
#include "util/time.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::exec {
namespace {

class RunnerTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto r = LocalRunner::create();
    ASSERT_TRUE(r.ok()) << r.error().message;
    m_runner = std::move(*r);
  }
  StartRequest request(std::vector<std::string> argv) {
    StartRequest req;
    req.argv = std::move(argv);
    req.env = {"MUSTER_JOB_ID=t1"};
    req.stdout_path = m_dir + "/" + std::to_string(++m_n) + ".out";
    req.stderr_path = m_dir + "/" + std::to_string(m_n) + ".err";
    return req;
  }

  Exited wait_for(pid_t pid, int64_t timeout_ms = 10'000) {
    const int64_t until = util::monotonic_ms() + timeout_ms;
    while (util::monotonic_ms() < until) {
      auto ev = m_runner->wait(util::monotonic_ms() + 100);
      EXPECT_TRUE(ev.ok());
      for (const auto& e : ev->exited) {
        if (e.pid == pid) {
          return e;
        }
      }
    }
    ADD_FAILURE() << "pid " << pid << " did not exit";
    return {};
  }

  util::test_support::TempDir m_tmp{"muster-runner"};
  const std::string m_dir = m_tmp.path();
  int m_n = 0;
  std::unique_ptr<LocalRunner> m_runner;
};

TEST_F(RunnerTest, PtyJobsHaveATerminalThatLeadsTheirSession) {
  StartRequest req =
      request({"sh", "-c",
               "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo tty; echo err >&2; "
               "[ \"$(ps -o sid= -p $$)\" -eq $$ ] && echo leader"});
  req.pty = true;
  auto pid = m_runner->start(req);
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  auto e = wait_for(*pid);
  EXPECT_EQ(WEXITSTATUS(e.status), 0);
  EXPECT_EQ(e.stdout_data, "tty\nerr\nleader\n"); // stderr too, and no "\r"
  EXPECT_EQ(e.stderr_bytes, 0u);
}

TEST_F(RunnerTest, AWatchedDescriptorEndsTheWaitAndANewOneWithItsNumberIsWatchedToo) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  m_runner->watch(fds[0]);
  const int64_t before = util::monotonic_ms();
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  ASSERT_TRUE(m_runner->wait(before + 5'000).ok());
  EXPECT_LT(util::monotonic_ms() - before, 2'000) << "the wait did not end on the fd";
  // Edge-triggered: what is left unread does not end the next wait.
  const int64_t idle = util::monotonic_ms();
  ASSERT_TRUE(m_runner->wait(idle + 200).ok());
  EXPECT_GE(util::monotonic_ms() - idle, 150) << "the wait ended again on old data";
  // The store reconnected: the old socket closed and the new one may have
  // the same number. It is registered again.
  const int number = fds[0];
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(fds[0], number);
  m_runner->watch(fds[0]);
  const int64_t again = util::monotonic_ms();
  ASSERT_EQ(::write(fds[1], "y", 1), 1);
  ASSERT_TRUE(m_runner->wait(again + 5'000).ok());
  EXPECT_LT(util::monotonic_ms() - again, 2'000) << "the new descriptor was not watched";
  m_runner->watch(-1);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(RunnerTest, RecordsExitCodes) {
  auto pid = m_runner->start(request({"sh", "-c", "exit 3"}));
  ASSERT_TRUE(pid.ok());
  auto e = wait_for(*pid);
  ASSERT_TRUE(WIFEXITED(e.status));
  EXPECT_EQ(WEXITSTATUS(e.status), 3);
  EXPECT_EQ(m_runner->running(), 0u);
}

TEST_F(RunnerTest, RecordsSignals) {
  auto pid = m_runner->start(request({"sh", "-c", "kill -9 $$"}));
  ASSERT_TRUE(pid.ok());
  auto e = wait_for(*pid);
  ASSERT_TRUE(WIFSIGNALED(e.status));
  EXPECT_EQ(WTERMSIG(e.status), SIGKILL);
}

TEST_F(RunnerTest, CapturesOutputAndRemovesEmptyFiles) {
  auto req = request({"sh", "-c", "echo out; echo err >&2"});
  auto pid = m_runner->start(req);
  auto e = wait_for(*pid);
  EXPECT_EQ(util::read_file(req.stdout_path), "out\n");
  EXPECT_EQ(util::read_file(req.stderr_path), "err\n");
  EXPECT_EQ(e.stdout_bytes, 4u);
  auto quiet = request({"true"});
  wait_for(*m_runner->start(quiet));
  EXPECT_FALSE(std::filesystem::exists(quiet.stdout_path));
  EXPECT_FALSE(std::filesystem::exists(quiet.stderr_path));
}

TEST_F(RunnerTest, WritesAllOutputAndKeepsSmallOutputInMemory) {
  auto req = request({"sh", "-c", "seq 1 100000; printf end"});
  auto e = wait_for(*m_runner->start(req));
  std::string out = util::read_file(req.stdout_path);
  EXPECT_EQ(out.size(), e.stdout_bytes);
  EXPECT_GT(out.size(), k_output_in_memory);
  EXPECT_EQ(out.substr(out.size() - 16), "99999\n100000\nend");
  EXPECT_EQ(e.stdout_data, "") << "too big to keep in memory";
  auto small = request({"printf", "a\nb"});
  auto s = wait_for(*m_runner->start(small));
  EXPECT_EQ(s.stdout_data, "a\nb");
  EXPECT_EQ(s.stdout_bytes, 3u);
}

TEST_F(RunnerTest, OutputIsInItsFileWhileTheJobRuns) {
  auto req = request({"sh", "-c", "echo early; sleep 5"});
  auto pid = m_runner->start(req);
  ASSERT_TRUE(pid.ok());
  const int64_t until = util::monotonic_ms() + 10'000;
  while (util::read_file(req.stdout_path) != "early\n" && util::monotonic_ms() < until) {
    ASSERT_TRUE(m_runner->wait(util::monotonic_ms() + 50).ok());
  }
  EXPECT_EQ(util::read_file(req.stdout_path), "early\n");
  m_runner->signal_group(*pid, SIGKILL);
  wait_for(*pid);
}

TEST_F(RunnerTest, StreamsChunksBeforeTheExit) {
  auto req = request({"sh", "-c", "echo one; echo two >&2"});
  req.stream = true;
  auto pid = m_runner->start(req);
  std::string out, err;
  bool exited = false;
  const int64_t until = util::monotonic_ms() + 10'000;
  while (!exited && util::monotonic_ms() < until) {
    auto ev = m_runner->wait(util::monotonic_ms() + 100);
    ASSERT_TRUE(ev.ok());
    for (const auto& o : ev->output) {
      EXPECT_EQ(o.pid, *pid);
      (o.is_stderr ? err : out) += o.data;
    }
    exited = !ev->exited.empty();
  }
  EXPECT_TRUE(exited);
  EXPECT_EQ(out, "one\n");
  EXPECT_EQ(err, "two\n");
}

TEST_F(RunnerTest, AppendsBothStreamsToOneFile) {
  auto req = request({"sh", "-c", "echo out; echo err >&2"});
  req.stderr_path = req.stdout_path;
  req.append = true;
  util::write_file(req.stdout_path, "before\n");
  wait_for(*m_runner->start(req));
  const std::string log = util::read_file(req.stdout_path);
  EXPECT_EQ(log.rfind("before\n", 0), 0u) << log;
  EXPECT_NE(log.find("out\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;
}

TEST_F(RunnerTest, LoudJobsDoNotStallOnAFullPipe) {
  auto req = request({"sh", "-c", "head -c 5000000 /dev/zero; echo done >&2"});
  auto e = wait_for(*m_runner->start(req));
  EXPECT_TRUE(WIFEXITED(e.status));
  EXPECT_EQ(e.stdout_bytes, 5000000u);
  EXPECT_EQ(util::read_file(req.stderr_path), "done\n");
}

TEST(Files, KeepTailCutsToTheLastBytes) {
  util::test_support::TempDir dir{"muster-tail"};
  const std::string path = dir.path() + "/f";
  util::write_file(path, "0123456789");
  EXPECT_FALSE(util::keep_tail(path, 10));
  EXPECT_TRUE(util::keep_tail(path, 4));
  EXPECT_EQ(util::read_file(path), "6789");
  EXPECT_EQ(util::read_tail(path, 2), "89");
}

TEST_F(RunnerTest, JobGetsEnvironmentOwnGroupAndDevNullStdin) {
  auto req =
      request({"sh", "-c", "echo $MUSTER_JOB_ID; ps -o pgid= -p $$; read x; echo rc=$?"});
  auto pid = m_runner->start(req);
  ASSERT_TRUE(pid.ok());
  wait_for(*pid);
  std::string out = util::read_file(req.stdout_path);
  EXPECT_NE(out.find("t1\n"), std::string::npos) << out;
  EXPECT_NE(out.find(std::to_string(*pid)), std::string::npos) << out; // pgid == pid
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out; // EOF from /dev/null
}

TEST_F(RunnerTest, SignalingTheGroupReachesGrandchildren) {
  auto req = request({"sh", "-c", "sleep 100.4711 & sleep 100.4711; wait"});
  auto pid = m_runner->start(req);
  ASSERT_TRUE(pid.ok());
  usleep(200'000);
  m_runner->signal_group(*pid, SIGTERM);
  auto e = wait_for(*pid);
  EXPECT_TRUE(WIFSIGNALED(e.status));
  usleep(100'000);
  EXPECT_NE(std::system("pgrep -f 'sleep 100[.]4711' >/dev/null"), 0);
}

TEST_F(RunnerTest, LeftoversOfAFinishedJobAreKilled) {
  auto req = request({"sh", "-c", "sleep 100.4712 & exit 0"});
  auto pid = m_runner->start(req);
  wait_for(*pid);
  usleep(100'000);
  EXPECT_NE(std::system("pgrep -f 'sleep 100[.]4712' >/dev/null"), 0);
}

TEST_F(RunnerTest, KeeperKillsGroupsWhenTheRunnerDiesWithoutCleanup) {
  // A child process plays muster: it starts a job with a grandchild, then
  // dies by SIGKILL; the keeper must take the grandchild down with it.
  pid_t fake_muster = fork();
  if (fake_muster == 0) {
    auto runner = LocalRunner::create();
    if (!runner) {
      _exit(2);
    }
    auto req = request({"sh", "-c", "sleep 100.4713 & sleep 100.4713; wait"});
    if (!(*runner)->start(req)) {
      _exit(3);
    }
    usleep(300'000);
    ::kill(getpid(), SIGKILL);
  }
  ASSERT_GT(fake_muster, 0);
  int status = 0;
  while (waitpid(fake_muster, &status, 0) < 0 && errno == EINTR) {
  }
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    usleep(100'000);
    gone = std::system("pgrep -f 'sleep 100[.]4713' >/dev/null") != 0;
  }
  EXPECT_TRUE(gone) << "a grandchild outlived a killed muster";
}

TEST_F(RunnerTest, MissingCommandIsASpawnError) {
  auto pid = m_runner->start(request({"no-such-command-xyz"}));
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.error().message.find("command not found"), std::string::npos);
  auto dir = m_runner->start(request({"/etc"}));
  ASSERT_FALSE(dir.ok());
}

TEST_F(RunnerTest, SignalsArriveAsEvents) {
  ::kill(getpid(), SIGHUP);
  auto ev = m_runner->wait(util::monotonic_ms() + 1000);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->signals.size(), 1u);
  EXPECT_EQ(ev->signals[0], SIGHUP);
}

TEST_F(RunnerTest, WaitHonoursTheDeadline) {
  // It may return early (an adopted orphan's SIGCHLD), never late.
  const int64_t start = util::monotonic_ms();
  while (util::monotonic_ms() - start < 150) {
    auto ev = m_runner->wait(start + 150);
    ASSERT_TRUE(ev.ok());
    EXPECT_TRUE(ev->exited.empty());
  }
  EXPECT_LT(util::monotonic_ms() - start, 1000);
}

TEST(Spawn, ResolvesOnPath) {
  auto p = resolve_executable("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/bin/sh");
  EXPECT_EQ(*resolve_executable("./x", ""), "./x");
  EXPECT_FALSE(resolve_executable("no-such-xyz", "/bin").ok());
}

} // namespace
} // namespace muster::exec

// The scheduler against a fake runner (no processes) and a real store.

#include "agent/agent.hpp"
#include "store/codec.hpp"
#include "store/open.hpp"
#include "util/test_support.hpp"
#include "util/time.hpp"

#include <csignal>
#include <deque>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::agent {
namespace {

using core::JobState;

constexpr int k_hang = -1;

/// Runs nothing: each started job ends as `script` says, at once, or hangs
/// until its group is signalled.
class FakeRunner final : public exec::Runner {
public:
  std::function<int(const exec::StartRequest&)> script = [](const exec::StartRequest&) {
    return 0;
  };
  std::deque<int>
      signals_to_deliver; ///< delivered one per wait, after `signal_after` waits
  int signal_after = 0;
  bool ignore_term = false;
  std::vector<exec::StartRequest> started;
  std::vector<std::pair<pid_t, int>> signalled;
  size_t max_running = 0;

  util::Result<pid_t> start(const exec::StartRequest& request) override {
    if (request.argv[0] == "missing") {
      return util::Error{"cannot run missing: command not found"};
    }
    started.push_back(request);
    const pid_t pid = m_next_pid++;
    const int status = script(request);
    if (status == k_hang) {
      m_hanging.insert(pid);
    } else {
      m_done.push_back(exec::Exited{pid, status, 0, 0, {}, {}, {}});
    }
    m_running.insert(pid);
    max_running = std::max(max_running, m_running.size());
    return pid;
  }

  void signal_group(pid_t pgid, int sig) override {
    signalled.emplace_back(pgid, sig);
    if ((sig != SIGTERM || !ignore_term) && m_hanging.erase(pgid) > 0) {
      m_done.push_back(exec::Exited{pgid, sig /* W_TERMSIG */, 0, 0, {}, {}, {}});
    }
  }

  util::Result<exec::Events> wait(int64_t deadline_ms) override {
    exec::Events ev;
    ++m_waits;
    if (!signals_to_deliver.empty() && m_waits > signal_after) {
      ev.signals.push_back(signals_to_deliver.front());
      signals_to_deliver.pop_front();
      return ev;
    }
    if (m_done.empty()) {
      const int64_t left = deadline_ms - util::monotonic_ms();
      if (left > 0) {
        usleep(static_cast<useconds_t>(std::min<int64_t>(left, 5) * 1000));
      }
      return ev;
    }
    for (const auto& e : m_done) {
      m_running.erase(e.pid);
      ev.exited.push_back(e);
    }
    m_done.clear();
    return ev;
  }

  size_t running() const override { return m_running.size(); }
  std::unique_ptr<exec::Probe> probe(const std::string&, int64_t) override {
    struct Ready final : exec::Probe {
      Status check(int64_t) override { return Status::ready; }
    };
    return std::make_unique<Ready>();
  }

private:
  pid_t m_next_pid = 1000;
  int m_waits = 0;
  std::set<pid_t> m_running;
  std::set<pid_t> m_hanging;
  std::vector<exec::Exited> m_done;
};

class AgentTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = store::open(m_dir, store::Create::yes);
    ASSERT_TRUE(s.ok());
    m_store = std::move(*s);
  }
  store::RunRecord seed(int n, core::RunSettings settings) {
    store::RunRecord run;
    run.settings = std::move(settings);
    int i = 0;
    auto r = m_store->create_run(run, [&](store::NewJob& job) -> util::Result<bool> {
      if (i == n) {
        return false;
      }
      ++i;
      job.id = "job" + std::to_string(i);
      job.fields = store::encode_strings({"v" + std::to_string(i)});
      return true;
    });
    EXPECT_TRUE(r.ok());
    return run;
  }

  AgentResult run(const store::RunRecord& run, int64_t slots) {
    Reporter quiet;
    AgentOptions opts;
    opts.slots = slots;
    opts.store_dir = m_dir;
    opts.me = store::Holder{getpid(), "test", 1, 0, 0, ""};
    opts.is_alive = [](const store::Holder&) { return false; };
    opts.tick_ms = 5;
    Agent agent(*m_store, m_runner, quiet, opts);
    auto r = agent.run(run.rid);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? *r : AgentResult{};
  }

  store::JobRecord job(const store::RunRecord& run, const std::string& id) {
    store::JobFilter f;
    f.id = id;
    return m_store->jobs(run.rid, f)->front();
  }

  util::test_support::TempDir m_tmp{"muster-agent"};
  const std::string m_dir = m_tmp.path();
  std::unique_ptr<store::Store> m_store;
  FakeRunner m_runner;
};

core::RunSettings settings(std::vector<std::string> command = {"echo", "{}"}) {
  core::RunSettings s;
  s.command = std::move(command);
  s.backoff = {1, 2, 0.2};
  return s;
}

TEST_F(AgentTest, RunsEveryJobOnceWithinTheSlots) {
  auto r = seed(50, settings());
  auto result = run(r, 4);
  EXPECT_EQ(result.ending, Ending::completed);
  EXPECT_EQ(result.counts[JobState::succeeded], 50);
  EXPECT_EQ(m_runner.started.size(), 50u);
  EXPECT_LE(m_runner.max_running, 4u);
  EXPECT_EQ(m_runner.started[0].argv, (std::vector<std::string>{"echo", "v1"}));
  EXPECT_EQ((*m_store->counts(r.rid))[JobState::succeeded], 50);
  EXPECT_EQ(m_store->find_run(r.id)->state, core::RunState::completed);
}

TEST_F(AgentTest, JobsGetTheirEnvironment) {
  auto r = seed(1, settings());
  run(r, 1);
  const auto& env = m_runner.started.at(0).env;
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_RUN_ID=" + r.id), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_JOB_ID=job1"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_SLOT=0"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_ATTEMPT=1"), env.end());
}

TEST_F(AgentTest, RetriesWithBackoffUntilSuccess) {
  auto s = settings();
  s.max_attempts = 3;
  auto r = seed(1, s);
  int calls = 0;
  m_runner.script = [&](const exec::StartRequest&) { return ++calls < 3 ? (1 << 8) : 0; };
  auto result = run(r, 1);
  EXPECT_EQ(result.counts[JobState::succeeded], 1);
  auto j = job(r, "job1");
  EXPECT_EQ(j.state, JobState::succeeded);
  EXPECT_EQ(j.attempts, 3);
}

TEST_F(AgentTest, GivesUpAfterMaxAttempts) {
  auto s = settings();
  s.max_attempts = 2;
  auto r = seed(2, s);
  m_runner.script = [](const exec::StartRequest&) { return 7 << 8; };
  auto result = run(r, 2);
  EXPECT_EQ(result.ending, Ending::completed);
  EXPECT_EQ(result.counts[JobState::failed], 2);
  auto j = job(r, "job2");
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.exit_code, 7);
  EXPECT_EQ(j.error_type, "exit_code");
}

TEST_F(AgentTest, TimeoutTermsTheGroupAndIsRetryable) {
  auto s = settings();
  s.timeout_ms = 30;
  s.max_attempts = 2;
  auto r = seed(1, s);
  m_runner.script = [](const exec::StartRequest&) { return k_hang; };
  run(r, 1);
  auto j = job(r, "job1");
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.error_type, "timeout");
  ASSERT_EQ(m_runner.signalled.size(), 2u);
  EXPECT_EQ(m_runner.signalled[0].second, SIGTERM);
}

TEST_F(AgentTest, TimeoutEscalatesToKill) {
  auto s = settings();
  s.timeout_ms = 10;
  s.kill_grace_ms = 20;
  auto r = seed(1, s);
  m_runner.script = [](const exec::StartRequest&) { return k_hang; };
  m_runner.ignore_term = true; // a job that ignores SIGTERM: only SIGKILL ends it
  run(r, 1);
  EXPECT_EQ(job(r, "job1").error_type, "timeout");
  ASSERT_EQ(m_runner.signalled.size(), 2u);
  EXPECT_EQ(m_runner.signalled[0].second, SIGTERM);
  EXPECT_EQ(m_runner.signalled[1].second, SIGKILL);
}

TEST_F(AgentTest, FirstSignalDrainsAndLeavesTheRestPending) {
  auto s = settings();
  s.grace_ms = 60'000;
  auto r = seed(10, s);
  m_runner.signals_to_deliver.push_back(SIGINT);
  m_runner.signal_after = 0;
  auto result = run(r, 2);
  EXPECT_EQ(result.ending, Ending::interrupted);
  auto counts = *m_store->counts(r.rid);
  EXPECT_EQ(counts[JobState::succeeded], 2); // the two running jobs finished
  EXPECT_EQ(counts[JobState::pending], 8);
  EXPECT_EQ(m_store->find_run(r.id)->state, core::RunState::paused);
}

TEST_F(AgentTest, GraceExpiryStopsJobsAsInterrupted) {
  auto s = settings();
  s.grace_ms = 20;
  auto r = seed(3, s);
  m_runner.script = [](const exec::StartRequest&) { return k_hang; };
  m_runner.signals_to_deliver.push_back(SIGTERM);
  auto result = run(r, 2);
  EXPECT_EQ(result.ending, Ending::interrupted);
  auto counts = *m_store->counts(r.rid);
  EXPECT_EQ(counts[JobState::interrupted], 2);
  EXPECT_EQ(counts[JobState::pending], 1);
  EXPECT_EQ(job(r, "job1").error_type, "interrupted");
}

TEST_F(AgentTest, SecondSignalKillsAtOnce) {
  auto s = settings();
  s.grace_ms = 60'000;
  auto r = seed(2, s);
  m_runner.script = [](const exec::StartRequest&) { return k_hang; };
  m_runner.signals_to_deliver = {SIGINT, SIGINT};
  const int64_t start = util::monotonic_ms();
  auto result = run(r, 2);
  EXPECT_LT(util::monotonic_ms() - start, 5000);
  EXPECT_EQ(result.ending, Ending::interrupted);
  bool killed = false;
  for (auto& [pid, sig] : m_runner.signalled) {
    killed = killed || sig == SIGKILL;
  }
  EXPECT_TRUE(killed);
  EXPECT_EQ((*m_store->counts(r.rid))[JobState::interrupted], 2);
}

TEST_F(AgentTest, SpawnFailureFailsTheJob) {
  auto r = seed(2, settings({"missing", "{}"}));
  auto result = run(r, 2);
  EXPECT_EQ(result.ending, Ending::completed);
  EXPECT_EQ(result.counts[JobState::failed], 2);
  auto j = job(r, "job1");
  EXPECT_EQ(j.error_type, "spawn");
  EXPECT_NE(j.error.find("command not found"), std::string::npos);
}

TEST_F(AgentTest, LiveHolderMeansBusy) {
  auto r = seed(1, settings());
  ASSERT_TRUE(m_store
                  ->acquire(r.rid, store::Holder{1, "other", 5, 0, 0, ""},
                            [](auto&) { return false; })
                  .ok());
  Reporter quiet;
  AgentOptions opts;
  opts.slots = 1;
  opts.store_dir = m_dir;
  opts.me = store::Holder{2, "test", 1, 0, 0, ""};
  opts.is_alive = [](const store::Holder& h) { return h.pid == 1; };
  Agent agent(*m_store, m_runner, quiet, opts);
  auto result = agent.run(r.rid);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->ending, Ending::busy);
  EXPECT_EQ(result->holder->pid, 1);
  EXPECT_TRUE(m_runner.started.empty());
}

TEST_F(AgentTest, OrphansOfADeadHolderAreReapedAndRequeued) {
  auto r = seed(3, settings());
  ASSERT_TRUE(m_store
                  ->acquire(r.rid, store::Holder{1, "t", 5, 0, 0, ""},
                            [](auto&) { return false; })
                  .ok());
  ASSERT_EQ(m_store->commit(r.rid, {}, {0, 1}, 1)->claims.size(), 2u);
  std::vector<std::string> reaped;
  Reporter quiet;
  AgentOptions opts;
  opts.slots = 2;
  opts.store_dir = m_dir;
  opts.me = store::Holder{2, "t", 1, 0, 0, ""};
  opts.is_alive = [](const store::Holder&) { return false; };
  opts.reap_orphans = [&](const std::string&, const std::vector<store::Orphan>& o) {
    for (auto& x : o) {
      reaped.push_back(x.id);
    }
  };
  Agent agent(*m_store, m_runner, quiet, opts);
  auto result = agent.run(r.rid);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(reaped, (std::vector<std::string>{"job1", "job2"}));
  EXPECT_EQ(result->counts[JobState::succeeded], 3);
  EXPECT_EQ(job(r, "job1").attempts, 2);
}

} // namespace
} // namespace muster::agent

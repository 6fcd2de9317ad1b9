// StoreConformance: what store.hpp promises, held for every backend through
// the Store interface alone. A backend joins by adding a Backend to the
// instantiation at the end of this file.

#include "store/conformance_support.hpp"
#include "store/open.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/schema.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace muster::store::conformance {
namespace {

constexpr int64_t k_t0 = 1'795'474'680'000; // 2026-11-23 22:58 UTC

// -- Runs and jobs ----------------------------------------------------------

TEST_P(StoreConformance, CreatesARunWithItsJobsInInputOrder) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(5));
  EXPECT_GT(run.rid, 0);
  EXPECT_FALSE(run.id.empty());
  EXPECT_EQ(run.total, 5);
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 5);
  auto all = store->jobs(run.rid, {});
  ASSERT_TRUE(all.ok()) << why(all);
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].id, "j" + std::to_string(i + 1));
    EXPECT_EQ((*all)[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*all)[i].attempts, 0);
  }
}

TEST_P(StoreConformance, DuplicateJobIdRollsTheWholeRunBack) {
  auto store = open();
  RunRecord run;
  run.settings.command = {"true"};
  int i = 0;
  auto r = store->create_run(run, [&](NewJob& job) -> util::Result<bool> {
    if (i == 3) {
      return false;
    }
    job.id = i == 2 ? "a" : std::string(1, static_cast<char>('a' + i));
    job.fields = "[]";
    job.where = "in.csv:" + std::to_string(i + 2);
    ++i;
    return true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("in.csv:4: duplicate job id 'a'"), std::string::npos)
      << r.error().message;
  auto runs = store->list_runs();
  ASSERT_TRUE(runs.ok()) << why(runs);
  EXPECT_TRUE(runs->empty()) << runs->size() << " runs left behind";
}

TEST_P(StoreConformance, ReaderErrorRollsTheWholeRunBack) {
  auto store = open();
  RunRecord run;
  run.settings.command = {"true"};
  int i = 0;
  auto r = store->create_run(run, [&](NewJob& job) -> util::Result<bool> {
    if (i++ == 2) {
      return util::Error{"x.csv:3:1: broken"};
    }
    job.id = std::to_string(i);
    job.fields = "[]";
    return true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("x.csv:3:1: broken"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(store->list_runs()->empty());
}

TEST_P(StoreConformance, FindsRunsByIdPrefixAndName) {
  auto store = open();
  auto named = make_run(*store, {}, {{}}, "posts");
  EXPECT_EQ(store->find_run("posts")->id, named.id);
  EXPECT_EQ(store->find_run(named.id)->id, named.id);
  EXPECT_EQ(store->find_run(named.id.substr(0, 3))->id, named.id);
  auto none = store->find_run("no-such-run");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no-such-run"), std::string::npos)
      << none.error().message;
}

TEST_P(StoreConformance, RunNamesAreUnique) {
  auto store = open();
  make_run(*store, {}, {{}}, "posts");
  RunRecord again;
  again.name = "posts";
  again.settings.command = {"x"};
  auto dup = create_run(*store, again, {{}});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("already exists"), std::string::npos)
      << dup.error().message;
  EXPECT_EQ(store->list_runs()->size(), 1u);
}

TEST_P(StoreConformance, ListsRunsAndFindsTheLatest) {
  auto store = open();
  auto none = store->latest_run();
  ASSERT_TRUE(none.ok()) << why(none);
  EXPECT_FALSE(none->has_value());
  auto a = make_run(*store, {}, {{}}, "a");
  auto b = make_run(*store, {}, {{}, {}}, "b");
  auto latest = store->latest_run();
  ASSERT_TRUE(latest.ok() && latest->has_value()) << why(latest);
  EXPECT_EQ((*latest)->id, b.id);
  auto runs = store->list_runs();
  ASSERT_TRUE(runs.ok()) << why(runs);
  std::set<std::string> listed;
  for (const auto& r : *runs) {
    listed.insert(r.id);
  }
  EXPECT_EQ(listed, (std::set<std::string>{a.id, b.id}));
}

TEST_P(StoreConformance, SettingsAndColumnsSurviveTheStore) {
  auto store = open();
  core::RunSettings s;
  s.command = {"post", "{video}"};
  s.slots = 5;
  s.max_attempts = 3;
  s.backoff = {2000, 9000, 0.2};
  s.on_interrupt = core::OnInterrupt::hold;
  s.key = "{account}";
  s.limits.per_key = 1;
  s.limits.per_key_daily = 4;
  s.limits.timezone = "Europe/Berlin";
  s.locks = {"phones"};
  RunRecord run;
  run.settings = s;
  run.columns = {"video", "account"};
  ASSERT_TRUE(create_run(*store, run, {{}}).ok());
  auto back = store->find_run(run.id);
  ASSERT_TRUE(back.ok()) << why(back);
  EXPECT_EQ(back->settings.command, s.command);
  EXPECT_EQ(back->settings.slots, 5);
  EXPECT_EQ(back->settings.max_attempts, 3);
  EXPECT_EQ(back->settings.backoff.max_ms, 9000);
  EXPECT_EQ(back->settings.on_interrupt, core::OnInterrupt::hold);
  EXPECT_EQ(back->settings.key, "{account}");
  EXPECT_EQ(back->settings.limits.per_key_daily, 4);
  EXPECT_EQ(back->settings.limits.timezone, "Europe/Berlin");
  EXPECT_EQ(back->settings.locks, s.locks);
  EXPECT_EQ(back->columns, run.columns);
  EXPECT_EQ(back->state, core::RunState::created);
}

TEST_P(StoreConformance, JobListingsFilterByStateIdAndLimit) {
  auto store = open();
  auto run = held_run(*store, 4);
  ASSERT_EQ(claim(*store, run.rid, {0}, 1000)->claims.size(), 1u);
  EXPECT_EQ(ids_in(*store, run.rid, JobState::running), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(ids_in(*store, run.rid, JobState::pending),
            (std::vector<std::string>{"j2", "j3", "j4"}));
  EXPECT_EQ(job(*store, run.rid, "j3").seq, 3);
  JobFilter two;
  two.limit = 2;
  EXPECT_EQ(store->jobs(run.rid, two)->size(), 2u);
  JobFilter missing;
  missing.id = "nope";
  EXPECT_TRUE(store->jobs(run.rid, missing)->empty());
  std::vector<std::string> seen;
  ASSERT_TRUE(
      store->each_job(run.rid, [&](const JobRecord& j) { seen.push_back(j.id); }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"j1", "j2", "j3", "j4"}));
}

// -- Claims -----------------------------------------------------------------

TEST_P(StoreConformance, ClaimIsCommittedAndVisibleToAnotherConnection) {
  auto store = open();
  auto other = open();
  auto run = held_run(*store, 3);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_TRUE(c.ok()) << why(c);
  ASSERT_EQ(ids(*c), (std::vector<std::string>{"j1", "j2"}));
  EXPECT_EQ(c->claims[0].slot, 0);
  EXPECT_EQ(c->claims[1].slot, 1);
  EXPECT_EQ(c->claims[0].attempt, 1);
  EXPECT_EQ(c->claims[0].from, JobState::pending);
  // No process has started yet; the other connection already sees the claim.
  auto seen = job(*other, run.rid, "j1");
  EXPECT_EQ(seen.state, JobState::running);
  EXPECT_EQ(seen.slot, 0);
  EXPECT_EQ(seen.attempts, 1);
  EXPECT_EQ(counts(*other, run.rid)[JobState::running], 2);
  EXPECT_EQ(counts(*other, run.rid)[JobState::pending], 1);
}

TEST_P(StoreConformance, ClaimSurvivesTheClaimersDeath) {
  RunRecord run;
  {
    auto store = open();
    run = make_run(*store, {}, std::vector<Spec>(2));
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto child = GetParam().open(m_dir + "/store");
    if (!child || !take(**child, run.rid, 9001)) {
      _exit(2);
    }
    auto c = claim(**child, run.rid, {0}, 1000);
    // Dies at once, as an agent killed between its claim and the spawn.
    _exit(c && c->claims.size() == 1 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  auto store = open();
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::running);
  auto t = take(*store, run.rid, 9002);
  ASSERT_TRUE(t.ok()) << why(t);
  ASSERT_EQ(t->orphans.size(), 1u);
  EXPECT_EQ(t->orphans[0].id, "j1");
}

TEST_P(StoreConformance, ClaimsFollowPriorityThenInputOrder) {
  auto store = open();
  auto run = make_run(*store, {}, {{"", "", 0}, {"", "", 5}, {"", "", -1}, {"", "", 5}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0, 1, 2, 3}, 1);
  ASSERT_TRUE(c.ok()) << why(c);
  EXPECT_EQ(ids(*c), (std::vector<std::string>{"j2", "j4", "j1", "j3"}));
}

TEST_P(StoreConformance, ClaimsOnlyAsManyAsFreeSlotsAndNothingWhenDone) {
  auto store = open();
  auto run = held_run(*store, 3);
  auto c = claim(*store, run.rid, {4, 7}, 1000);
  ASSERT_TRUE(c.ok()) << why(c);
  ASSERT_EQ(c->claims.size(), 2u);
  EXPECT_EQ(c->claims[0].slot, 4);
  EXPECT_EQ(c->claims[1].slot, 7);
  EXPECT_TRUE(claim(*store, run.rid, {}, 1000)->claims.empty());
  auto last = claim(*store, run.rid, {0, 1, 2}, 1000);
  EXPECT_EQ(ids(*last), (std::vector<std::string>{"j3"}));
  EXPECT_TRUE(claim(*store, run.rid, {0}, 1000)->claims.empty());
}

TEST_P(StoreConformance, RecordsStartsAndResults) {
  auto store = open();
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_EQ(c->claims.size(), 2u);
  ASSERT_TRUE(record(*store, run.rid, {started(c->claims[0], 4242)}, 1100).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").pgid, 4242);
  auto fail = finished(c->claims[1], JobState::failed, 2000);
  fail.outcome = core::Outcome::exited(7);
  auto r = record(*store, run.rid,
                  {finished(c->claims[0], JobState::succeeded, 2000), fail}, 2000);
  ASSERT_TRUE(r.ok()) << why(r);
  auto j1 = job(*store, run.rid, "j1");
  EXPECT_EQ(j1.state, JobState::succeeded);
  EXPECT_EQ(j1.exit_code, 0);
  EXPECT_EQ(j1.finished_at, 2000);
  auto j2 = job(*store, run.rid, "j2");
  EXPECT_EQ(j2.state, JobState::failed);
  EXPECT_EQ(j2.exit_code, 7);
  EXPECT_EQ(counts(*store, run.rid).finished(), 2);
}

TEST_P(StoreConformance, ThreadsWithTheirOwnConnectionsNeverShareAJob) {
  constexpr int k_jobs = 200;
  constexpr int k_threads = 4;
  RunRecord run;
  {
    auto store = open();
    run = held_run(*store, k_jobs);
  }
  std::mutex mu;
  std::map<std::string, int> claimed;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      auto s = GetParam().open(m_dir + "/store");
      if (!s) {
        std::lock_guard lock(mu);
        errors.push_back(why(s));
        return;
      }
      std::vector<Update> done;
      for (int turn = 0; turn < 10 * k_jobs; ++turn) {
        auto c = record_and_claim(**s, run.rid, done, {t * 2, t * 2 + 1}, 1000 + turn);
        if (!c) {
          std::lock_guard lock(mu);
          errors.push_back(why(c));
          return;
        }
        done.clear();
        {
          std::lock_guard lock(mu);
          for (const auto& cl : c->claims) {
            ++claimed[cl.id];
          }
        }
        for (const auto& cl : c->claims) {
          done.push_back(finished(cl, JobState::succeeded, 1000 + turn));
        }
        if (c->claims.empty()) {
          return;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(k_jobs));
  for (const auto& [id, n] : claimed) {
    EXPECT_EQ(n, 1) << "job " << id << " was claimed " << n << " times";
  }
  auto store = open();
  EXPECT_EQ(counts(*store, run.rid)[JobState::succeeded], k_jobs);
}

/// Runs `body(store, out)` in `n` forked children, each with a store
/// connection of its own and a pipe to write lines to; returns every line
/// and fails the test if a child did not exit 0.
std::vector<std::string> in_processes(const Backend& backend, const std::string& dir,
                                      int n,
                                      const std::function<int(Store&, int, int)>& body) {
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < n; ++i) {
    int fds[2];
    if (pipe(fds) != 0) {
      ADD_FAILURE() << "pipe failed";
      break;
    }
    pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      break;
    }
    if (pid == 0) {
      close(fds[0]);
      auto store = backend.open(dir);
      _exit(store ? body(**store, i, fds[1]) : 2);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  std::vector<std::string> lines;
  for (auto [pid, fd] : children) {
    std::string text;
    char buf[4096];
    ssize_t got = 0;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
      text.append(buf, static_cast<size_t>(got));
    }
    close(fd);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child " << pid << " ended with status " << status
        << " (2: no store, 3: a commit failed, 4: a limit was broken, 5: never finished)";
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      lines.push_back(text.substr(start, nl - start));
    }
  }
  return lines;
}

void write_line(int fd, const std::string& line) {
  const std::string text = line + "\n";
  // Under PIPE_BUF, so whole; a short write would show as a missing claim.
  (void)!write(fd, text.data(), text.size());
}

TEST_P(StoreConformance, ProcessesWithTheirOwnStoresNeverShareAJob) {
  constexpr int k_jobs = 240;
  RunRecord run;
  {
    auto store = open();
    run = held_run(*store, k_jobs);
  }
  auto lines =
      in_processes(GetParam(), m_dir + "/store", 4, [&](Store& s, int me, int out) {
        std::vector<Update> done;
        for (int turn = 0; turn < 10 * k_jobs; ++turn) {
          auto c = record_and_claim(s, run.rid, done, {me * 3, me * 3 + 1, me * 3 + 2},
                                    1000 + turn);
          if (!c) {
            return 3;
          }
          done.clear();
          for (const auto& cl : c->claims) {
            write_line(out, cl.id);
            done.push_back(finished(cl, JobState::succeeded, 1000 + turn));
          }
          if (c->claims.empty()) {
            return 0;
          }
        }
        return 5;
      });
  std::map<std::string, int> claimed;
  for (const auto& id : lines) {
    ++claimed[id];
  }
  EXPECT_EQ(claimed.size(), static_cast<size_t>(k_jobs));
  for (const auto& [id, n] : claimed) {
    EXPECT_EQ(n, 1) << "job " << id << " was claimed by " << n << " processes";
  }
  auto store = open();
  EXPECT_EQ(counts(*store, run.rid)[JobState::succeeded], k_jobs);
}

// -- Retries ----------------------------------------------------------------

TEST_P(StoreConformance, RetryingJobIsNotClaimedBeforeItsRetryAt) {
  core::RunSettings s;
  s.max_attempts = 3;
  auto store = open();
  auto run = held_run(*store, 1, s);
  auto c = claim(*store, run.rid, {0}, 1000);
  ASSERT_EQ(c->claims.size(), 1u);
  ASSERT_TRUE(record(*store, run.rid, {retrying(c->claims[0], 2000, 5000)}, 2000).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::retrying);
  EXPECT_EQ(job(*store, run.rid, "j1").retry_at, 5000);
  EXPECT_TRUE(claim(*store, run.rid, {0}, 4999)->claims.empty())
      << "claimed before retry_at";
  auto later = claim(*store, run.rid, {0}, 5000);
  ASSERT_EQ(ids(*later), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(later->claims[0].attempt, 2);
  EXPECT_EQ(later->claims[0].from, JobState::retrying);
}

TEST_P(StoreConformance, NextRetryAtIsTheEarliestDueRetry) {
  core::RunSettings s;
  s.max_attempts = 3;
  auto store = open();
  auto run = held_run(*store, 3, s);
  EXPECT_EQ(*store->next_retry_at(run.rid), 0);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_EQ(c->claims.size(), 2u);
  ASSERT_TRUE(
      record(*store, run.rid,
             {retrying(c->claims[0], 2000, 9000), retrying(c->claims[1], 2000, 7000)},
             2000)
          .ok());
  EXPECT_EQ(*store->next_retry_at(run.rid), 7000);
  // At 7000 the due retry and the pending job are claimed, the other retry not.
  auto due = ids(*claim(*store, run.rid, {0, 1, 2}, 7000));
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, (std::vector<std::string>{"j2", "j3"}));
  EXPECT_EQ(*store->next_retry_at(run.rid), 9000);
}

TEST_P(StoreConformance, RetryGivesFailedJobsAFreshSetOfAttempts) {
  core::RunSettings s;
  s.max_attempts = 2;
  auto store = open();
  auto run = held_run(*store, 3, s);
  auto c = claim(*store, run.rid, {0, 1, 2}, 1000);
  ASSERT_EQ(c->claims.size(), 3u);
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(c->claims[0], JobState::failed, 2000),
                      finished(c->claims[1], JobState::succeeded, 2000),
                      finished(c->claims[2], JobState::failed, 2000)},
                     2000)
                  .ok());
  RetrySelection sel;
  sel.failed = true;
  auto moved = store->retry(run.rid, sel);
  ASSERT_TRUE(moved.ok()) << why(moved);
  EXPECT_EQ(*moved, 2);
  EXPECT_EQ(ids_in(*store, run.rid, JobState::pending),
            (std::vector<std::string>{"j1", "j3"}));
  EXPECT_EQ(job(*store, run.rid, "j2").state, JobState::succeeded);
  EXPECT_GT(job(*store, run.rid, "j1").max_attempts, job(*store, run.rid, "j1").attempts);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1}, 3000)),
            (std::vector<std::string>{"j1", "j3"}));
}

TEST_P(StoreConformance, RetryOfOneJobRefusesSucceededRunningAndUnknownJobs) {
  auto store = open();
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_TRUE(
      record(*store, run.rid, {finished(c->claims[0], JobState::succeeded, 2000)}, 2000)
          .ok());
  RetrySelection sel;
  sel.job_id = "j1";
  auto done = store->retry(run.rid, sel);
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.error().message.find("never runs again"), std::string::npos)
      << done.error().message;
  sel.job_id = "j2";
  auto running = store->retry(run.rid, sel);
  ASSERT_FALSE(running.ok());
  EXPECT_NE(running.error().message.find("running"), std::string::npos)
      << running.error().message;
  sel.job_id = "j9";
  auto unknown = store->retry(run.rid, sel);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("j9"), std::string::npos)
      << unknown.error().message;
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::succeeded);
}

// -- Limits -----------------------------------------------------------------

TEST_P(StoreConformance, PerKeyConcurrencyHoldsJobsBackAsWaiting) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key = 1;
  auto run = make_run(*store, s, {{"a"}, {"a"}, {"b"}, {"a"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto first = claim(*store, run.rid, {0, 1, 2, 3}, 1000);
  ASSERT_TRUE(first.ok()) << why(first);
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"j1", "j3"}));
  EXPECT_EQ(first->moved[JobState::waiting], 2);
  auto j2 = job(*store, run.rid, "j2");
  EXPECT_EQ(j2.state, JobState::waiting);
  EXPECT_EQ(j2.reason, "key a busy: 1/1 running");
  auto next = record_and_claim(*store, run.rid,
                               {finished(first->claims[0], JobState::succeeded, 2000)},
                               {0, 2, 3}, 2000);
  ASSERT_TRUE(next.ok()) << why(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j2"}));
  EXPECT_EQ(ids_in(*store, run.rid, JobState::waiting), (std::vector<std::string>{"j4"}));
}

TEST_P(StoreConformance, DailyCapWaitsForTheNextWindow) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key_daily = 2;
  s.limits.timezone = "Europe/Berlin";
  auto run = make_run(*store, s, {{"a"}, {"a"}, {"a"}, {"b"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  // 23:58 in Berlin: two of key a may start before midnight.
  auto c = claim(*store, run.rid, {0, 1, 2, 3}, k_t0);
  ASSERT_TRUE(c.ok()) << why(c);
  EXPECT_EQ(ids(*c), (std::vector<std::string>{"j1", "j2", "j4"}));
  auto j3 = job(*store, run.rid, "j3");
  EXPECT_EQ(j3.state, JobState::waiting);
  EXPECT_EQ(j3.reason, "key a at daily cap 2/2 until 2026-11-24 00:00 Europe/Berlin");
  EXPECT_EQ(c->wake_at, k_t0 + 120'000);
  EXPECT_TRUE(claim(*store, run.rid, {0}, k_t0 + 119'999)->claims.empty());
  EXPECT_EQ(ids(*claim(*store, run.rid, {0}, k_t0 + 120'000)),
            (std::vector<std::string>{"j3"}));
}

TEST_P(StoreConformance, KeyUsageCountsRunningJobsAndTheWindow) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key_daily = 5;
  s.limits.timezone = "UTC";
  auto run = make_run(*store, s, {{"a"}, {"a"}, {"b"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0, 1, 2}, k_t0);
  ASSERT_EQ(c->claims.size(), 3u);
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(c->claims[0], JobState::succeeded, k_t0 + 1)}, k_t0 + 1)
                  .ok());
  const int64_t midnight_before = k_t0 - (22 * 60 + 58) * 60'000;
  auto use = store->key_usage(run.rid, "a", midnight_before);
  ASSERT_TRUE(use.ok()) << why(use);
  EXPECT_EQ(use->running, 1);
  EXPECT_EQ(use->counted, 2);
  auto next_day = store->key_usage(run.rid, "a", midnight_before + 86'400'000);
  EXPECT_EQ(next_day->counted, 0);
}

TEST_P(StoreConformance, RateSpacesStartsEvenly) {
  auto store = open();
  core::RunSettings s;
  s.limits.rate_interval_us = 1'000'000;
  auto run = make_run(*store, s, {{}, {}, {}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0, 1, 2}, 10'000);
  EXPECT_EQ(c->claims.size(), 1u);
  EXPECT_EQ(c->wake_at, 11'000);
  EXPECT_TRUE(claim(*store, run.rid, {1, 2}, 10'999)->claims.empty());
  EXPECT_EQ(claim(*store, run.rid, {1, 2}, 11'000)->claims.size(), 1u);
}

TEST_P(StoreConformance, BlockKeySkipsTheKeysOtherJobs) {
  auto store = open();
  auto run = make_run(*store, {}, {{"a"}, {"a"}, {"b"}, {"a"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0}, 1000);
  Update u = finished(c->claims[0], JobState::failed, 2000);
  u.block_key = true;
  u.error_type = "captcha";
  auto next = record_and_claim(*store, run.rid, {u}, {0}, 2000);
  ASSERT_TRUE(next.ok()) << why(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j3"}));
  EXPECT_EQ(next->moved[JobState::skipped], 2);
  EXPECT_EQ(job(*store, run.rid, "j4").reason, "key a blocked: job failed with captcha");
  EXPECT_EQ(job(*store, run.rid, "j1").error_type, "captcha");
}

TEST_P(StoreConformance, HaltStopsClaimsUntilItsTime) {
  auto store = open();
  auto other = open();
  auto run = held_run(*store, 3);
  auto c = claim(*store, run.rid, {0}, 1000);
  Update u = finished(c->claims[0], JobState::pending, 1500);
  u.uncounted = true;
  u.halt_until = 5000;
  u.halt_reason = "rate limit";
  auto halted = record_and_claim(*store, run.rid, {u}, {0, 1}, 1500);
  ASSERT_TRUE(halted.ok()) << why(halted);
  EXPECT_TRUE(halted->claims.empty());
  EXPECT_EQ(halted->halted_until, 5000);
  EXPECT_EQ(other->find_run(run.id)->state, core::RunState::halted);
  // Every connection is halted, not only the one that halted.
  auto elsewhere = claim(*other, run.rid, {5}, 4999);
  EXPECT_TRUE(elsewhere->claims.empty());
  EXPECT_EQ(elsewhere->halt_reason, "rate limit");
  auto resumed = claim(*other, run.rid, {0, 1, 2}, 5000);
  EXPECT_EQ(ids(*resumed), (std::vector<std::string>{"j1", "j2", "j3"}));
  EXPECT_EQ(resumed->claims[0].interrupts, 1);
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::running);
}

TEST_P(StoreConformance, ProcessesClaimingAtOnceKeepPerKeyConcurrency) {
  core::RunSettings s;
  s.limits.per_key = 1;
  std::vector<Spec> jobs;
  for (int i = 0; i < 40; ++i) {
    jobs.push_back({"k" + std::to_string(i % 4)});
  }
  RunRecord run;
  {
    auto store = open();
    run = make_run(*store, s, jobs);
    ASSERT_TRUE(take(*store, run.rid, 1).ok());
  }
  auto lines =
      in_processes(GetParam(), m_dir + "/store", 3, [&](Store& st, int me, int out) {
        std::vector<Update> done;
        for (int turn = 0; turn < 4000; ++turn) {
          auto c = record_and_claim(st, run.rid, done, {me * 2, me * 2 + 1}, 1000 + turn);
          if (!c) {
            return 3;
          }
          done.clear();
          for (const auto& cl : c->claims) {
            write_line(out, cl.id);
            // Any committed state must keep the limit, whoever claimed.
            auto use = st.key_usage(run.rid, cl.key, 0);
            if (!use) {
              return 3;
            }
            if (use->running > 1) {
              write_line(out,
                         "BROKEN " + cl.key + " running " + std::to_string(use->running));
              return 4;
            }
            // Held for a turn, so the claims of the processes overlap.
            done.push_back(finished(cl, JobState::succeeded, 1000 + turn));
          }
          auto n = st.counts(run.rid);
          if (!n) {
            return 3;
          }
          if ((*n)[JobState::succeeded] == 40) {
            return 0;
          }
          if (c->claims.empty() && done.empty()) {
            ::usleep(1000);
          }
        }
        return 5;
      });
  std::map<std::string, int> claimed;
  for (const auto& line : lines) {
    EXPECT_EQ(line.find("BROKEN"), std::string::npos) << line;
    ++claimed[line];
  }
  EXPECT_EQ(claimed.size(), 40u);
  for (const auto& [id, n] : claimed) {
    EXPECT_EQ(n, 1) << "job " << id;
  }
}

TEST_P(StoreConformance, ProcessesClaimingAtOnceKeepTheDailyCap) {
  core::RunSettings s;
  s.limits.per_key = 1;
  s.limits.per_key_daily = 3;
  s.limits.timezone = "UTC";
  std::vector<Spec> jobs;
  for (int i = 0; i < 60; ++i) {
    jobs.push_back({"k" + std::to_string(i % 4)});
  }
  RunRecord run;
  {
    auto store = open();
    run = make_run(*store, s, jobs);
    ASSERT_TRUE(take(*store, run.rid, 1).ok());
  }
  in_processes(GetParam(), m_dir + "/store", 3, [&](Store& st, int me, int) {
    std::vector<Update> done;
    for (int turn = 0; turn < 200; ++turn) {
      auto c = record_and_claim(st, run.rid, done, {me * 10, me * 10 + 1}, k_t0 + turn);
      if (!c) {
        return 3;
      }
      done.clear();
      for (const auto& cl : c->claims) {
        done.push_back(finished(cl, JobState::succeeded, k_t0 + turn));
      }
    }
    return record(st, run.rid, done, k_t0 + 200) ? 0 : 3;
  });
  auto store = open();
  std::map<std::string, int64_t> started;
  ASSERT_TRUE(
      store->each_job(run.rid, [&](const JobRecord& j) { started[j.key] += j.attempts; })
          .ok());
  ASSERT_EQ(started.size(), 4u);
  for (const auto& [key, n] : started) {
    EXPECT_EQ(n, 3) << "starts of key " << key << " in one day (cap 3)";
  }
  EXPECT_EQ(counts(*store, run.rid)[JobState::waiting], 48);
  EXPECT_EQ(counts(*store, run.rid)[JobState::running], 0);
}

// -- Locks ------------------------------------------------------------------

TEST_P(StoreConformance, RunLockRefusesASecondLiveRunAndNamesTheHolder) {
  auto store = open();
  core::RunSettings s;
  s.locks = {"src/app.py", "src/utils.py"};
  auto a = make_run(*store, s, {{}}, "Build frontend");
  ASSERT_TRUE(take(*store, a.rid, 100).ok());
  core::RunSettings s2;
  s2.locks = {"src/utils.py"};
  auto b = make_run(*store, s2, {{}});
  auto refused = take(*store, b.rid, 200, everybody_alive);
  ASSERT_TRUE(refused.ok()) << why(refused);
  ASSERT_TRUE(refused->lock_conflict.has_value());
  EXPECT_EQ(refused->lock_conflict->name, "src/utils.py");
  EXPECT_EQ(refused->lock_conflict->run_id, a.id);
  EXPECT_EQ(refused->lock_conflict->run_name, "Build frontend");
  EXPECT_EQ(refused->lock_conflict->holder.pid, 100);
  EXPECT_EQ(store->find_run(b.id)->holder.pid, 0) << "a refused takeover changed the run";
  auto conflict = store->lock_conflict({"src/app.py"}, b.rid, everybody_alive);
  ASSERT_TRUE(conflict.ok() && conflict->has_value()) << why(conflict);
  EXPECT_EQ((*conflict)->run_id, a.id);
  EXPECT_FALSE(store->lock_conflict({"src/app.py"}, a.rid, everybody_alive)->has_value())
      << "a run conflicts with its own lock";
}

TEST_P(StoreConformance, RunLockOfADeadHolderIsTakenAndReleased) {
  auto store = open();
  core::RunSettings s;
  s.locks = {"device"};
  auto a = make_run(*store, s, {{}});
  ASSERT_TRUE(take(*store, a.rid, 100).ok());
  auto b = make_run(*store, s, {{}});
  auto taken = take(*store, b.rid, 200, nobody_alive);
  ASSERT_TRUE(taken.ok()) << why(taken);
  EXPECT_FALSE(taken->lock_conflict.has_value());
  auto locks = store->locks();
  ASSERT_TRUE(locks.ok()) << why(locks);
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].run_id, b.id);
  ASSERT_TRUE(store->release(b.rid, core::RunState::completed).ok());
  EXPECT_TRUE(store->locks()->empty());
  EXPECT_EQ(store->find_run(b.id)->state, core::RunState::completed);
}

TEST_P(StoreConformance, JobLockHoldsBackAnotherRunsJobAndNamesTheHolder) {
  auto store = open();
  core::RunSettings s;
  s.job_lock = "{device}";
  auto a = make_run(*store, s, {{"", "dev1"}, {"", "dev2"}});
  ASSERT_TRUE(take(*store, a.rid, 1).ok());
  auto b = make_run(*store, s, {{"", "dev1"}});
  ASSERT_TRUE(take(*store, b.rid, 2).ok());
  auto ca = claim(*store, a.rid, {0, 1}, 1000);
  ASSERT_EQ(ids(*ca), (std::vector<std::string>{"j1", "j2"}));
  EXPECT_EQ(ca->claims[0].lock, "dev1");
  EXPECT_TRUE(claim(*store, b.rid, {0}, 1000)->claims.empty());
  auto waiting = job(*store, b.rid, "j1");
  EXPECT_EQ(waiting.state, JobState::waiting);
  EXPECT_NE(waiting.reason.find("lock dev1 held by run " + a.id + " job j1"),
            std::string::npos)
      << waiting.reason;
  auto locks = *store->locks();
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].name, "dev1");
  EXPECT_EQ(locks[0].job_id, "j1");
  ASSERT_TRUE(
      record(*store, a.rid, {finished(ca->claims[0], JobState::succeeded, 2000)}, 2000)
          .ok());
  EXPECT_EQ(ids(*claim(*store, b.rid, {0}, 2001)), (std::vector<std::string>{"j1"}));
}

// -- Agents, leases, takeover, fencing ---------------------------------------

TEST_P(StoreConformance, LiveHolderIsRefusedAndADeadOneTakenOver) {
  auto store = open();
  auto run = held_run(*store, 3); // held by agent 1
  ASSERT_EQ(claim(*store, run.rid, {0, 1}, 1000)->claims.size(), 2u);
  auto busy = take(*store, run.rid, 200, everybody_alive);
  ASSERT_TRUE(busy.ok()) << why(busy);
  ASSERT_TRUE(busy->held_by.has_value());
  EXPECT_EQ(busy->held_by->pid, 1);
  EXPECT_EQ(counts(*store, run.rid)[JobState::running], 2);
  auto taken = take(*store, run.rid, 200, nobody_alive);
  ASSERT_TRUE(taken.ok()) << why(taken);
  EXPECT_FALSE(taken->held_by.has_value());
  EXPECT_EQ(taken->orphans.size(), 2u);
  EXPECT_GT(taken->aid, 0);
  EXPECT_EQ(store->find_run(run.id)->holder.pid, 200);
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 3);
  auto again = claim(*store, run.rid, {0}, 2000);
  EXPECT_EQ(again->claims[0].id, "j1");
  EXPECT_EQ(again->claims[0].attempt, 2);
  EXPECT_EQ(again->claims[0].interrupts, 1);
}

TEST_P(StoreConformance, JoinAddsAnAgentBesideALiveHolder) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(4));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  EXPECT_FALSE(b->held_by.has_value());
  EXPECT_GT(b->aid, 0);
  EXPECT_NE(b->aid, a->aid);
  EXPECT_EQ(store->find_run(run.id)->holder.pid, 1)
      << "joining took the run from its holder";
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "running");
  EXPECT_EQ(agent_state(*store, run.rid, b->aid), "running");
  auto ca = claim(*store, run.rid, {0}, 1000, a->aid);
  auto cb = claim(*store, run.rid, {1}, 1000, b->aid);
  EXPECT_EQ(ids(*ca), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(ids(*cb), (std::vector<std::string>{"j2"}));
}

TEST_P(StoreConformance, AgentsOnOneHostNeverShareASlotNumber) {
  auto store = open();
  auto run = make_run(*store, {}, {{}});
  auto a = take(*store, run.rid, 1);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(a.ok() && b.ok());
  auto sa = store->take_slots(run.rid, a->aid, "h1", 2);
  auto sb = store->take_slots(run.rid, b->aid, "h1", 2);
  auto sc = store->take_slots(run.rid, b->aid, "h2", 1);
  ASSERT_TRUE(sa.ok() && sb.ok() && sc.ok()) << why(sa) << why(sb) << why(sc);
  EXPECT_EQ(*sa, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(*sb, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(*sc, (std::vector<int64_t>{0}));
  EXPECT_EQ(agent(*store, run.rid, b->aid)->slots, 3);
  // A stopped agent gives its numbers back.
  ASSERT_TRUE(store->stop_agent(a->aid, util::now_ms()).ok());
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "stopped");
  auto c = join(*store, run.rid, 3, everybody_alive);
  ASSERT_TRUE(c.ok()) << why(c);
  EXPECT_EQ(*store->take_slots(run.rid, c->aid, "h1", 2), (std::vector<int64_t>{0, 1}));
}

TEST_P(StoreConformance, HeartbeatRenewsLeasesAndNamesTheJobsStillHeld) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto c = claim(*store, run.rid, {0, 1}, util::now_ms(), a->aid);
  ASSERT_EQ(c->claims.size(), 2u);
  const int64_t now = util::now_ms();
  auto b = store->beat(run.rid, a->aid, 2.5, "[\"busy\",\"busy\"]", now, 6000);
  ASSERT_TRUE(b.ok()) << why(b);
  EXPECT_FALSE(b->offline);
  auto held = b->held;
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<int64_t>{c->claims[0].jid, c->claims[1].jid}));
  auto rec = agent(*store, run.rid, a->aid);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->who.heartbeat_at, now);
  EXPECT_EQ(rec->slot_states, "[\"busy\",\"busy\"]");
  EXPECT_DOUBLE_EQ(store->find_run(run.id)->rate, 2.5);
}

TEST_P(StoreConformance, ResultOfAnAgentThatLostItsLeaseIsIgnored) {
  auto sa = open();
  auto sb = open();
  auto run = make_run(*sa, {}, std::vector<Spec>(2));
  auto a = take(*sa, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto ca = claim(*sa, run.rid, {0}, util::now_ms(), a->aid);
  ASSERT_EQ(ids(*ca), (std::vector<std::string>{"j1"}));
  // Agent b joins while a lives, then finds a gone and takes its job.
  auto b = join(*sb, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  auto gone = sb->recover(
      run.rid, b->aid, [](const Holder& h) { return h.pid != 1; }, util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].id, "j1");
  EXPECT_EQ(agent_state(*sb, run.rid, a->aid), "offline");
  auto cb = claim(*sb, run.rid, {0}, util::now_ms(), b->aid);
  ASSERT_EQ(ids(*cb), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(cb->claims[0].attempt, 2);
  // a was only slow: its late result and pid must not touch b's attempt.
  auto stale = finished(ca->claims[0], JobState::failed, util::now_ms());
  ASSERT_TRUE(
      record(*sa, run.rid, {started(ca->claims[0], 111), stale}, util::now_ms(), a->aid)
          .ok());
  auto j1 = job(*sb, run.rid, "j1");
  EXPECT_EQ(j1.state, JobState::running) << "a fenced-off agent's result was applied";
  EXPECT_NE(j1.pgid, 111) << "a fenced-off agent's pid was applied";
  auto beat = sa->beat(run.rid, a->aid, 0, "[]", util::now_ms(), 6000);
  ASSERT_TRUE(beat.ok()) << why(beat);
  EXPECT_TRUE(beat->offline);
  EXPECT_TRUE(beat->held.empty());
  ASSERT_TRUE(record(*sb, run.rid,
                     {finished(cb->claims[0], JobState::succeeded, util::now_ms())},
                     util::now_ms(), b->aid)
                  .ok());
  EXPECT_EQ(job(*sa, run.rid, "j1").state, JobState::succeeded);
}

TEST_P(StoreConformance, RecoveryRequeuesTheJobsOfASilentAgent) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  ASSERT_EQ(claim(*store, run.rid, {0, 1}, util::now_ms(), a->aid)->claims.size(), 2u);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  // Within three heartbeat intervals nobody is gone.
  auto early = store->recover(run.rid, b->aid, everybody_alive, util::now_ms());
  ASSERT_TRUE(early.ok()) << why(early);
  EXPECT_TRUE(early->empty());
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "running");
  // Silent for longer (the default interval is 2 s): a is offline.
  auto late = store->recover(run.rid, b->aid, everybody_alive, util::now_ms() + 60'000);
  ASSERT_TRUE(late.ok()) << why(late);
  EXPECT_EQ(late->size(), 2u);
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "offline");
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 3);
  EXPECT_EQ(job(*store, run.rid, "j1").interrupts, 1);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, RecoveryUnderHoldKeepsJobsInterruptedUntilRetried) {
  auto store = open();
  core::RunSettings s;
  s.on_interrupt = core::OnInterrupt::hold;
  auto run = make_run(*store, s, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  ASSERT_EQ(claim(*store, run.rid, {0}, util::now_ms(), a->aid)->claims.size(), 1u);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  auto gone = store->recover(
      run.rid, b->aid, [](const Holder& h) { return h.pid != 1; }, util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  ASSERT_EQ(gone->size(), 1u);
  auto j1 = job(*store, run.rid, "j1");
  EXPECT_EQ(j1.state, JobState::interrupted);
  EXPECT_EQ(j1.error_type, "interrupted");
  // Never claimed again on its own: at most once.
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1, 2}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j2", "j3"}));
  RetrySelection sel;
  sel.interrupted = true;
  EXPECT_EQ(*store->retry(run.rid, sel), 1);
  EXPECT_EQ(ids(*claim(*store, run.rid, {3}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, TakeoverUnderHoldKeepsOrphansInterrupted) {
  auto store = open();
  core::RunSettings s;
  s.on_interrupt = core::OnInterrupt::hold;
  auto run = make_run(*store, s, std::vector<Spec>(2));
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  ASSERT_EQ(claim(*store, run.rid, {0}, 1)->claims.size(), 1u);
  auto t = take(*store, run.rid, 2, nobody_alive);
  ASSERT_TRUE(t.ok()) << why(t);
  ASSERT_EQ(t->orphans.size(), 1u);
  EXPECT_EQ(counts(*store, run.rid)[JobState::interrupted], 1);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1}, 2)), (std::vector<std::string>{"j2"}));
}

TEST_P(StoreConformance, TakeoverUnderRequeueRunsJobsADrainLeftInterrupted) {
  auto store = open();
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0}, 1000);
  ASSERT_EQ(c->claims.size(), 1u);
  // A drain stopped j1 and recorded it interrupted; the agent then exited.
  Update u = finished(c->claims[0], JobState::interrupted, 1500);
  u.outcome = core::Outcome::interrupted_by_stop();
  u.uncounted = true;
  ASSERT_TRUE(record(*store, run.rid, {u}, 1500).ok());
  ASSERT_TRUE(store->release(run.rid, core::RunState::paused).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::interrupted);
  auto t = take(*store, run.rid, 2);
  ASSERT_TRUE(t.ok()) << why(t);
  EXPECT_TRUE(t->orphans.empty());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::pending);
  auto again = claim(*store, run.rid, {0}, 2000);
  ASSERT_EQ(ids(*again), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(again->claims[0].interrupts, 1);
}

TEST_P(StoreConformance, RecoveryFreesTheGoneAgentsJobLocksAndSlots) {
  auto store = open();
  core::RunSettings s;
  s.job_lock = "{device}";
  auto a = make_run(*store, s, {{"", "dev1"}});
  auto b = make_run(*store, s, {{"", "dev1"}});
  auto ta = take(*store, a.rid, 1);
  ASSERT_TRUE(ta.ok()) << why(ta);
  ASSERT_EQ(*store->take_slots(a.rid, ta->aid, "h1", 1), (std::vector<int64_t>{0}));
  ASSERT_EQ(claim(*store, a.rid, {0}, util::now_ms(), ta->aid)->claims.size(), 1u);
  ASSERT_TRUE(take(*store, b.rid, 2).ok());
  EXPECT_TRUE(claim(*store, b.rid, {0}, util::now_ms())->claims.empty());
  EXPECT_EQ(job(*store, b.rid, "j1").state, JobState::waiting);
  // Agent 1 dies; agent 3 joins run a and recovers its job.
  auto tc = join(*store, a.rid, 3, everybody_alive);
  ASSERT_TRUE(tc.ok()) << why(tc);
  auto gone = store->recover(
      a.rid, tc->aid, [](const Holder& h) { return h.pid != 1; }, util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  EXPECT_EQ(gone->size(), 1u);
  for (const auto& l : *store->locks()) {
    EXPECT_NE(l.run_id, a.id) << "lock " << l.name << " still held by the recovered run";
  }
  EXPECT_EQ(*store->take_slots(a.rid, tc->aid, "h1", 1), (std::vector<int64_t>{0}))
      << "the gone agent's slot number was not given back";
  // The lock is free: run b's waiting job may take it (the sweep runs once a
  // second, so a second later at the latest).
  EXPECT_EQ(ids(*claim(*store, b.rid, {0}, util::now_ms() + 2000)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, ReleaseHandsTheRunToAnotherLiveAgent) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(2));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  ASSERT_TRUE(store->release(run.rid, core::RunState::completed).ok());
  auto after = store->find_run(run.id);
  ASSERT_TRUE(after.ok()) << why(after);
  EXPECT_EQ(after->holder.pid, 2) << "the live agent did not become the holder";
  EXPECT_EQ(after->state, core::RunState::running);
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "stopped");
  EXPECT_EQ(agent_state(*store, run.rid, b->aid), "running");
  // The last agent's release ends the run.
  ASSERT_TRUE(store->release(run.rid, core::RunState::completed).ok());
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::completed);
}

TEST_P(StoreConformance, FullDurabilityKeepsEveryOperationWorking) {
  auto store = open();
  ASSERT_TRUE(store->set_durability(Durability::full).ok());
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_EQ(c->claims.size(), 2u);
  ASSERT_TRUE(
      record(*store, run.rid, {finished(c->claims[0], JobState::succeeded, 2000)}, 2000)
          .ok());
  auto other = open();
  EXPECT_EQ(job(*other, run.rid, "j1").state, JobState::succeeded);
  ASSERT_TRUE(store->set_durability(Durability::normal).ok());
}

// -- Control, events, adding, cancelling, deleting ----------------------------

TEST_P(StoreConformance, ControlRequestIsSetKeptAndCleared) {
  auto store = open();
  auto other = open();
  auto run = held_run(*store, 1);
  EXPECT_EQ(control_request(*store, run.rid), "");
  ASSERT_TRUE(request(*other, run.rid, "pause", std::nullopt, false, "pause", 1000).ok());
  EXPECT_EQ(control_request(*store, run.rid), "pause");
  ASSERT_TRUE(request(*other, run.rid, std::nullopt, 4, false, "scale", 1001).ok());
  EXPECT_EQ(control_request(*store, run.rid), "pause")
      << "a scale request dropped the pause";
  EXPECT_EQ(store->control(run.rid)->target_slots, 4);
  ASSERT_TRUE(request(*other, run.rid, "", std::nullopt, false, "resume", 1002).ok());
  EXPECT_EQ(control_request(*store, run.rid), "");
  EXPECT_EQ(store->control(run.rid)->target_slots, 4);
}

TEST_P(StoreConformance, ControlActionsAreRecordedAsEvents) {
  auto store = open();
  auto run = held_run(*store, 1);
  ASSERT_TRUE(
      request(*store, run.rid, "cancel", std::nullopt, false, "cancel", 1000).ok());
  Event e{2000, "h2", "bob", 99, "add", "3 jobs"};
  ASSERT_TRUE(store->add_event(run.rid, e).ok());
  auto events = store->events(run.rid);
  ASSERT_TRUE(events.ok()) << why(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].action, "cancel");
  EXPECT_EQ((*events)[0].at, 1000);
  EXPECT_EQ((*events)[0].user, "tester");
  EXPECT_EQ((*events)[1].action, "add");
  EXPECT_EQ((*events)[1].host, "h2");
  EXPECT_EQ((*events)[1].pid, 99);
  EXPECT_EQ((*events)[1].detail, "3 jobs");
}

TEST_P(StoreConformance, LiftingAHaltLetsClaimsResumeAtOnce) {
  auto store = open();
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0}, 1000);
  Update u = finished(c->claims[0], JobState::pending, 1500);
  u.uncounted = true;
  u.halt_until = 1'000'000;
  u.halt_reason = "rate limit";
  ASSERT_TRUE(record(*store, run.rid, {u}, 1500).ok());
  EXPECT_EQ(store->control(run.rid)->resume_at, 1'000'000);
  EXPECT_TRUE(claim(*store, run.rid, {0}, 2000)->claims.empty());
  ASSERT_TRUE(
      request(*store, run.rid, std::nullopt, std::nullopt, true, "resume", 2000).ok());
  EXPECT_EQ(store->control(run.rid)->resume_at, 0);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1}, 2001)),
            (std::vector<std::string>{"j1", "j2"}));
}

TEST_P(StoreConformance, AddJobsAppendsAfterTheLastAndRaisesTheGeneration) {
  auto store = open();
  auto run = held_run(*store, 2);
  const int64_t before = store->control(run.rid)->generation;
  auto added = add_jobs(*store, run.rid, {"x", "y"});
  ASSERT_TRUE(added.ok()) << why(added);
  EXPECT_EQ(*added, 2);
  EXPECT_EQ(job(*store, run.rid, "x").seq, 3);
  EXPECT_EQ(job(*store, run.rid, "y").seq, 4);
  EXPECT_EQ(store->find_run(run.id)->total, 4);
  EXPECT_GT(store->control(run.rid)->generation, before);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1, 2, 3}, 1)),
            (std::vector<std::string>{"j1", "j2", "x", "y"}));
}

TEST_P(StoreConformance, AddJobsWithADuplicateIdAddsNothing) {
  auto store = open();
  auto run = held_run(*store, 2);
  auto added = add_jobs(*store, run.rid, {"z", "j1"});
  ASSERT_FALSE(added.ok());
  EXPECT_NE(added.error().message.find("j1"), std::string::npos) << added.error().message;
  EXPECT_EQ(counts(*store, run.rid).total(), 2);
  EXPECT_EQ(store->find_run(run.id)->total, 2);
}

TEST_P(StoreConformance, AddJobsReopensAnEndedRun) {
  auto store = open();
  auto run = held_run(*store, 1);
  ASSERT_TRUE(store->set_run_state(run.rid, core::RunState::completed).ok());
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::completed);
  ASSERT_TRUE(add_jobs(*store, run.rid, {"late"}).ok());
  EXPECT_NE(store->find_run(run.id)->state, core::RunState::completed);
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 2);
}

TEST_P(StoreConformance, CancelRestCancelsOnlyJobsThatHaveNotStarted) {
  core::RunSettings s;
  s.max_attempts = 3;
  auto store = open();
  auto run = held_run(*store, 5, s);
  auto c = claim(*store, run.rid, {0, 1, 2}, 1000);
  ASSERT_EQ(c->claims.size(), 3u);
  ASSERT_TRUE(record(*store, run.rid,
                     {retrying(c->claims[1], 2000, 9000),
                      finished(c->claims[2], JobState::succeeded, 2000)},
                     2000)
                  .ok());
  auto moved = store->cancel_rest(run.rid, 3000);
  ASSERT_TRUE(moved.ok()) << why(moved);
  EXPECT_EQ(*moved, 3); // j2 (retrying), j4, j5
  EXPECT_EQ(ids_in(*store, run.rid, JobState::cancelled),
            (std::vector<std::string>{"j2", "j4", "j5"}));
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::running);
  EXPECT_EQ(job(*store, run.rid, "j3").state, JobState::succeeded);
  EXPECT_TRUE(claim(*store, run.rid, {0}, 10'000)->claims.empty());
}

TEST_P(StoreConformance, DeleteRunRemovesEverythingRecordedAboutIt) {
  auto store = open();
  core::RunSettings s;
  s.locks = {"gone-lock"};
  s.job_lock = "{device}";
  auto a = make_run(*store, s, {{"", "dev"}, {}}, "doomed");
  auto b = make_run(*store, {}, {{}}, "kept");
  auto t = take(*store, a.rid, 1);
  ASSERT_TRUE(t.ok()) << why(t);
  ASSERT_TRUE(store->take_slots(a.rid, t->aid, "h", 1).ok());
  ASSERT_EQ(claim(*store, a.rid, {0}, 1000, t->aid)->claims.size(), 1u);
  ASSERT_TRUE(request(*store, a.rid, "pause", std::nullopt, false, "pause", 1000).ok());
  ASSERT_TRUE(store->delete_run(a.rid).ok());
  EXPECT_FALSE(store->find_run("doomed").ok());
  EXPECT_TRUE(store->locks()->empty()) << "the deleted run's locks are still held";
  EXPECT_TRUE(store->agents(a.rid)->empty());
  EXPECT_TRUE(store->events(a.rid)->empty());
  EXPECT_EQ(counts(*store, a.rid).total(), 0);
  EXPECT_EQ(store->find_run("kept")->id, b.id);
  EXPECT_EQ(counts(*store, b.rid)[JobState::pending], 1);
  // The name is free again.
  make_run(*store, {}, {{}}, "doomed");
}

// -- Migrations (a backend capability) ----------------------------------------

TEST_P(StoreConformance, UpgradesFromEveryEarlierSchemaVersionAndKeepsData) {
  const Backend& b = GetParam();
  if (!b.make_at_version) {
    GTEST_SKIP() << b.name << " has no earlier schema versions to migrate from";
  }
  ASSERT_GT(b.newest_version, 1);
  for (int v = 1; v < b.newest_version; ++v) {
    SCOPED_TRACE("from schema version " + std::to_string(v));
    const std::string dir = m_dir + "/v" + std::to_string(v);
    auto made = b.make_at_version(dir, v);
    ASSERT_TRUE(made.ok()) << why(made);
    auto opened = b.open(dir);
    ASSERT_TRUE(opened.ok()) << why(opened);
    Store& store = **opened;
    auto run = store.find_run("old123");
    ASSERT_TRUE(run.ok()) << why(run);
    EXPECT_EQ(run->settings.command, (std::vector<std::string>{"echo", "{}"}));
    EXPECT_EQ(counts(store, run->rid)[JobState::pending], 1);
    EXPECT_EQ(counts(store, run->rid)[JobState::succeeded], 1);
    // Everything later versions added works on the upgraded data.
    auto t = take(store, run->rid, 1);
    ASSERT_TRUE(t.ok()) << why(t);
    auto c = claim(store, run->rid, {0}, util::now_ms(), t->aid);
    ASSERT_TRUE(c.ok()) << why(c);
    ASSERT_EQ(ids(*c), (std::vector<std::string>{"1"}));
    EXPECT_EQ(c->claims[0].attempt, 1);
    EXPECT_EQ(c->claims[0].interrupts, 0);
    auto beat = store.beat(run->rid, t->aid, 1, "[]", util::now_ms(), 6000);
    ASSERT_TRUE(beat.ok()) << why(beat);
    EXPECT_EQ(beat->held.size(), 1u);
    ASSERT_TRUE(request(store, run->rid, "pause", std::nullopt, false, "pause", 1).ok());
    ASSERT_TRUE(record(store, run->rid, {finished(c->claims[0], JobState::succeeded, 2)},
                       util::now_ms(), t->aid)
                    .ok());
    EXPECT_EQ(counts(store, run->rid)[JobState::succeeded], 2);
    ASSERT_TRUE(add_jobs(store, run->rid, {"new"}).ok());
    EXPECT_EQ(job(store, run->rid, "new").seq, 3);
  }
}

TEST_P(StoreConformance, RefusesASchemaANewerVersionWrote) {
  const Backend& b = GetParam();
  if (!b.make_at_version) {
    GTEST_SKIP() << b.name << " has no schema versions";
  }
  const std::string dir = m_dir + "/newer";
  ASSERT_TRUE(b.make_at_version(dir, b.newest_version + 90).ok());
  auto opened = b.open(dir);
  ASSERT_FALSE(opened.ok()) << "a store from a newer muster was opened";
  EXPECT_NE(opened.error().message.find("newer muster"), std::string::npos)
      << opened.error().message;
}

// -- Backends -----------------------------------------------------------------

// SQLite only: builds a store file at an earlier schema version by running
// the first `version` migrations, then writes run "old123" in the columns of
// version 1 (every later version keeps them).
util::Result<void> sqlite_at_version(const std::string& dir, int version) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto db = sqlite::Db::open(dir + "/muster.db");
  if (!db) {
    return db.error();
  }
  const auto& steps = sqlite::migrations();
  if (version > static_cast<int>(steps.size())) {
    return db->exec("PRAGMA user_version = " + std::to_string(version));
  }
  for (int v = 0; v < version; ++v) {
    if (auto r = db->exec(steps[static_cast<size_t>(v)]); !r) {
      return r;
    }
  }
  core::RunSettings s;
  s.command = {"echo", "{}"};
  return db->exec(
      "PRAGMA user_version = " + std::to_string(version) +
      "; INSERT INTO runs (id, state, settings, columns, total, created_at, "
      "updated_at) VALUES ('old123', 'paused', '" +
      encode_settings(s) +
      "', '[]', 2, 1, 1); INSERT INTO jobs (rid, seq, id, fields, state, "
      "attempts, max_attempts) VALUES (1, 1, '1', '[\"a\"]', 'pending', 0, 1), "
      "(1, 2, '2', '[\"b\"]', 'succeeded', 1, 1);");
}

Backend sqlite_backend() {
  Backend b;
  b.name = "sqlite";
  b.open = [](const std::string& dir) { return store::open(dir, Create::yes); };
  b.make_at_version = sqlite_at_version;
  b.newest_version = sqlite::current_schema_version();
  return b;
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values(sqlite_backend()),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

} // namespace
} // namespace muster::store::conformance

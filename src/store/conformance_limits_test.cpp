// StoreConformance: retries, limits and locks.

#include "store/conformance_support.hpp"
#include "store/open.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace muster::store::conformance {
namespace {

// -- Retries ----------------------------------------------------------------

TEST_P(StoreConformance, RetryingJobIsNotClaimedBeforeItsRetryAt) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 1, {0}, 3);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(record(*store, run.rid, {retrying(c[0], 2000, 5000)}, 2000).ok());
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
  auto store = open();
  auto [run, c] = claimed_run(*store, 3, {0, 1}, 3);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(*store->next_retry_at(run.rid), 0);
  ASSERT_TRUE(record(*store, run.rid,
                     {retrying(c[0], 2000, 9000), retrying(c[1], 2000, 7000)}, 2000)
                  .ok());
  EXPECT_EQ(*store->next_retry_at(run.rid), 7000);
  // At 7000 the due retry and the pending job are claimed, the other retry not.
  auto due = ids(*claim(*store, run.rid, {0, 1, 2}, 7000));
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, (std::vector<std::string>{"j2", "j3"}));
  EXPECT_EQ(*store->next_retry_at(run.rid), 9000);
}

TEST_P(StoreConformance, RetryGivesFailedJobsAFreshSetOfAttempts) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 3, {0, 1, 2}, 2);
  ASSERT_EQ(c.size(), 3u);
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(c[0], JobState::failed, 2000),
                      finished(c[1], JobState::succeeded, 2000),
                      finished(c[2], JobState::failed, 2000)},
                     2000)
                  .ok());
  RetrySelection sel;
  sel.failed = true;
  auto moved = store->retry(run.rid, sel, counted("retry", "job(s)"));
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
  auto [run, c] = claimed_run(*store, 2, {0, 1});
  ASSERT_EQ(c.size(), 2u);
  ASSERT_TRUE(
      record(*store, run.rid, {finished(c[0], JobState::succeeded, 2000)}, 2000).ok());
  RetrySelection sel;
  sel.job_id = "j1";
  auto done = store->retry(run.rid, sel, counted("retry", "job(s)"));
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.error().message.find("never runs again"), std::string::npos)
      << done.error().message;
  sel.job_id = "j2";
  auto running = store->retry(run.rid, sel, counted("retry", "job(s)"));
  ASSERT_FALSE(running.ok());
  EXPECT_NE(running.error().message.find("running"), std::string::npos)
      << running.error().message;
  sel.job_id = "j9";
  auto unknown = store->retry(run.rid, sel, counted("retry", "job(s)"));
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
  EXPECT_EQ(first->moved[JobState::pending], -2);
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

TEST_P(StoreConformance, JobsHeldAsBusySayDailyCapOnceTheCapHoldsTheKey) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key = 1;
  s.limits.per_key_daily = 2;
  s.limits.timezone = "Europe/Berlin";
  auto run = make_run(*store, s, {{"a"}, {"a"}, {"a"}, {"a"}, {"a"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0, 1}, k_t0);
  ASSERT_TRUE(c.ok()) << why(c);
  ASSERT_EQ(ids(*c), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(job(*store, run.rid, "j5").reason.rfind("key a busy: 1/1 running", 0), 0u);
  // j1 ends and j2 starts: the second of the day's two.
  auto second = record_and_claim(*store, run.rid,
                                 {finished(c->claims[0], JobState::succeeded, k_t0 + 10)},
                                 {0}, k_t0 + 10);
  ASSERT_TRUE(second.ok()) << why(second);
  ASSERT_EQ(ids(*second), (std::vector<std::string>{"j2"}));
  // j2 ends: the one it lets try meets the cap, and so does every other.
  auto none = record_and_claim(
      *store, run.rid, {finished(second->claims[0], JobState::succeeded, k_t0 + 20)}, {0},
      k_t0 + 20);
  ASSERT_TRUE(none.ok()) << why(none);
  EXPECT_TRUE(none->claims.empty());
  for (const char* id : {"j3", "j4", "j5"}) {
    const auto j = job(*store, run.rid, id);
    EXPECT_EQ(j.state, JobState::waiting) << id;
    EXPECT_EQ(j.reason, "key a at daily cap 2/2 until 2026-11-24 00:00 Europe/Berlin")
        << id;
  }
  // At midnight they wake, one at a time as the key allows.
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1}, k_t0 + 120'000)),
            (std::vector<std::string>{"j3"}));
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
  // Finishing gives no start back: the cap counts attempts.
  auto again = record_and_claim(
      *store, run.rid, {finished(c->claims[0], JobState::succeeded, k_t0 + 1000)}, {0},
      k_t0 + 1000);
  ASSERT_TRUE(again.ok()) << why(again);
  EXPECT_TRUE(again->claims.empty());
  EXPECT_TRUE(claim(*store, run.rid, {0}, k_t0 + 119'999)->claims.empty());
  EXPECT_EQ(ids(*claim(*store, run.rid, {0}, k_t0 + 120'000)),
            (std::vector<std::string>{"j3"}));
  // Berlin's new day began at k_t0 + 120'000: one start of key a in it so
  // far, and j2 and j3 running.
  auto use = store->key_usage(run.rid, "a", core::LimitScope::run, k_t0 + 120'000);
  ASSERT_TRUE(use.ok()) << why(use);
  EXPECT_EQ(use->counted, 1);
  EXPECT_EQ(use->running, 2);
}

TEST_P(StoreConformance, StoreScopedLimitsCountEveryRunsJobsOfTheKey) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key = 1;
  s.limits.per_key_daily = 3;
  s.limits.timezone = "UTC";
  s.limits.scope = core::LimitScope::store;
  core::RunSettings own = s;
  own.limits.scope = core::LimitScope::run;
  auto a = make_run(*store, s, {{"acct"}, {"acct"}});
  auto b = make_run(*store, s, {{"acct"}, {"acct"}});
  auto c = make_run(*store, own, {{"acct"}});
  ASSERT_TRUE(take(*store, a.rid, 1).ok());
  ASSERT_TRUE(take(*store, b.rid, 2).ok());
  ASSERT_TRUE(take(*store, c.rid, 3).ok());
  auto ca = claim(*store, a.rid, {0, 1}, k_t0);
  ASSERT_EQ(ids(*ca), std::vector<std::string>{"j1"});
  // b's job waits for a's: the key runs once in the whole store.
  EXPECT_TRUE(claim(*store, b.rid, {0}, k_t0)->claims.empty());
  auto waiting = job(*store, b.rid, "j1");
  EXPECT_EQ(waiting.state, JobState::waiting);
  EXPECT_EQ(waiting.reason, "key acct busy: 1/1 running in the store");
  // c counts its own jobs only (the default), so it runs; a store-scoped run
  // counts c's job too.
  auto cc = claim(*store, c.rid, {0}, k_t0);
  ASSERT_EQ(ids(*cc), std::vector<std::string>{"j1"});
  auto use = store->key_usage(b.rid, "acct", core::LimitScope::store, k_t0);
  ASSERT_TRUE(use.ok()) << why(use);
  EXPECT_EQ(use->running, 2);
  EXPECT_EQ(store->key_usage(b.rid, "acct", core::LimitScope::run, k_t0)->running, 0);
  // a's job ends: the first waiter of another store-scoped run wakes (a's own
  // next job wakes too; whoever claims first gets the key).
  ASSERT_TRUE(record(*store, a.rid,
                     {finished(ca->claims[0], JobState::succeeded, k_t0 + 1)}, k_t0 + 1)
                  .ok());
  ASSERT_TRUE(record(*store, c.rid,
                     {finished(cc->claims[0], JobState::succeeded, k_t0 + 1)}, k_t0 + 1)
                  .ok());
  EXPECT_EQ(job(*store, b.rid, "j1").state, JobState::pending);
  auto cb = claim(*store, b.rid, {0}, k_t0 + 2);
  ASSERT_EQ(ids(*cb), std::vector<std::string>{"j1"});
  ASSERT_TRUE(record(*store, b.rid,
                     {finished(cb->claims[0], JobState::succeeded, k_t0 + 3)}, k_t0 + 3)
                  .ok());
  // Three starts of acct in the store today (a, b and c): the cap of 3 holds
  // a's second job until the next window.
  EXPECT_TRUE(claim(*store, a.rid, {0}, k_t0 + 4)->claims.empty());
  EXPECT_EQ(
      job(*store, a.rid, "j2").reason.rfind("key acct at daily cap 3/3 in the store", 0),
      0u)
      << job(*store, a.rid, "j2").reason;
}

TEST_P(StoreConformance, DailyCapOfSuccessesCountsRunningAndGivesFailuresBack) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key_daily = 1;
  s.limits.count = core::CapCount::successes;
  s.limits.timezone = "UTC";
  auto run = make_run(*store, s, {{"a"}, {"a"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_TRUE(c.ok()) << why(c);
  // The running j1 may yet succeed, so it counts against the cap.
  ASSERT_EQ(ids(*c), (std::vector<std::string>{"j1"}));
  // j1 fails: its place goes to j2.
  auto next = record_and_claim(
      *store, run.rid, {finished(c->claims[0], JobState::failed, 2000)}, {0}, 2000);
  ASSERT_TRUE(next.ok()) << why(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j2"}));
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
  auto use = store->key_usage(run.rid, "a", core::LimitScope::run, midnight_before);
  ASSERT_TRUE(use.ok()) << why(use);
  EXPECT_EQ(use->running, 1);
  EXPECT_EQ(use->counted, 2);
  auto next_day =
      store->key_usage(run.rid, "a", core::LimitScope::run, midnight_before + 86'400'000);
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
  EXPECT_EQ(ids_in(*store, run.rid, JobState::skipped),
            (std::vector<std::string>{"j2", "j4"}));
  EXPECT_EQ(job(*store, run.rid, "j4").reason, "key a blocked: job failed with captcha");
  EXPECT_EQ(job(*store, run.rid, "j1").error_type, "captcha");
}

TEST_P(StoreConformance, HaltStopsClaimsUntilItsTime) {
  auto store = open();
  auto other = open();
  auto [run, c] = claimed_run(*store, 3, {0});
  ASSERT_EQ(c.size(), 1u);
  auto halted = record_and_claim(*store, run.rid,
                                 {halting(c[0], 1500, 5000, "rate limit")}, {0, 1}, 1500);
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
  EXPECT_EQ(resumed->claims[0].attempt, 2);
  EXPECT_EQ(resumed->claims[0].interrupts, 1) << "the halted attempt counted";
  EXPECT_EQ(resumed->claims[0].halts, 1) << "as a halt";
  EXPECT_EQ(resumed->claims[1].halts, 0);
  EXPECT_EQ(job(*store, run.rid, "j1").halts, 1);
  auto after = store->find_run(run.id);
  ASSERT_TRUE(after.ok()) << why(after);
  EXPECT_EQ(after->state, core::RunState::running);
  EXPECT_EQ(after->resume_at, 0);
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
            auto use = st.key_usage(run.rid, cl.key, core::LimitScope::run, 0);
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
  s.locks = {"device", "spare"};
  auto a = make_run(*store, s, {{}});
  ASSERT_TRUE(take(*store, a.rid, 100).ok());
  core::RunSettings s2;
  s2.locks = {"device"};
  auto b = make_run(*store, s2, {{}});
  // a's holder is dead: all its locks are freed, not only the one b wants.
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
  s.job_locks = {"{device}"};
  auto a = make_run(*store, s, {{"", "dev1"}, {"", "dev2"}});
  ASSERT_TRUE(take(*store, a.rid, 1).ok());
  auto b = make_run(*store, s, {{"", "dev1"}});
  ASSERT_TRUE(take(*store, b.rid, 2).ok());
  auto ca = claim(*store, a.rid, {0, 1}, 1000);
  ASSERT_EQ(ids(*ca), (std::vector<std::string>{"j1", "j2"}));
  EXPECT_EQ(ca->claims[0].locks, std::vector<std::string>{"dev1"});
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

// -- Locks taken at run time (`muster lock`) ----------------------------------

LockRequest lock_request(std::vector<std::string> names, const std::string& owner,
                         int64_t expires_at = 0, Holder process = {}) {
  return LockRequest{std::move(names), owner, std::move(process), expires_at};
}

TEST_P(StoreConformance, TakeLocksIsAllOrNoneAndNamesTheHolder) {
  auto store = open();
  const int64_t now = util::now_ms();
  auto took = store->take_locks(lock_request({"src/a.py", "src/b.py"}, "s1"), now,
                                everybody_alive);
  ASSERT_TRUE(took.ok() && !took->has_value()) << why(took);
  auto refused = store->take_locks(lock_request({"src/c.py", "src/b.py"}, "s2"), now,
                                   everybody_alive);
  ASSERT_TRUE(refused.ok()) << why(refused);
  ASSERT_TRUE(refused->has_value()) << "s2 took a lock s1 holds";
  EXPECT_EQ((*refused)->name, "src/b.py");
  EXPECT_EQ((*refused)->owner, "s1");
  EXPECT_EQ(core::describe_lock({"src/b.py", "", "", "", (*refused)->since, "s1", 0})
                .rfind("lock src/b.py held by s1 since", 0),
            0u);
  auto locks = store->locks();
  ASSERT_TRUE(locks.ok()) << why(locks);
  ASSERT_EQ(locks->size(), 2u) << "src/c.py was taken although src/b.py was not";
  EXPECT_EQ((*locks)[0].owner, "s1");
  EXPECT_EQ((*locks)[0].rid, 0);
  // Taking again renews: the owner's own locks never conflict.
  auto renewed = store->take_locks(lock_request({"src/a.py"}, "s1", now + 60'000), now,
                                   everybody_alive);
  ASSERT_TRUE(renewed.ok() && !renewed->has_value()) << why(renewed);
  EXPECT_EQ((*store->locks())[0].expires_at, now + 60'000);
  // A run that needs the name is refused, naming the holder.
  core::RunSettings s;
  s.locks = {"src/a.py"};
  auto run = make_run(*store, s, {{}});
  auto t = take(*store, run.rid, 100, everybody_alive);
  ASSERT_TRUE(t.ok()) << why(t);
  ASSERT_TRUE(t->lock_conflict.has_value());
  EXPECT_EQ(t->lock_conflict->owner, "s1");
  // And a lock a live run holds is refused to a holder.
  core::RunSettings s2;
  s2.locks = {"device"};
  auto r2 = make_run(*store, s2, {{}});
  ASSERT_TRUE(take(*store, r2.rid, 200, everybody_alive).ok());
  auto busy = store->take_locks(lock_request({"device"}, "s3"), now, everybody_alive);
  ASSERT_TRUE(busy.ok() && busy->has_value()) << why(busy);
  EXPECT_EQ((*busy)->run_id, r2.id);
}

TEST_P(StoreConformance, DropLocksFreesOnlyTheOwnersAndWakesTheFirstWaiter) {
  auto store = open();
  const int64_t now = util::now_ms();
  ASSERT_TRUE(
      store->take_locks(lock_request({"dev1", "dev2"}, "s1"), now, everybody_alive).ok());
  core::RunSettings s;
  s.job_locks = {"{device}"};
  auto run = make_run(*store, s, {{"", "dev1"}, {"", "dev1"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  EXPECT_TRUE(claim(*store, run.rid, {0, 1}, now)->claims.empty());
  auto waiting = job(*store, run.rid, "j1");
  EXPECT_EQ(waiting.state, JobState::waiting);
  EXPECT_NE(waiting.reason.find("lock dev1 held by s1"), std::string::npos)
      << waiting.reason;
  auto other = store->drop_locks({"dev1"}, "s2", now);
  ASSERT_TRUE(other.ok()) << why(other);
  ASSERT_TRUE(other->other.has_value()) << "s2 freed a lock of s1";
  EXPECT_EQ(other->other->owner, "s1");
  EXPECT_EQ(store->locks()->size(), 2u);
  auto freed = store->drop_locks({"dev1"}, "s1", now);
  ASSERT_TRUE(freed.ok()) << why(freed);
  EXPECT_EQ(freed->freed, std::vector<std::string>{"dev1"});
  // The first waiter wakes; the second waits for the first to finish.
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::pending);
  EXPECT_EQ(job(*store, run.rid, "j2").state, JobState::waiting);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0}, now + 1)), std::vector<std::string>{"j1"});
  // Without names, all the owner holds.
  auto rest = store->drop_locks({}, "s1", now);
  ASSERT_TRUE(rest.ok()) << why(rest);
  EXPECT_EQ(rest->freed, std::vector<std::string>{"dev2"});
  ASSERT_EQ(store->locks()->size(), 1u);
  EXPECT_EQ((*store->locks())[0].job_id, "j1");
}

TEST_P(StoreConformance, ExpiredLocksAndLocksOfGoneProcessesAreFree) {
  auto store = open();
  const int64_t now = util::now_ms();
  ASSERT_TRUE(
      store->take_locks(lock_request({"ttl"}, "s1", now + 500), now, everybody_alive)
          .ok());
  ASSERT_TRUE(
      store->take_locks(lock_request({"pid"}, "s1", 0, holder(77)), now, everybody_alive)
          .ok());
  auto early = store->take_locks(lock_request({"ttl"}, "s2"), now + 499, everybody_alive);
  ASSERT_TRUE(early.ok() && early->has_value()) << "taken before its expiry";
  auto late = store->take_locks(lock_request({"ttl"}, "s2"), now + 500, everybody_alive);
  ASSERT_TRUE(late.ok() && !late->has_value()) << why(late);
  EXPECT_EQ(store->lock_conflict({"pid"}, 0, everybody_alive)->value().owner, "s1");
  // Its process died: the lock is free, and the sweep of an agent frees it.
  core::RunSettings s;
  s.job_locks = {"{device}"};
  auto run = make_run(*store, s, {{"", "pid"}});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  EXPECT_TRUE(claim(*store, run.rid, {0}, now)->claims.empty());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::waiting);
  ASSERT_TRUE(store->free_gone_locks(now, alive_except(77)).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::pending);
  auto locks = store->locks();
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].owner, "s2");
}

TEST_P(StoreConformance, AJobWithSeveralLocksTakesAllOrNone) {
  auto store = open();
  const int64_t now = util::now_ms();
  ASSERT_TRUE(store->take_locks(lock_request({"acct"}, "s1"), now, everybody_alive).ok());
  core::RunSettings s;
  s.job_locks = {"{device}", "{account}"};
  auto run = make_run(
      *store, s, {Spec("", std::vector<std::string>{"dev1", "acct"}), Spec("", "dev1")});
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  // j1 waits for acct and takes nothing; j2 may take dev1.
  auto first = claim(*store, run.rid, {0, 1}, now);
  ASSERT_EQ(ids(*first), std::vector<std::string>{"j2"});
  auto waiting = job(*store, run.rid, "j1");
  EXPECT_EQ(waiting.state, JobState::waiting);
  EXPECT_NE(waiting.reason.find("lock acct held by s1"), std::string::npos)
      << waiting.reason;
  EXPECT_EQ(waiting.locks, (std::vector<std::string>{"dev1", "acct"}));
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(first->claims[0], JobState::succeeded, now + 1)}, now + 1)
                  .ok());
  // Freeing acct wakes j1, which takes both.
  ASSERT_TRUE(store->drop_locks({"acct"}, "s1", now + 2).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::pending);
  auto second = claim(*store, run.rid, {0}, now + 3);
  ASSERT_EQ(ids(*second), std::vector<std::string>{"j1"});
  auto locks = *store->locks();
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].name, "acct");
  EXPECT_EQ(locks[0].job_id, "j1");
  EXPECT_EQ(locks[1].name, "dev1");
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(second->claims[0], JobState::succeeded, now + 4)}, now + 4)
                  .ok());
  EXPECT_TRUE(store->locks()->empty()) << "a finished job kept a lock";
}

} // namespace
} // namespace muster::store::conformance

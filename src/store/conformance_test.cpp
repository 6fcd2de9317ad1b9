// StoreConformance: what store.hpp promises, held for every backend through
// the Store interface alone. A backend joins by adding a Backend to the
// instantiation at the end of this file.
// The tests are split by area over conformance_*_test.cpp.

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

TEST_P(StoreConformance, ManyRowsAreInsertedInOrderAndADuplicateAmongThemIsNamed) {
  // Rows go in by batches (PostgreSQL: COPYs of 4096): every row of a full
  // batch and of the rest keeps its order and its bytes, and a duplicate in
  // any batch is the row named, with nothing of the run left.
  auto store = open();
  constexpr int k_rows = 10'000;
  const std::string odd = "tab\there back\\slash\nnew line\r\\N end";
  for (const int dup : {-1, 300, 5000, 9999}) {
    RunRecord run;
    run.settings.command = {"true"};
    int i = 0;
    auto r = store->create_run(run, [&](NewJob& job) -> util::Result<bool> {
      if (i == k_rows) {
        return false;
      }
      job.id = i == dup ? "j7" : "j" + std::to_string(i);
      job.fields = "[\"" + std::to_string(i) + "\"]";
      job.where = "in.csv:" + std::to_string(i + 2);
      job.raw = i % 3 == 0 ? odd : "";
      job.key = i % 5 == 0 ? "k\t" + std::to_string(i % 2) : "";
      ++i;
      return true;
    });
    if (dup < 0) {
      ASSERT_TRUE(r.ok()) << why(r);
      auto jobs = store->jobs(run.rid, {});
      ASSERT_TRUE(jobs.ok()) << why(jobs);
      ASSERT_EQ(jobs->size(), static_cast<size_t>(k_rows));
      for (int j = 0; j < k_rows; ++j) {
        ASSERT_EQ((*jobs)[static_cast<size_t>(j)].id, "j" + std::to_string(j));
        ASSERT_EQ((*jobs)[static_cast<size_t>(j)].seq, j + 1);
        ASSERT_EQ((*jobs)[static_cast<size_t>(j)].raw, j % 3 == 0 ? odd : "") << j;
        ASSERT_EQ((*jobs)[static_cast<size_t>(j)].key,
                  j % 5 == 0 ? "k\t" + std::to_string(j % 2) : "")
            << j;
      }
      continue;
    }
    ASSERT_FALSE(r.ok()) << "duplicate at row " << dup << " was taken";
    const std::string named =
        "in.csv:" + std::to_string(dup + 2) + ": duplicate job id 'j7'";
    EXPECT_NE(r.error().message.find(named), std::string::npos) << r.error().message;
  }
  auto runs = store->list_runs();
  ASSERT_TRUE(runs.ok()) << why(runs);
  EXPECT_EQ(runs->size(), 1u) << "a run with a duplicate id was left behind";
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
  auto named = make_run(*store, {}, {}, "posts"); // a run may have no jobs
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
  s.shell = core::Shell::yes;
  s.slots = 5;
  s.max_attempts = 3;
  s.backoff = {2000, 9000, 0.2};
  s.timeout_ms = 600'000;
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
  EXPECT_EQ(back->settings.shell, core::Shell::yes);
  EXPECT_EQ(back->settings.slots, 5);
  EXPECT_EQ(back->settings.max_attempts, 3);
  EXPECT_EQ(back->settings.backoff.max_ms, 9000);
  EXPECT_EQ(back->settings.timeout_ms, 600'000);
  EXPECT_EQ(back->settings.on_interrupt, core::OnInterrupt::hold);
  EXPECT_EQ(back->settings.key, "{account}");
  EXPECT_EQ(back->settings.limits.per_key_daily, 4);
  EXPECT_EQ(back->settings.limits.timezone, "Europe/Berlin");
  EXPECT_EQ(back->settings.locks, s.locks);
  EXPECT_EQ(back->columns, run.columns);
  EXPECT_EQ(back->state, core::RunState::created);
}

TEST_P(StoreConformance, RetuneAppliesNewSettingsToJobsThatWillStillRun) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 4, {0, 1, 2}, 2);
  ASSERT_EQ(c.size(), 3u);
  auto failed = finished(c[1], JobState::failed, 2000);
  failed.outcome = core::Outcome::exited(1);
  ASSERT_TRUE(record(*store, run.rid,
                     {finished(c[0], JobState::succeeded, 2000), failed,
                      retrying(c[2], 2000, 5000)},
                     2000)
                  .ok());
  auto s = run.settings;
  s.max_attempts = 5;
  s.timeout_ms = 3000;
  auto r = store->retune(run.rid, s);
  ASSERT_TRUE(r.ok()) << why(r);
  auto back = store->find_run(run.id);
  ASSERT_TRUE(back.ok()) << why(back);
  EXPECT_EQ(back->settings.max_attempts, 5);
  EXPECT_EQ(back->settings.timeout_ms, 3000);
  // Ended jobs keep their budget; the ones that will run get three more.
  EXPECT_EQ(job(*store, run.rid, "j1").max_attempts, 2);
  EXPECT_EQ(job(*store, run.rid, "j2").max_attempts, 2);
  EXPECT_EQ(job(*store, run.rid, "j3").max_attempts, 5);
  EXPECT_EQ(job(*store, run.rid, "j4").max_attempts, 5);
  // Lower: a job that has used its new budget still has the attempt it
  // was scheduled for.
  s.max_attempts = 1;
  ASSERT_TRUE(store->retune(run.rid, s).ok());
  EXPECT_EQ(job(*store, run.rid, "j3").max_attempts, 2);
  EXPECT_EQ(job(*store, run.rid, "j4").max_attempts, 1);
  EXPECT_EQ(job(*store, run.rid, "j3").state, JobState::retrying);
  // `retry` then gives the failed job the new budget.
  RetrySelection sel;
  sel.failed = true;
  EXPECT_EQ(*store->retry(run.rid, sel, counted("retry", "job(s)")), 1);
  EXPECT_EQ(job(*store, run.rid, "j2").max_attempts, 2);
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
  auto c = claim(*store, run.rid, {0, 1}, 1000, 7);
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
  EXPECT_EQ(seen.agent, 7) << "the job names the agent that claimed it";
  EXPECT_EQ(job(*other, run.rid, "j3").agent, 0) << "an unclaimed job has no agent";
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

TEST_P(StoreConformance, AResultKeepsItsOutputTailsForLogsOnAnyHost) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(2));
  auto t = take(*store, run.rid, 1);
  ASSERT_TRUE(t.ok()) << why(t);
  auto c = claim(*store, run.rid, {0, 1}, util::now_ms(), t->aid);
  ASSERT_EQ(c->claims.size(), 2u);
  auto kept = finished(c->claims[0], JobState::succeeded, util::now_ms());
  kept.output_kept = true;
  kept.stdout_tail = "the last line\n";
  kept.stderr_tail = "caf\xC3\xA9\n";
  kept.stdout_bytes = 1'000'000;
  kept.stderr_bytes = 6;
  auto plain = finished(c->claims[1], JobState::failed, util::now_ms());
  ASSERT_TRUE(record(*store, run.rid, {kept, plain}, util::now_ms(), t->aid).ok());
  auto out = store->stored_output(c->claims[0].jid);
  ASSERT_TRUE(out.ok()) << why(out);
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->stdout_tail, "the last line\n");
  EXPECT_EQ((*out)->stderr_tail, "caf\xC3\xA9\n");
  EXPECT_EQ((*out)->stdout_bytes, 1'000'000);
  EXPECT_EQ((*out)->stderr_bytes, 6);
  EXPECT_EQ((*out)->host, "conformance-host");
  auto none = store->stored_output(c->claims[1].jid);
  ASSERT_TRUE(none.ok()) << why(none);
  EXPECT_FALSE(none->has_value()) << "a result that kept no output has some";
  ASSERT_TRUE(store->delete_run(run.rid).ok());
  auto gone = store->stored_output(c->claims[0].jid);
  ASSERT_TRUE(gone.ok()) << why(gone);
  EXPECT_FALSE(gone->has_value()) << "a deleted run's output is left";
}

TEST_P(StoreConformance, OutputTailsAreReadAndWrittenForAWholeRun) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  const StoredOutput first{"h1", "out 1\n", "", 6, 0, 1000};
  const StoredOutput third{"h2", "out 3\n", "err 3\n", 6, 6, 3000};
  ASSERT_TRUE(
      store->keep_outputs(run.rid, {{"j3", third}, {"j1", first}, {"no-such-job", first}})
          .ok());
  auto all = store->stored_outputs(run.rid);
  ASSERT_TRUE(all.ok()) << why(all);
  ASSERT_EQ(all->size(), 2u) << "an unknown id was kept, or a known one was not";
  EXPECT_EQ((*all)[0].first, "j1");
  EXPECT_EQ((*all)[0].second.stdout_tail, "out 1\n");
  EXPECT_EQ((*all)[1].first, "j3");
  EXPECT_EQ((*all)[1].second.host, "h2");
  EXPECT_EQ((*all)[1].second.stderr_tail, "err 3\n");
  EXPECT_EQ((*all)[1].second.at, 3000);
  auto one = store->stored_output(job(*store, run.rid, "j3").jid);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->stdout_tail, "out 3\n");
  // Kept again, it replaces what was kept.
  ASSERT_TRUE(store->keep_outputs(run.rid, {{"j1", third}}).ok());
  auto again = store->stored_outputs(run.rid);
  ASSERT_TRUE(again.ok()) << why(again);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].second.stdout_tail, "out 3\n");
}

TEST_P(StoreConformance, SlotLogTailsAreKeptPerHostAndSlot) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(1));
  ASSERT_TRUE(store
                  ->keep_slot_logs(run.rid, {{"a-host", 0, "first\n", 6, 1000},
                                             {"b-host", 0, "b's slot 0\n", 11, 1000},
                                             {"a-host", 1, "slot 1\n", 7, 1000}})
                  .ok());
  // A later tail of the same slot replaces the earlier one.
  ASSERT_TRUE(
      store->keep_slot_logs(run.rid, {{"a-host", 0, "...second\n", 1'000'000, 2000}})
          .ok());
  auto zero = store->stored_slot_logs(run.rid, 0);
  ASSERT_TRUE(zero.ok()) << why(zero);
  ASSERT_EQ(zero->size(), 2u);
  EXPECT_EQ((*zero)[0].host, "a-host");
  EXPECT_EQ((*zero)[0].tail, "...second\n");
  EXPECT_EQ((*zero)[0].bytes, 1'000'000);
  EXPECT_EQ((*zero)[0].at, 2000);
  EXPECT_EQ((*zero)[1].host, "b-host");
  auto one = store->stored_slot_logs(run.rid, 1);
  ASSERT_TRUE(one.ok()) << why(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].tail, "slot 1\n");
  auto none = store->stored_slot_logs(run.rid, 2);
  ASSERT_TRUE(none.ok()) << why(none);
  EXPECT_TRUE(none->empty());
  auto every = store->stored_slot_logs(run.rid, -1);
  ASSERT_TRUE(every.ok()) << why(every);
  ASSERT_EQ(every->size(), 3u);
  EXPECT_EQ((*every)[2].slot, 1) << "slot -1 reads every slot, by slot then host";
  ASSERT_TRUE(store->delete_run(run.rid).ok());
  auto gone = store->stored_slot_logs(run.rid, 0);
  ASSERT_TRUE(gone.ok()) << why(gone);
  EXPECT_TRUE(gone->empty()) << "a deleted run's slot logs are left";
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
  auto [run, c] = claimed_run(*store, 2, {0, 1});
  ASSERT_EQ(c.size(), 2u);
  ASSERT_TRUE(record(*store, run.rid, {started(c[0], 4242)}, 1100).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").pgid, 4242);
  auto fail = finished(c[1], JobState::failed, 2000);
  fail.outcome = core::Outcome::exited(7);
  auto r =
      record(*store, run.rid, {finished(c[0], JobState::succeeded, 2000), fail}, 2000);
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

TEST_P(StoreConformance, OneCommitRecordsStartsAndResultsThenClaims) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 4, {0, 1, 2}, 2);
  ASSERT_EQ(c.size(), 3u);
  // j1 succeeds, j2 is to be retried later and j3's process started; the
  // freed slots take j4, not j2, whose retry is not due yet.
  auto next = record_and_claim(*store, run.rid,
                               {finished(c[0], JobState::succeeded, 2000),
                                retrying(c[1], 2000, 5000), started(c[2], 4242)},
                               {0, 1}, 2000);
  ASSERT_TRUE(next.ok()) << why(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j4"}));
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::succeeded);
  EXPECT_EQ(job(*store, run.rid, "j2").state, JobState::retrying);
  auto j3 = job(*store, run.rid, "j3");
  EXPECT_EQ(j3.state, JobState::running);
  EXPECT_EQ(j3.pgid, 4242);
  EXPECT_EQ(*store->next_retry_at(run.rid), 5000);
  auto later = claim(*store, run.rid, {1}, 5000);
  ASSERT_EQ(ids(*later), (std::vector<std::string>{"j2"}));
  EXPECT_EQ(later->claims[0].attempt, 2);
  EXPECT_EQ(job(*store, run.rid, "j2").state, JobState::running);
}

TEST_P(StoreConformance, ClaimAndRecordAlsoWorkApart) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  auto t = take(*store, run.rid, 1);
  ASSERT_TRUE(t.ok()) << why(t);
  auto first = store->claim(run.rid, {0, 1}, 1000, t->aid);
  ASSERT_TRUE(first.ok()) << why(first);
  ASSERT_EQ(ids(*first), (std::vector<std::string>{"j1", "j2"}));
  // A result from an agent that does not hold the job's lease is ignored.
  ASSERT_TRUE(store
                  ->record(run.rid,
                           {finished(first->claims[0], JobState::succeeded, 1500)}, 1500,
                           t->aid + 1)
                  .ok());
  EXPECT_EQ(counts(*store, run.rid)[JobState::running], 2);
  auto rec = store->record(
      run.rid, {finished(first->claims[0], JobState::succeeded, 2000)}, 2000, t->aid);
  ASSERT_TRUE(rec.ok()) << why(rec);
  EXPECT_TRUE(rec->claims.empty()) << "recording claimed a job";
  EXPECT_EQ(counts(*store, run.rid)[JobState::succeeded], 1);
  auto next = store->claim(run.rid, {0}, 2000, t->aid);
  ASSERT_TRUE(next.ok()) << why(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j3"}));
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

} // namespace
} // namespace muster::store::conformance

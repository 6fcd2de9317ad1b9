#include "store/codec.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

namespace muster::store::sqlite {
namespace {

using core::JobState;

class StoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/muster-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::unique_ptr<SqliteStore> open() {
    auto s = SqliteStore::open(m_dir + "/store", Create::yes);
    EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
    return std::move(*s);
  }

  RunRecord make_run(SqliteStore& store, int n, int64_t max_attempts = 1) {
    RunRecord run;
    run.settings.command = {"echo", "{}"};
    run.settings.max_attempts = max_attempts;
    int i = 0;
    auto r = store.create_run(run, [&](NewJob& job) -> util::Result<bool> {
      if (i == n) {
        return false;
      }
      ++i;
      job.id = "j" + std::to_string(i);
      job.fields = encode_strings({std::to_string(i)});
      job.where = "test:" + std::to_string(i);
      return true;
    });
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return run;
  }

  static Holder holder(int64_t pid) { return Holder{pid, "host", 42, 0, 0, ""}; }

  /// A run whose jobs have keys (and locks, priorities) from `spec`, one
  /// entry per job: {key, lock, priority}.
  struct Spec {
    Spec(std::string k = "", std::string l = "", int64_t p = 0)
        : key(std::move(k)), lock(std::move(l)), priority(p) {}
    std::string key;
    std::string lock;
    int64_t priority;
  };
  RunRecord keyed_run(SqliteStore& store, core::RunSettings settings,
                      const std::vector<Spec>& jobs, const std::string& name = "") {
    RunRecord run;
    run.name = name;
    run.settings = std::move(settings);
    if (run.settings.command.empty()) {
      run.settings.command = {"post", "{}"};
    }
    size_t i = 0;
    auto r = store.create_run(run, [&](NewJob& job) -> util::Result<bool> {
      if (i == jobs.size()) {
        return false;
      }
      job.id = "j" + std::to_string(i + 1);
      job.key = jobs[i].key;
      job.lock = jobs[i].lock;
      job.priority = jobs[i].priority;
      job.fields = "[]";
      ++i;
      return true;
    });
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    EXPECT_TRUE(store.acquire(run.rid, holder(run.rid), [](const Holder&) { return false; }).ok());
    return run;
  }

  static Update finished(const Claim& c, JobState state, int64_t at) {
    Update u;
    u.jid = c.jid;
    u.state = state;
    u.outcome = state == JobState::succeeded ? core::Outcome::exited(0) : core::Outcome::exited(1);
    u.finished_at = at;
    u.key = c.key;
    u.lock = c.lock;
    u.claimed_at = c.claimed_at;
    return u;
  }

  static std::vector<std::string> ids(const CommitResult& r) {
    std::vector<std::string> out;
    for (const auto& c : r.claims) {
      out.push_back(c.id);
    }
    return out;
  }

  std::string m_dir;
};

TEST_F(StoreTest, CreatesRunWithJobsInOrder) {
  auto store = open();
  auto run = make_run(*store, 5);
  EXPECT_EQ(run.total, 5);
  EXPECT_EQ(run.id.size(), 6u);
  auto counts = store->counts(run.rid);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[JobState::pending], 5);
  auto jobs = store->jobs(run.rid, {});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 5u);
  EXPECT_EQ(jobs->front().id, "j1");
  EXPECT_EQ(jobs->back().seq, 5);
}

TEST_F(StoreTest, DuplicateIdRollsEverythingBack) {
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
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty());
}

TEST_F(StoreTest, ReaderErrorRollsBack) {
  auto store = open();
  RunRecord run;
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
  EXPECT_TRUE(store->list_runs()->empty());
}

TEST_F(StoreTest, ClaimsInInputOrderAndRecordsResults) {
  auto store = open();
  auto run = make_run(*store, 4, 2);
  auto t = store->acquire(run.rid, holder(1), [](const Holder&) { return false; });
  ASSERT_TRUE(t.ok());
  auto claims = store->commit(run.rid, {}, {0, 1, 2}, 1000);
  ASSERT_TRUE(claims.ok());
  ASSERT_EQ(claims->claims.size(), 3u);
  EXPECT_EQ(claims->claims[0].id, "j1");
  EXPECT_EQ(claims->claims[2].id, "j3");
  EXPECT_EQ(claims->claims[1].slot, 1);
  EXPECT_EQ(claims->claims[0].attempt, 1);
  EXPECT_EQ((*store->counts(run.rid))[JobState::running], 3);

  Update done;
  done.jid = claims->claims[0].jid;
  done.state = JobState::succeeded;
  done.outcome = core::Outcome::exited(0);
  done.finished_at = 2000;
  Update retry;
  retry.jid = claims->claims[1].jid;
  retry.state = JobState::retrying;
  retry.outcome = core::Outcome::exited(3);
  retry.finished_at = 2000;
  retry.retry_at = 5000;
  Update pid;
  pid.kind = Update::Kind::started;
  pid.jid = claims->claims[2].jid;
  pid.pid = 4242;
  auto next = store->commit(run.rid, {done, retry, pid}, {0, 1}, 2000);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->claims.size(), 1u); // j4; j2 waits for its retry_at
  EXPECT_EQ(next->claims[0].id, "j4");
  EXPECT_EQ(*store->next_retry_at(run.rid), 5000);

  auto later = store->commit(run.rid, {}, {1}, 5000);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->claims.size(), 1u);
  EXPECT_EQ(later->claims[0].id, "j2");
  EXPECT_EQ(later->claims[0].attempt, 2);
  EXPECT_EQ(later->claims[0].from, JobState::retrying);

  JobFilter f;
  f.id = "j2";
  auto j2 = store->jobs(run.rid, f);
  EXPECT_EQ(j2->front().state, JobState::running);
  f.id = "j3";
  auto j3 = store->jobs(run.rid, f);
  EXPECT_EQ(j3->front().pgid, 4242);
}

TEST_F(StoreTest, ClaimAndRecordAreMethodsOfTheirOwn) {
  auto store = open();
  auto run = make_run(*store, 3, 1);
  auto t = store->acquire(run.rid, holder(1), [](const Holder&) { return false; });
  ASSERT_TRUE(t.ok());
  auto first = store->claim(run.rid, {0, 1}, 1000, t->aid);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"j1", "j2"}));
  // A result from another agent (one that lost the job's lease) is ignored.
  ASSERT_TRUE(store->record(run.rid, {finished(first->claims[0], JobState::succeeded, 1500)},
                            1500, t->aid + 1)
                  .ok());
  EXPECT_EQ((*store->counts(run.rid))[JobState::running], 2);
  auto rec = store->record(run.rid, {finished(first->claims[0], JobState::succeeded, 2000)},
                           2000, t->aid);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->claims.empty()); // recording claims nothing
  EXPECT_EQ((*store->counts(run.rid))[JobState::succeeded], 1);
  EXPECT_EQ(ids(*store->claim(run.rid, {0}, 2000, t->aid)), (std::vector<std::string>{"j3"}));
}

TEST_F(StoreTest, ControlRequestsAndAgentStatesKeepTheirStoredWords) {
  auto store = open();
  auto run = make_run(*store, 1, 1);
  auto t = store->acquire(run.rid, holder(1), [](const Holder&) { return false; });
  ASSERT_TRUE(t.ok());
  for (auto req : {ControlRequest::pause, ControlRequest::pause_stop, ControlRequest::cancel,
                   ControlRequest::none}) {
    ASSERT_TRUE(store->set_control(run.rid, req, std::nullopt, false, Event{1, "h", "u", 1, "x", ""})
                    .ok());
    EXPECT_EQ(store->control(run.rid)->request, req);
    EXPECT_EQ(parse_control_request(to_string(req)), req);
  }
  EXPECT_EQ(to_string(ControlRequest::pause_stop), "pause-stop");
  auto control = Statement::prepare(store->db(), "SELECT control FROM runs WHERE rid = ?1");
  ASSERT_TRUE(control.ok());
  ASSERT_TRUE(store->set_control(run.rid, ControlRequest::pause_stop, std::nullopt, false,
                                 Event{1, "h", "u", 1, "pause", ""})
                  .ok());
  control->bind(1, run.rid);
  ASSERT_TRUE(*control->step());
  EXPECT_EQ(control->text(0), "pause-stop");
  control->reset();
  EXPECT_EQ(store->agents(run.rid)->front().state, AgentState::running);
  ASSERT_TRUE(store->stop_agent(t->aid, 5).ok());
  EXPECT_EQ(store->agents(run.rid)->front().state, AgentState::stopped);
  EXPECT_EQ(to_string(AgentState::offline), "offline");
}

TEST_F(StoreTest, LiveHolderIsRefusedDeadHolderTakenOver) {
  auto store = open();
  auto run = make_run(*store, 3);
  ASSERT_TRUE(store->acquire(run.rid, holder(100), [](const Holder&) { return false; }).ok());
  auto claims = store->commit(run.rid, {}, {0, 1}, 1000);
  ASSERT_EQ(claims->claims.size(), 2u);

  auto busy = store->acquire(run.rid, holder(200), [](const Holder&) { return true; });
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(busy->held_by.has_value());
  EXPECT_EQ(busy->held_by->pid, 100);
  EXPECT_EQ((*store->counts(run.rid))[JobState::running], 2);

  auto taken = store->acquire(run.rid, holder(200), [](const Holder&) { return false; });
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->held_by.has_value());
  EXPECT_EQ(taken->orphans.size(), 2u);
  auto counts = *store->counts(run.rid);
  EXPECT_EQ(counts[JobState::running], 0);
  EXPECT_EQ(counts[JobState::pending], 3); // requeued
  auto again = store->commit(run.rid, {}, {0}, 2000);
  EXPECT_EQ(again->claims[0].id, "j1");
  EXPECT_EQ(again->claims[0].attempt, 2);
  EXPECT_EQ(again->claims[0].interrupts, 1);
}

TEST_F(StoreTest, HoldKeepsOrphansInterruptedUntilRetried) {
  auto store = open();
  RunRecord run;
  run.settings.command = {"post"};
  run.settings.on_interrupt = core::OnInterrupt::hold;
  int i = 0;
  ASSERT_TRUE(store->create_run(run, [&](NewJob& job) -> util::Result<bool> {
    if (i++ == 2) {
      return false;
    }
    job.id = std::to_string(i);
    job.fields = "[]";
    return true;
  }).ok());
  ASSERT_TRUE(store->acquire(run.rid, holder(1), [](const Holder&) { return false; }).ok());
  ASSERT_EQ(store->commit(run.rid, {}, {0}, 1)->claims.size(), 1u);
  auto t = store->acquire(run.rid, holder(2), [](const Holder&) { return false; });
  ASSERT_EQ(t->orphans.size(), 1u);
  auto counts = *store->counts(run.rid);
  EXPECT_EQ(counts[JobState::interrupted], 1);
  // The interrupted job is never claimed again on its own.
  auto claims = store->commit(run.rid, {}, {0, 1}, 2);
  ASSERT_EQ(claims->claims.size(), 1u);
  EXPECT_EQ(claims->claims[0].id, "2");
  RetrySelection sel;
  sel.interrupted = true;
  EXPECT_EQ(*store->retry(run.rid, sel), 1);
  EXPECT_EQ((*store->counts(run.rid))[JobState::pending], 1);
}

TEST_F(StoreTest, RetryRefusesSucceededJobs) {
  auto store = open();
  auto run = make_run(*store, 1);
  ASSERT_TRUE(store->acquire(run.rid, holder(1), [](const Holder&) { return false; }).ok());
  auto c = store->commit(run.rid, {}, {0}, 1);
  Update u;
  u.jid = c->claims[0].jid;
  u.state = JobState::succeeded;
  u.outcome = core::Outcome::exited(0);
  ASSERT_TRUE(store->commit(run.rid, {u}, {}, 2).ok());
  RetrySelection sel;
  sel.job_id = "j1";
  auto r = store->retry(run.rid, sel);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("never runs again"), std::string::npos);
}

TEST_F(StoreTest, FindsRunsByIdPrefixAndName) {
  auto store = open();
  RunRecord named;
  named.name = "posts";
  named.settings.command = {"x"};
  ASSERT_TRUE(store->create_run(named, [](NewJob&) -> util::Result<bool> { return false; }).ok());
  EXPECT_EQ(store->find_run("posts")->id, named.id);
  EXPECT_EQ(store->find_run(named.id)->id, named.id);
  EXPECT_EQ(store->find_run(named.id.substr(0, 3))->id, named.id);
  EXPECT_FALSE(store->find_run("nope").ok());
  RunRecord again;
  again.name = "posts";
  auto dup = store->create_run(again, [](NewJob&) -> util::Result<bool> { return false; });
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("already exists"), std::string::npos);
}

TEST_F(StoreTest, SettingsRoundTrip) {
  core::RunSettings s;
  s.command = {"a", "{b}"};
  s.shell = core::Shell::yes;
  s.slots = 7;
  s.max_attempts = 3;
  s.backoff = {2000, 9000, 0.2};
  s.timeout_ms = 600'000;
  s.on_interrupt = core::OnInterrupt::hold;
  s.key = "{b}";
  auto back = decode_settings(encode_settings(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->command, s.command);
  EXPECT_EQ(back->shell, core::Shell::yes);
  EXPECT_EQ(back->slots, 7);
  EXPECT_EQ(back->backoff.max_ms, 9000);
  EXPECT_EQ(back->on_interrupt, core::OnInterrupt::hold);
  EXPECT_EQ(back->key, "{b}");
}

TEST_F(StoreTest, FieldsRoundTrip) {
  std::vector<std::string> names{"b", "a"};
  std::vector<std::string> values{"x\"y", "line\nbreak"};
  std::vector<std::string> n2;
  std::vector<std::string> v2;
  ASSERT_TRUE(decode_fields(encode_fields(&names, values), n2, v2).ok());
  EXPECT_EQ(n2, names);
  EXPECT_EQ(v2, values);
  ASSERT_TRUE(decode_fields(encode_fields(nullptr, values), n2, v2).ok());
  EXPECT_TRUE(n2.empty());
  EXPECT_EQ(v2, values);
}

TEST_F(StoreTest, FieldsKeepBytesThatAreNotUtf8) {
  std::vector<std::string> values{"caf\xe9", "\x01tab\tq\"", ""};
  std::vector<std::string> names;
  std::vector<std::string> back;
  ASSERT_TRUE(decode_fields(encode_fields(nullptr, values), names, back).ok());
  EXPECT_EQ(back, values);
  ASSERT_TRUE(decode_fields("[]", names, back).ok());
  EXPECT_TRUE(back.empty());
  ASSERT_TRUE(decode_fields("{\"a\":\"\\u00e9\"}", names, back).ok());
  EXPECT_EQ(back[0], "\xc3\xa9");
  EXPECT_FALSE(decode_fields("[\"a\"", names, back).ok());
  EXPECT_FALSE(decode_fields("nonsense", names, back).ok());
}

TEST_F(StoreTest, OldSchemaUpgradesAndKeepsData) {
  std::filesystem::create_directories(m_dir + "/store");
  {
    auto db = Db::open(m_dir + "/store/muster.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec(migrations()[0]).ok());
    ASSERT_TRUE(db->exec("PRAGMA user_version = 1").ok());
    core::RunSettings s;
    s.command = {"echo"};
    ASSERT_TRUE(db->exec("INSERT INTO runs (id, state, settings, columns, total, created_at, "
                         "updated_at) VALUES ('old123', 'created', '" + encode_settings(s) +
                         "', '[]', 1, 1, 1); INSERT INTO jobs (rid, seq, id, fields, state, "
                         "max_attempts) VALUES (1, 1, '1', '[\"a\"]', 'pending', 1);")
                    .ok());
  }
  auto store = open();
  auto version = schema_version(store->db());
  EXPECT_EQ(*version, current_schema_version());
  auto run = store->find_run("old123");
  ASSERT_TRUE(run.ok()) << run.error().message;
  EXPECT_EQ(run->rate, 0);
  ASSERT_TRUE(store->acquire(run->rid, holder(1), [](const Holder&) { return false; }).ok());
  auto claims = store->commit(run->rid, {}, {0}, 1);
  ASSERT_EQ(claims->claims.size(), 1u);
  EXPECT_EQ(claims->claims[0].interrupts, 0);
}

TEST_F(StoreTest, PerKeyConcurrencyHoldsJobsBackAsWaiting) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key = 1;
  auto run = keyed_run(*store, s, {{"a"}, {"a"}, {"b"}, {"a"}});
  auto first = store->commit(run.rid, {}, {0, 1, 2, 3}, 1000);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"j1", "j3"}));
  EXPECT_EQ(first->moved[JobState::waiting], 2);
  EXPECT_EQ(first->moved[JobState::pending], -2);
  JobFilter waiting;
  waiting.state = JobState::waiting;
  auto held = *store->jobs(run.rid, waiting);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].reason, "key a busy: 1/1 running");
  // j1 ends: the first job waiting on key a goes next, in input order.
  auto next = store->commit(run.rid, {finished(first->claims[0], JobState::succeeded, 2000)},
                            {0, 2, 3}, 2000);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j2"}));
  EXPECT_EQ((*store->counts(run.rid))[JobState::waiting], 1);
}

TEST_F(StoreTest, DailyCapWaitsForTheNextWindowInItsZone) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key_daily = 2;
  s.limits.timezone = "Europe/Berlin";
  auto run = keyed_run(*store, s, {{"a"}, {"a"}, {"a"}, {"b"}});
  // 23:58 in Berlin (22:58 UTC): two of key a may start today.
  const int64_t t = 1'795'474'680'000;
  auto c = store->commit(run.rid, {}, {0, 1, 2, 3}, t);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(ids(*c), (std::vector<std::string>{"j1", "j2", "j4"}));
  JobFilter f;
  f.id = "j3";
  auto j3 = store->jobs(run.rid, f)->front();
  EXPECT_EQ(j3.state, JobState::waiting);
  EXPECT_EQ(j3.reason, "key a at daily cap 2/2 until 2026-11-24 00:00 Europe/Berlin");
  EXPECT_EQ(c->wake_at, t + 120'000);
  // Finishing does not give a start back: the cap counts attempts.
  auto again = store->commit(run.rid, {finished(c->claims[0], JobState::succeeded, t + 1000)},
                             {0}, t + 1000);
  EXPECT_TRUE(again->claims.empty());
  // One minute to midnight UTC is long after midnight in Berlin: a new day.
  auto tomorrow = store->commit(run.rid, {}, {0}, t + 120'000);
  ASSERT_TRUE(tomorrow.ok());
  EXPECT_EQ(ids(*tomorrow), (std::vector<std::string>{"j3"}));
  auto use = *store->key_usage(run.rid, "a", 1'795'474'800'000);
  EXPECT_EQ(use.counted, 1);
  EXPECT_EQ(use.running, 2);
}

TEST_F(StoreTest, DailyCapOfSuccessesCountsRunningAndGivesFailuresBack) {
  auto store = open();
  core::RunSettings s;
  s.limits.per_key_daily = 1;
  s.limits.count = core::CapCount::successes;
  s.limits.timezone = "UTC";
  auto run = keyed_run(*store, s, {{"a"}, {"a"}});
  auto c = store->commit(run.rid, {}, {0, 1}, 1000);
  EXPECT_EQ(ids(*c), (std::vector<std::string>{"j1"})); // j1 running counts
  // j1 fails: its place goes to j2.
  auto next = store->commit(run.rid, {finished(c->claims[0], JobState::failed, 2000)}, {0}, 2000);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j2"}));
}

TEST_F(StoreTest, BlockKeySkipsTheKeysOtherJobs) {
  auto store = open();
  auto run = keyed_run(*store, {}, {{"a"}, {"a"}, {"b"}, {"a"}});
  auto c = store->commit(run.rid, {}, {0}, 1000);
  Update u = finished(c->claims[0], JobState::failed, 2000);
  u.block_key = true;
  u.error_type = "captcha";
  auto next = store->commit(run.rid, {u}, {0}, 2000);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"j3"}));
  EXPECT_EQ(next->moved[JobState::skipped], 2);
  JobFilter f;
  f.id = "j4";
  auto j4 = store->jobs(run.rid, f)->front();
  EXPECT_EQ(j4.state, JobState::skipped);
  EXPECT_EQ(j4.reason, "key a blocked: job failed with captcha");
  f.id = "j1";
  EXPECT_EQ(store->jobs(run.rid, f)->front().error_type, "captcha");
}

TEST_F(StoreTest, HaltStopsClaimsForEveryAgentUntilItsTime) {
  auto store = open();
  auto run = keyed_run(*store, {}, {{}, {}, {}});
  auto c = store->commit(run.rid, {}, {0}, 1000);
  Update u = finished(c->claims[0], JobState::pending, 1500);
  u.uncounted = true;
  u.halt_until = 5000;
  u.halt_reason = "rate limit";
  auto halted = store->commit(run.rid, {u}, {0, 1}, 1500);
  ASSERT_TRUE(halted.ok());
  EXPECT_TRUE(halted->claims.empty());
  EXPECT_EQ(halted->halted_until, 5000);
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::halted);
  EXPECT_TRUE(store->commit(run.rid, {}, {0}, 4999)->claims.empty());
  auto resumed = store->commit(run.rid, {}, {0, 1, 2}, 5000);
  EXPECT_EQ(ids(*resumed), (std::vector<std::string>{"j1", "j2", "j3"}));
  EXPECT_EQ(resumed->claims[0].attempt, 2);
  EXPECT_EQ(resumed->claims[0].interrupts, 1); // the halted attempt did not count
  auto after = *store->find_run(run.id);
  EXPECT_EQ(after.state, core::RunState::running);
  EXPECT_EQ(after.resume_at, 0);
}

TEST_F(StoreTest, RateSpacesStartsEvenly) {
  auto store = open();
  core::RunSettings s;
  s.limits.rate_interval_us = 1'000'000; // 60/min
  auto run = keyed_run(*store, s, {{}, {}, {}});
  auto c = store->commit(run.rid, {}, {0, 1, 2}, 10'000);
  EXPECT_EQ(c->claims.size(), 1u);
  EXPECT_EQ(c->wake_at, 11'000);
  EXPECT_TRUE(store->commit(run.rid, {}, {1, 2}, 10'999)->claims.empty());
  EXPECT_EQ(store->commit(run.rid, {}, {1, 2}, 11'000)->claims.size(), 1u);
}

TEST_F(StoreTest, PriorityOrdersClaims) {
  auto store = open();
  auto run = keyed_run(*store, {}, {{"", "", 0}, {"", "", 5}, {"", "", -1}, {"", "", 5}});
  auto c = store->commit(run.rid, {}, {0, 1, 2, 3}, 1);
  EXPECT_EQ(ids(*c), (std::vector<std::string>{"j2", "j4", "j1", "j3"}));
}

TEST_F(StoreTest, JobLocksSerialiseAcrossRuns) {
  auto store = open();
  core::RunSettings s;
  s.job_lock = "{device}";
  auto a = keyed_run(*store, s, {{"", "dev1"}, {"", "dev2"}});
  auto b = keyed_run(*store, s, {{"", "dev1"}});
  auto ca = store->commit(a.rid, {}, {0, 1}, 1000);
  EXPECT_EQ(ids(*ca), (std::vector<std::string>{"j1", "j2"}));
  auto cb = store->commit(b.rid, {}, {0}, 1000);
  EXPECT_TRUE(cb->claims.empty());
  JobFilter f;
  f.id = "j1";
  auto waiting = store->jobs(b.rid, f)->front();
  EXPECT_EQ(waiting.state, JobState::waiting);
  EXPECT_NE(waiting.reason.find("lock dev1 held by run " + a.id + " job j1"), std::string::npos)
      << waiting.reason;
  auto locks = *store->locks();
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].name, "dev1");
  // Run a's job ends: run b's waiting job may take the lock.
  ASSERT_TRUE(store->commit(a.rid, {finished(ca->claims[0], JobState::succeeded, 2000)}, {}, 2000).ok());
  EXPECT_EQ(ids(*store->commit(b.rid, {}, {0}, 2001)), (std::vector<std::string>{"j1"}));
}

TEST_F(StoreTest, RunLocksRefuseALiveHolderAndFreeADeadOne) {
  auto store = open();
  core::RunSettings s;
  s.locks = {"src/app.py", "src/utils.py"};
  auto a = keyed_run(*store, s, {{}}, "Build frontend");
  core::RunSettings s2;
  s2.command = {"x"};
  s2.locks = {"src/utils.py"};
  RunRecord b;
  b.settings = s2;
  int n = 0;
  ASSERT_TRUE(store->create_run(b, [&](NewJob& job) -> util::Result<bool> {
    job.id = "1";
    job.fields = "[]";
    return n++ == 0;
  }).ok());
  auto refused = store->acquire(b.rid, holder(900), [](const Holder&) { return true; });
  ASSERT_TRUE(refused.ok());
  ASSERT_TRUE(refused->lock_conflict.has_value());
  EXPECT_EQ(refused->lock_conflict->name, "src/utils.py");
  EXPECT_EQ(refused->lock_conflict->run_name, "Build frontend");
  EXPECT_EQ(store->find_run(b.id)->holder.pid, 0); // nothing changed
  // The holder is dead: its locks are freed and b takes its own.
  auto taken = store->acquire(b.rid, holder(900), [](const Holder&) { return false; });
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->lock_conflict.has_value());
  auto locks = *store->locks();
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].run_id, b.id);
  ASSERT_TRUE(store->release(b.rid, core::RunState::completed).ok());
  EXPECT_TRUE(store->locks()->empty());
}

TEST_F(StoreTest, TwoProcessesClaimingOneRunKeepEveryLimit) {
  // Two agents' worth of claims, from two processes on one store at once:
  // the claim transaction alone must keep the daily cap and per-key limit.
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
    run = keyed_run(*store, s, jobs);
  }
  const int64_t now = 1'795'474'680'000;
  std::vector<pid_t> children;
  for (int agent = 0; agent < 2; ++agent) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = SqliteStore::open(m_dir + "/store", Create::no);
      if (!store) {
        _exit(2);
      }
      std::vector<Update> done;
      for (int turn = 0; turn < 200; ++turn) {
        auto c = (*store)->commit(run.rid, done, {agent * 10, agent * 10 + 1}, now + turn);
        if (!c) {
          _exit(3);
        }
        done.clear();
        for (const auto& claim : c->claims) {
          done.push_back(finished(claim, JobState::succeeded, now + turn));
        }
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto store = open();
  std::map<std::string, int> started;
  ASSERT_TRUE(store->each_job(run.rid, [&](const JobRecord& j) {
    if (j.attempts > 0) {
      started[j.key] += static_cast<int>(j.attempts);
    }
  }).ok());
  ASSERT_EQ(started.size(), 4u);
  for (const auto& [key, n] : started) {
    EXPECT_EQ(n, 3) << key; // exactly the cap, by either process
  }
  EXPECT_EQ((*store->counts(run.rid))[JobState::waiting], 48);
  EXPECT_EQ((*store->counts(run.rid))[JobState::running], 0);
}

TEST_F(StoreTest, PerTurnStatementsNeverScanARunsJobs) {
  // Invariant 7: claiming, recording and limits cost O(log n) per job. Every
  // statement of the agent's loop must find jobs through an index.
  auto store = open();
  const auto& sqls = store->per_turn_sql();
  ASSERT_GE(sqls.size(), 20u);
  for (const auto& sql : sqls) {
    auto plan = Statement::prepare(store->db(), "EXPLAIN QUERY PLAN " + sql);
    ASSERT_TRUE(plan.ok()) << sql;
    std::string steps;
    ASSERT_TRUE(plan->each([&](Statement& row) { steps += row.text(3) + "; "; }).ok());
    // No scan of the table, no search by run alone (the whole run, through
    // UNIQUE (rid, id)), and no sort of what was found.
    for (const char* bad : {"SCAN jobs", "sqlite_autoindex_jobs_1 (rid=?)", "TEMP B-TREE"}) {
      EXPECT_EQ(steps.find(bad), std::string::npos) << sql << "\n  plan: " << steps;
    }
  }
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  std::filesystem::create_directories(m_dir + "/store");
  {
    auto db = Db::open(m_dir + "/store/muster.db");
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99").ok());
  }
  auto s = SqliteStore::open(m_dir + "/store", Create::yes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("newer muster"), std::string::npos);
}

TEST_F(StoreTest, MissingStoreIsNotCreatedWhenAskedNotTo) {
  auto s = SqliteStore::open(m_dir + "/none", Create::no);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/none"));
}

} // namespace
} // namespace muster::store::sqlite

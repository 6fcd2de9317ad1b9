// StoreConformance: control, events, adding, cancelling, deleting,
// migrations, and the backends the suite is instantiated for.

#include "store/conformance_support.hpp"
#include "store/open.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/schema.hpp"
#include "store/sqlite/connection.hpp"
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

// -- Control, events, adding, cancelling, deleting ----------------------------

TEST_P(StoreConformance, ControlRequestIsSetKeptAndCleared) {
  auto store = open();
  auto other = open();
  auto run = held_run(*store, 1);
  EXPECT_EQ(control_request(*store, run.rid), "");
  for (const char* word : {"pause-stop", "cancel", "pause"}) {
    ASSERT_TRUE(request(*other, run.rid, word, std::nullopt, false, word, 1000).ok());
    EXPECT_EQ(control_request(*store, run.rid), word);
  }
  ASSERT_TRUE(request(*other, run.rid, std::nullopt, 4, false, "scale", 1001).ok());
  EXPECT_EQ(control_request(*store, run.rid), "pause")
      << "a scale request dropped the pause";
  EXPECT_EQ(store->control(run.rid)->target_slots, 4);
  ASSERT_TRUE(request(*other, run.rid, "", std::nullopt, false, "resume", 1002).ok());
  EXPECT_EQ(control_request(*store, run.rid), "");
  EXPECT_EQ(store->control(run.rid)->target_slots, 4);
}

TEST_P(StoreConformance, AListeningStoreHearsItsOwnRunsAndNotAnotherStores) {
  auto store = open();
  auto run = held_run(*store, 1);
  ASSERT_TRUE(store->listen(run.rid).ok());
  if (store->wake_fd() < 0) {
    EXPECT_FALSE(store->changed()); // a store without notifications polls
    return;
  }
  // Another store in the same database (a schema of its own), whose run has
  // the same number: its events are none of this store's business.
  auto other_dir = m_dir + "/other";
  auto other = GetParam().open(other_dir);
  ASSERT_TRUE(other.ok()) << why(other);
  auto other_run = make_run(**other, {}, std::vector<Spec>(1));
  ASSERT_EQ(other_run.rid, run.rid);
  const Event event{util::now_ms(), "h", "u", 1, "pause", "from a test"};
  ASSERT_TRUE((*other)->add_event(other_run.rid, event).ok());
  const auto heard = [&] {
    for (int i = 0; i < 40; ++i) { // up to 2 s
      if (store->changed()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_FALSE(heard()) << "an event of another store's run woke this one";
  auto same = open();
  ASSERT_TRUE(same->add_event(run.rid, event).ok());
  EXPECT_TRUE(heard()) << "an event of this store's run did not wake it";
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
  auto [run, c] = claimed_run(*store, 2, {0});
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(
      record(*store, run.rid, {halting(c[0], 1500, 1'000'000, "rate limit")}, 1500).ok());
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

TEST_P(StoreConformance, AddJobsCommitsItsEventWithTheJobs) {
  auto store = open();
  auto run = held_run(*store, 2);
  const auto before = event_lines(*store, run.rid);
  ASSERT_TRUE(add_jobs(*store, run.rid, {"x", "y"}).ok());
  auto after = event_lines(*store, run.rid);
  ASSERT_EQ(after.size(), before.size() + 1);
  EXPECT_EQ(after.back(), "add: 2 job(s)");
  // A rolled-back add leaves no event either.
  ASSERT_FALSE(add_jobs(*store, run.rid, {"z", "x"}).ok());
  EXPECT_EQ(event_lines(*store, run.rid), after);
}

TEST_P(StoreConformance, RetryCommitsItsEventWithTheJobs) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 2, {0});
  ASSERT_TRUE(
      record(*store, run.rid, {finished(c[0], JobState::failed, 2000)}, 2000).ok());
  RetrySelection sel;
  sel.failed = true;
  EXPECT_EQ(*store->retry(run.rid, sel, counted("retry", "failed")), 1);
  EXPECT_EQ(event_lines(*store, run.rid).back(), "retry: 1 failed");
  sel = RetrySelection{};
  sel.job_id = "nope";
  const auto before = event_lines(*store, run.rid);
  EXPECT_FALSE(store->retry(run.rid, sel, counted("retry", "nope")).ok());
  EXPECT_EQ(event_lines(*store, run.rid), before) << "a failed retry records nothing";
}

TEST_P(StoreConformance, SetControlCanSetTheRunsStateWithItsEvent) {
  auto store = open();
  auto run = held_run(*store, 1);
  ControlChange change;
  change.request = ControlRequest::pause;
  change.state = core::RunState::paused;
  ASSERT_TRUE(store->set_control(run.rid, change, event("pause", "", 5)).ok());
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::paused);
  EXPECT_EQ(control_request(*store, run.rid), "pause");
  EXPECT_EQ(event_lines(*store, run.rid).back(), "pause: ");
  // Without a state, the state stays.
  change = ControlChange{};
  change.target_slots = 3;
  ASSERT_TRUE(store->set_control(run.rid, change, event("scale", "-j 3", 6)).ok());
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::paused);
  EXPECT_EQ(control_request(*store, run.rid), "pause");
  EXPECT_EQ(store->control(run.rid)->target_slots, 3);
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
  auto store = open();
  auto [run, c] = claimed_run(*store, 5, {0, 1, 2}, 3);
  ASSERT_EQ(c.size(), 3u);
  ASSERT_TRUE(
      record(*store, run.rid,
             {retrying(c[1], 2000, 9000), finished(c[2], JobState::succeeded, 2000)},
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
  s.job_locks = {"{device}"};
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
  if (b.newest_version <= 1) {
    GTEST_SKIP() << b.name << " has one schema version so far";
  }
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
    EXPECT_EQ(run->rate, 0) << "a field a later version added lacks its default";
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
    auto beat = store.beat(run->rid, t->aid, 1, {}, util::now_ms(), 6000);
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
  EXPECT_NE(opened.error().message.find("schema version " +
                                        std::to_string(b.newest_version + 90)),
            std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find("newer muster"), std::string::npos)
      << opened.error().message;
}

// -- Backends -----------------------------------------------------------------

// Run "old123" with a pending and a succeeded job, in the columns of schema
// version 1 (every later version keeps them).
std::string old_run_sql() {
  core::RunSettings s;
  s.command = {"echo", "{}"};
  return "INSERT INTO runs (id, state, settings, columns, total, created_at, "
         "updated_at) VALUES ('old123', 'paused', '" +
         encode_settings(s) +
         "', '[]', 2, 1, 1); INSERT INTO jobs (rid, seq, id, fields, state, "
         "attempts, max_attempts) VALUES (1, 1, '1', '[\"a\"]', 'pending', 0, 1), "
         "(1, 2, '2', '[\"b\"]', 'succeeded', 1, 1);";
}

// SQLite: builds a store file at an earlier schema version by running
// the first `version` migrations, then writes run "old123" in the columns of
// version 1 (every later version keeps them).
util::Result<void> sqlite_at_version(const std::string& dir, int version) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto db = sqlite::Connection::open(dir + "/muster.db", sqlite::OpenMode::read_write);
  if (!db) {
    return db.error();
  }
  const auto& steps = sqlite::migrations();
  if (version > static_cast<int>(steps.size())) {
    return (*db)->exec("PRAGMA user_version = " + std::to_string(version));
  }
  for (int v = 0; v < version; ++v) {
    if (auto r = (*db)->exec(steps[static_cast<size_t>(v)]); !r) {
      return r;
    }
  }
  return (*db)->exec("PRAGMA user_version = " + std::to_string(version) + "; " +
                     old_run_sql());
}

Backend sqlite_backend() {
  Backend b;
  b.name = "sqlite";
  b.open = [](const std::string& dir) { return store::open(dir, Create::yes); };
  b.make_at_version = sqlite_at_version;
  b.newest_version = sqlite::current_schema_version();
  return b;
}

// PostgreSQL: the server MUSTER_TEST_POSTGRES names (scripts/postgres.sh
// starts one for `make test`). Each test's store is a schema of its own in
// that database, made afresh when the test first opens it.
std::string schema_for(const std::string& dir) {
  return "t" + std::to_string(std::hash<std::string>{}(dir));
}

std::string postgres_url(const std::string& dir) {
  const char* base = std::getenv("MUSTER_TEST_POSTGRES");
  const std::string url(base ? base : "");
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "options=-c%20search_path%3D" + schema_for(dir);
}

util::Result<void> reset_schema(const std::string& dir) {
  const std::string schema = schema_for(dir);
  auto conn = postgres::Connection::open(std::getenv("MUSTER_TEST_POSTGRES"));
  if (!conn) {
    return conn.error();
  }
  return (*conn)->exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " +
                       schema);
}

util::Result<std::unique_ptr<Store>> open_postgres(const std::string& dir) {
  if (!std::getenv("MUSTER_TEST_POSTGRES")) {
    return util::Error{"MUSTER_TEST_POSTGRES is not set"};
  }
  // The directory marks a store made: the test's first open makes both.
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) {
    if (auto r = reset_schema(dir); !r) {
      return r.error();
    }
  }
  return store::open(postgres_url(dir), Create::yes);
}

Backend postgres_backend() {
  Backend b;
  b.name = "postgres";
  b.open = open_postgres;
  // An earlier version: the test's schema made afresh, its first `version`
  // migrations run, and run "old123" written. A later one: the current
  // schema, stamped with that version.
  b.make_at_version = [](const std::string& dir, int version) -> util::Result<void> {
    const bool later = version > postgres::current_schema_version();
    if (later) {
      if (auto s = open_postgres(dir); !s) {
        return s.error();
      }
    } else {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (auto r = reset_schema(dir); !r) {
        return r;
      }
    }
    auto conn = postgres::Connection::open(postgres_url(dir));
    if (!conn) {
      return conn.error();
    }
    if (later) {
      return (*conn)->exec("UPDATE muster_schema SET version = " +
                           std::to_string(version));
    }
    for (int v = 0; v < version; ++v) {
      if (auto r = (*conn)->exec(postgres::migrations()[static_cast<size_t>(v)]); !r) {
        return r;
      }
    }
    return (*conn)->exec("CREATE TABLE muster_schema (version INTEGER NOT NULL); "
                         "INSERT INTO muster_schema VALUES (" +
                         std::to_string(version) + "); " + old_run_sql());
  };
  b.newest_version = postgres::current_schema_version();
  return b;
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(sqlite_backend(), postgres_backend()),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

} // namespace
} // namespace muster::store::conformance

// What only the SQLite backend does: the words in its columns, its run ids,
// its query plans, its schema versions and its store file. What every backend
// does is held by StoreConformance (src/store/conformance_*_test.cpp).

#include "store/codec.hpp"
#include "store/conformance_support.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "util/test_support.hpp"

#include <filesystem>
#include <gtest/gtest.h>

namespace muster::store::sqlite {
namespace {

using conformance::why;

class StoreTest : public ::testing::Test {
protected:
  std::unique_ptr<sql::SqlStore> open() {
    auto s = sqlite::open(m_dir + "/store", Create::yes);
    EXPECT_TRUE(s.ok()) << why(s);
    return s ? std::move(*s) : nullptr;
  }

  /// A run of `n` plain jobs.
  static RunRecord make_run(sql::SqlStore& store, size_t n) {
    RunRecord run;
    run.settings.command = {"echo", "{}"};
    auto r = conformance::create_run(store, run, std::vector<conformance::Spec>(n));
    EXPECT_TRUE(r.ok()) << why(r);
    return run;
  }

  /// The first column of the row `sql` selects for `id`: its text, "<null>",
  /// or "<no row>".
  static std::string stored(sql::SqlStore& store, const std::string& sql, int64_t id) {
    auto st = Statement::prepare(store.db(), sql);
    EXPECT_TRUE(st.ok()) << sql << ": " << why(st);
    std::string out = "<no row>";
    if (st) {
      auto r = st->bind(1, id).each(
          [&](Statement& row) { out = row.is_null(0) ? "<null>" : row.text(0); });
      EXPECT_TRUE(r.ok()) << sql << ": " << why(r);
    }
    return out;
  }

  util::test_support::TempDir m_tmp{"muster-store"};
  const std::string m_dir = m_tmp.path();
};

TEST_F(StoreTest, RunIdsAreSixHexDigits) {
  auto store = open();
  auto run = make_run(*store, 1);
  EXPECT_EQ(run.id.size(), 6u) << run.id;
  EXPECT_EQ(run.id.find_first_not_of("0123456789abcdef"), std::string::npos) << run.id;
}

TEST_F(StoreTest, ControlRequestsAndAgentStatesKeepTheirStoredWords) {
  auto store = open();
  auto run = make_run(*store, 1);
  auto a = conformance::take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  const std::string control = "SELECT control FROM runs WHERE rid = ?1";
  for (const char* word : {"pause", "pause-stop", "cancel"}) {
    ASSERT_TRUE(
        conformance::request(*store, run.rid, word, std::nullopt, false, word, 1).ok());
    EXPECT_EQ(stored(*store, control, run.rid), word);
  }
  ASSERT_TRUE(
      conformance::request(*store, run.rid, "", std::nullopt, false, "resume", 2).ok());
  EXPECT_EQ(stored(*store, control, run.rid), "<null>") << "no request is stored as NULL";

  const std::string state = "SELECT state FROM agents WHERE aid = ?1";
  auto b = conformance::join(*store, run.rid, 2, conformance::everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  EXPECT_EQ(stored(*store, state, a->aid), "running");
  ASSERT_TRUE(
      store->recover(run.rid, b->aid, conformance::alive_except(1), util::now_ms()).ok());
  EXPECT_EQ(stored(*store, state, a->aid), "offline");
  ASSERT_TRUE(store->stop_agent(b->aid, util::now_ms()).ok());
  EXPECT_EQ(stored(*store, state, b->aid), "stopped");
}

TEST_F(StoreTest, UpgradeRecordsTheNewestSchemaVersion) {
  const auto& steps = migrations();
  ASSERT_GT(current_schema_version(), 1);
  for (int v = 1; v < current_schema_version(); ++v) {
    SCOPED_TRACE("from schema version " + std::to_string(v));
    const std::string dir = m_dir + "/v" + std::to_string(v);
    std::filesystem::create_directories(dir);
    {
      auto db = Connection::open(dir + "/muster.db", OpenMode::read_write);
      ASSERT_TRUE(db.ok()) << why(db);
      for (int i = 0; i < v; ++i) {
        ASSERT_TRUE((*db)->exec(steps[static_cast<size_t>(i)]).ok());
      }
      ASSERT_TRUE((*db)->exec("PRAGMA user_version = " + std::to_string(v)).ok());
    }
    auto store = sqlite::open(dir, Create::yes);
    ASSERT_TRUE(store.ok()) << why(store);
    auto version = schema_version((*store)->db());
    ASSERT_TRUE(version.ok()) << why(version);
    EXPECT_EQ(*version, current_schema_version());
  }
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
    // UNIQUE (rid, id)), and no sort of what was found. One scan is allowed:
    // of the partial index of waiting jobs that need several locks, in
    // claim order, which stops at the first that needs the freed name.
    // And the claim of a run without limits sorts what its two halves found
    // (due retries, pending jobs), at most as many as the free slots each.
    for (const std::string allowed : {"SCAN jobs USING INDEX jobs_waiting_locks; ",
                                      "SCAN due; USE TEMP B-TREE FOR ORDER BY; ",
                                      "SCAN todo; USE TEMP B-TREE FOR ORDER BY; "}) {
      if (const size_t at = steps.find(allowed); at != std::string::npos) {
        steps.erase(at, allowed.size());
      }
    }
    for (const char* bad :
         {"SCAN jobs", "sqlite_autoindex_jobs_1 (rid=?)", "TEMP B-TREE"}) {
      EXPECT_EQ(steps.find(bad), std::string::npos) << sql << "\n  plan: " << steps;
    }
  }
}

TEST_F(StoreTest, MissingStoreIsNotCreatedWhenAskedNotTo) {
  auto s = sqlite::open(m_dir + "/none", Create::no);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/none"));
}
} // namespace
} // namespace muster::store::sqlite

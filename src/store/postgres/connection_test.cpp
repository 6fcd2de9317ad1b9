#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "util/test_support.hpp"

#include <chrono>
#include <cstdlib>
#include <future>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <thread>

namespace muster::store::postgres {
namespace {

TEST(MaskPassword, MasksTheUserPartOfAUrl) {
  EXPECT_EQ(mask_password("postgres://alice:s3cret@db.example.com:5432/muster"),
            "postgres://alice:***@db.example.com:5432/muster");
  EXPECT_EQ(mask_password("postgresql://alice:p%40ss@h/db?sslmode=require"),
            "postgresql://alice:***@h/db?sslmode=require");
}

TEST(MaskPassword, LeavesAUrlWithoutAPasswordAsItIs) {
  for (const char* url :
       {"postgres://alice@h/db", "postgres://h/db", "postgresql:///muster",
        "postgresql:///m?host=/tmp/x&port=5&user=u",
        "postgres://h:5432/db?options=-c%20search_path%3Ds"}) {
    EXPECT_EQ(mask_password(url), url);
  }
}

TEST(MaskPassword, MasksPasswordParameters) {
  EXPECT_EQ(mask_password("postgres://h/db?user=a&password=s3cret&sslmode=disable"),
            "postgres://h/db?user=a&password=***&sslmode=disable");
  EXPECT_EQ(mask_password("host=h password='two words' dbname=d"),
            "host=h password=*** dbname=d");
  EXPECT_EQ(mask_password("host=h password=x"), "host=h password=***");
  // A key that only ends in "password" is another key.
  EXPECT_EQ(mask_password("host=h oldpassword=x"), "host=h oldpassword=x");
}

TEST(MaskPassword, MasksAUrlInsideAMessage) {
  EXPECT_EQ(mask_password(R"(missing "]" in URI: "postgres://a:b@[::1")"),
            R"(missing "]" in URI: "postgres://a:***@[::1")");
}

TEST(DollarParams, NumbersParametersInTheOrderTheyFirstAppear) {
  std::vector<int> slots;
  EXPECT_EQ(to_dollar_params("SELECT ?1, ?2, ?1", slots), "SELECT $1, $2, $1");
  EXPECT_EQ(slots, (std::vector<int>{0, 1, 2}));
  // ?2 is not used: ?3 becomes $2, and binding ?2 binds nothing.
  EXPECT_EQ(to_dollar_params("WHERE a = ?1 AND c = ?3", slots),
            "WHERE a = $1 AND c = $2");
  EXPECT_EQ(slots, (std::vector<int>{0, 1, 0, 2}));
  EXPECT_EQ(to_dollar_params("WHERE b = ?4 AND a = ?1", slots),
            "WHERE b = $1 AND a = $2");
  EXPECT_EQ(slots[4], 1);
  EXPECT_EQ(slots[1], 2);
}

TEST(DollarParams, BareParametersFollowTheHighestSoFar) {
  std::vector<int> slots;
  EXPECT_EQ(to_dollar_params("VALUES (?, ?, ?5, ?)", slots), "VALUES ($1, $2, $3, $4)");
  EXPECT_EQ(slots[1], 1);
  EXPECT_EQ(slots[2], 2);
  EXPECT_EQ(slots[5], 3);
  EXPECT_EQ(slots[6], 4);
}

TEST(DollarParams, LeavesLiteralsNamesAndCommentsAlone) {
  std::vector<int> slots;
  EXPECT_EQ(to_dollar_params("SELECT '?1', \"a?b\", ?1 -- why?\n, ?2", slots),
            "SELECT '?1', \"a?b\", $1 -- why?\n, $2");
  EXPECT_EQ(to_dollar_params("SELECT 'it''s ?'", slots), "SELECT 'it''s ?'");
}

TEST(Connection, AMalformedUrlIsBadInputAndNamesNoPassword) {
  auto c = Connection::open("postgres://alice:s3cret@[::1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, util::ErrorKind::bad_input);
  EXPECT_EQ(c.error().message.find("s3cret"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("alice:***@"), std::string::npos) << c.error().message;
}

// -- Against the server MUSTER_TEST_POSTGRES names ---------------------------

class OnServer : public ::testing::Test {
protected:
  void SetUp() override {
    if (!std::getenv("MUSTER_TEST_POSTGRES")) {
      if (std::getenv("MUSTER_REQUIRE_POSTGRES")) {
        FAIL() << "MUSTER_REQUIRE_POSTGRES is set but MUSTER_TEST_POSTGRES is not";
      }
      GTEST_SKIP() << "MUSTER_TEST_POSTGRES is not set: no PostgreSQL server to test";
    }
  }

  static std::unique_ptr<Connection> connect() {
    auto c = Connection::open(std::getenv("MUSTER_TEST_POSTGRES"));
    EXPECT_TRUE(c.ok()) << (c ? "" : c.error().message);
    return c ? std::move(*c) : nullptr;
  }

  /// Whether `who`'s session comes to wait for the write lock within 5 s, as
  /// `watch` sees the server's locks.
  static bool comes_to_wait(Connection& watch, Connection& who) {
    const std::string sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND NOT granted AND pid = " +
                            std::to_string(PQbackendPID(who.handle()));
    for (int i = 0; i < 500; ++i) {
      auto cur = watch.prepare(sql);
      if (!cur) {
        ADD_FAILURE() << cur.error().message;
        return false;
      }
      if (auto row = (*cur)->step(); row && *row && (*cur)->int64(0) > 0) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

TEST_F(OnServer, SharedWritesRunSideBySideAndNeverBesideAnExclusiveOne) {
  auto a = connect();
  auto b = connect();
  auto c = connect();
  auto watch = connect();
  ASSERT_TRUE(a && b && c && watch);

  // Two shared transactions at once: the second does not wait.
  ASSERT_TRUE(a->begin(sql::Writes::shared).ok());
  auto second =
      std::async(std::launch::async, [&] { return b->begin(sql::Writes::shared); });
  const bool began =
      second.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  EXPECT_TRUE(began) << "a shared write waited for another shared one";
  if (!began) {
    ASSERT_TRUE(a->rollback().ok());
  }
  ASSERT_TRUE(second.get().ok());

  // An exclusive one waits for both to end.
  auto exclusive = std::async(std::launch::async, [&] {
    auto r = c->begin(sql::Writes::exclusive);
    return r ? c->commit() : r;
  });
  EXPECT_TRUE(comes_to_wait(*watch, *c)) << "an exclusive write began beside shared ones";
  EXPECT_TRUE(a->commit().ok());
  EXPECT_TRUE(comes_to_wait(*watch, *c))
      << "an exclusive write began beside a shared one";
  EXPECT_TRUE(b->commit().ok());
  ASSERT_EQ(exclusive.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(exclusive.get().ok());

  // A shared one waits for an exclusive one.
  ASSERT_TRUE(c->begin(sql::Writes::exclusive).ok());
  auto shared = std::async(std::launch::async, [&] {
    auto r = a->begin(sql::Writes::shared);
    return r ? a->commit() : r;
  });
  EXPECT_TRUE(comes_to_wait(*watch, *a))
      << "a shared write began beside an exclusive one";
  EXPECT_TRUE(c->commit().ok());
  ASSERT_EQ(shared.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(shared.get().ok());
}

// The scans of `plan` (EXPLAIN's text, a line each) that read jobs other than
// through an index condition: a sequential scan of jobs, or an index of jobs
// read from end to end, or the jobs of a whole run (through UNIQUE (rid,
// id), which no statement of the loop needs). One is allowed, as on SQLite: the partial
// index of waiting jobs that need several locks, read in claim order, which stops at the
// first that needs the freed name.
std::vector<std::string> full_scans(const std::vector<std::string>& plan) {
  std::vector<std::string> bad;
  for (size_t i = 0; i < plan.size(); ++i) {
    const std::string& line = plan[i];
    if (line.find("Seq Scan on jobs ") != std::string::npos ||
        line.find("jobs_rid_id_key") != std::string::npos) {
      bad.push_back(line);
      continue;
    }
    const bool of_jobs = line.find("Scan using jobs_") != std::string::npos ||
                         line.find("Index Scan on jobs_") != std::string::npos;
    if (!of_jobs || line.find("using jobs_waiting_locks ") != std::string::npos) {
      continue;
    }
    bool cond = false;
    for (size_t j = i + 1; j < plan.size() && plan[j].find("->") == std::string::npos;
         ++j) {
      cond = cond || plan[j].find("Index Cond:") != std::string::npos;
    }
    if (!cond) {
      bad.push_back(line);
    }
  }
  return bad;
}

TEST_F(OnServer, PerTurnStatementsNeverScanARunsJobs) {
  // Invariant 7, as on SQLite (sqlite_store_test.cpp): every statement of the
  // agent's loop finds jobs through an index condition, so that nothing
  // reads claimed or finished rows. The plans are the generic ones prepared
  // statements run with, whatever the parameters, over a table of 40,000
  // jobs in every state (analyzed), with sequential scans priced out: a
  // plan that still has one has no index to use.
  auto admin = connect();
  ASSERT_TRUE(admin);
  const std::string schema = "plan_test_" + std::to_string(getpid());
  ASSERT_TRUE(
      admin->exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema)
          .ok());
  std::string url = std::getenv("MUSTER_TEST_POSTGRES");
  url += (url.find('?') == std::string::npos ? "?" : "&") +
         std::string("options=-c%20search_path%3D") + schema;
  const util::test_support::TempDir files("muster-plan");
  auto store = open(url, files.path(), Create::yes);
  ASSERT_TRUE(store.ok()) << store.error().message;
  sql::Db& db = (*store)->db();
  ASSERT_TRUE(
      db.exec("INSERT INTO runs (rid, id, state, settings, columns, created_at, "
              "updated_at) SELECT r, 'run' || r, 'running', '{}', '[]', 0, 0 FROM "
              "generate_series(1, 4) r; "
              "INSERT INTO jobs (rid, seq, id, key, fields, state, max_attempts, "
              "retry_at, lock, aid) SELECT 1 + i % 4, i, 'j' || i, 'k' || (i % 200), "
              "'[]', (ARRAY['succeeded', 'succeeded', 'succeeded', 'failed', 'pending', "
              "'running', 'waiting', 'retrying'])[1 + i % 8], 1, i % 3, "
              "CASE WHEN i % 16 = 6 THEN 'lock' || (i % 50) END, i % 5 "
              "FROM generate_series(1, 40000) i; ANALYZE")
          .ok());
  ASSERT_TRUE(
      db.exec("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan").ok());
  const auto& sqls = (*store)->per_turn_sql();
  ASSERT_GE(sqls.size(), 20u);
  int n = 0;
  for (const auto& text : sqls) {
    std::vector<int> slots;
    const std::string sql = to_dollar_params(text, slots);
    int params = 0;
    for (const int p : slots) {
      params = std::max(params, p);
    }
    const std::string name = "plan" + std::to_string(++n);
    ASSERT_TRUE(db.exec("PREPARE " + name + " AS " + sql).ok()) << sql;
    std::string args;
    for (int i = 0; i < params; ++i) {
      args += i ? ", NULL" : "(NULL";
    }
    args += params ? ")" : "";
    auto plan = db.connection().prepare("EXPLAIN EXECUTE " + name + args);
    ASSERT_TRUE(plan.ok()) << sql;
    std::vector<std::string> lines;
    for (;;) {
      auto row = (*plan)->step();
      ASSERT_TRUE(row.ok()) << sql << ": " << row.error().message;
      if (!*row) {
        break;
      }
      lines.push_back((*plan)->text(0));
    }
    std::string shown;
    for (const auto& line : lines) {
      shown += "    " + line + "\n";
    }
    EXPECT_EQ(full_scans(lines), std::vector<std::string>{}) << sql << "\n  plan:\n"
                                                             << shown;
  }
  EXPECT_TRUE(admin->exec("DROP SCHEMA " + schema + " CASCADE").ok());
}

} // namespace
} // namespace muster::store::postgres

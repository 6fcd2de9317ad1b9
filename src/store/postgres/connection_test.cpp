#include "store/postgres/connection.hpp"

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

} // namespace
} // namespace muster::store::postgres

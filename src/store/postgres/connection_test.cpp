#include "store/postgres/connection.hpp"

#include <gtest/gtest.h>

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

} // namespace
} // namespace muster::store::postgres

#include "core/liveness.hpp"
#include "core/locks.hpp"
#include "util/time.hpp"

#include <gtest/gtest.h>

namespace muster::core {
namespace {

TEST(Locks, DescribeNamesTheHolder) {
  const int64_t since = 1'795'474'740'000;
  const std::string at = util::format_clock(since);
  EXPECT_EQ(describe_lock({"src/a.py", "3f2e1d", "Build frontend", "", since}),
            "lock src/a.py held by run 3f2e1d \"Build frontend\" since " + at);
  EXPECT_EQ(describe_lock({"phone1", "3f2e1d", "", "7", since}),
            "lock phone1 held by run 3f2e1d job 7 since " + at);
}

TEST(Liveness, GoneAfterThreeIntervals) {
  EXPECT_EQ(lease_ms(2000), 6000);
  EXPECT_FALSE(is_offline(10'000, 4'000, 2000));
  EXPECT_TRUE(is_offline(10'001, 4'000, 2000));
  // An unknown interval: a minute of silence.
  EXPECT_FALSE(is_offline(60'000, 0, 0));
  EXPECT_TRUE(is_offline(60'001, 0, 0));
}

} // namespace
} // namespace muster::core

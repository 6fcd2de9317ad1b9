#include "core/eta.hpp"

#include <gtest/gtest.h>

namespace muster::core {
namespace {

TEST(Eta, FromTheMeasuredRate) {
  EXPECT_EQ(eta_ms({.left = 100, .rate = 10}), 10'000);
  EXPECT_EQ(eta_ms({.left = 0, .rate = 0}), 0);
  EXPECT_EQ(eta_ms({.left = 5, .rate = 0}), -1) << "nothing measured, nothing to go by";
}

TEST(Eta, ARateCapIsAFloor) {
  // 60/min: one start a second, whatever the jobs' own speed.
  EXPECT_EQ(eta_ms({.left = 30, .rate = 100, .rate_interval_us = 1'000'000}), 30'000);
  EXPECT_EQ(eta_ms({.left = 30, .rate = 0, .rate_interval_us = 1'000'000}), 30'000)
      << "the cap tells the time before anything is measured";
  EXPECT_EQ(eta_ms({.left = 30, .rate = 0.5, .rate_interval_us = 1'000'000}), 60'000)
      << "jobs slower than the cap";
}

TEST(Eta, AHaltAddsItsCooldownAndARetryIsALowerBound) {
  const int64_t now = 1'000'000;
  EXPECT_EQ(eta_ms({.left = 10, .rate = 10, .now_ms = now, .halted_until = now + 60'000}),
            61'000);
  EXPECT_EQ(eta_ms({.left = 10, .rate = 10, .now_ms = now, .halted_until = now - 5}),
            1'000)
      << "a halt in the past adds nothing";
  EXPECT_EQ(eta_ms({.left = 1, .rate = 10, .now_ms = now, .retry_at = now + 30'000}),
            30'000);
  EXPECT_EQ(eta_ms({.left = 100, .rate = 10, .now_ms = now, .retry_at = now + 3'000}),
            10'000);
}

TEST(Eta, APausedRunHasNone) {
  EXPECT_EQ(eta_ms({.left = 10, .rate = 10, .paused = true}), -1);
}

} // namespace
} // namespace muster::core

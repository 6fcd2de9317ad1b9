#include "core/limits.hpp"
#include "util/timezone.hpp"

#include <gtest/gtest.h>
#include <map>

namespace muster::core {
namespace {

// 2026-11-23 22:59:00 UTC = 23:59 in Berlin (CET, UTC+1).
constexpr int64_t k_berlin_2359 = 1'795'474'740'000;

// The zones are loaded once, as a run loads its zone once.
const util::TimeZone& zone(const std::string& name) {
  static std::map<std::string, util::TimeZone> loaded;
  if (auto it = loaded.find(name); it != loaded.end()) {
    return it->second;
  }
  auto z = util::TimeZone::load(name);
  EXPECT_TRUE(z.ok()) << (z ? "" : z.error().message);
  return loaded.emplace(name, z ? *z : util::TimeZone{}).first->second;
}

TEST(Limits, DayWindowCrossesMidnightInItsOwnZone) {
  const auto before = day_window(k_berlin_2359, 0, zone("Europe/Berlin"));
  EXPECT_EQ(before.end_ms, k_berlin_2359 + 60'000); // Berlin midnight
  EXPECT_EQ(before.end_ms - before.start_ms, 24 * 3'600'000);
  const auto after = day_window(k_berlin_2359 + 61'000, 0, zone("Europe/Berlin"));
  EXPECT_EQ(after.start_ms, before.end_ms);
  // The same instant is still the 23rd in UTC: one window for both minutes.
  const auto utc = day_window(k_berlin_2359, 0, zone("UTC"));
  EXPECT_EQ(utc.start_ms, day_window(k_berlin_2359 + 61'000, 0, zone("UTC")).start_ms);
  EXPECT_EQ(format_in_zone(before.end_ms, zone("Europe/Berlin")),
            "2026-11-24 00:00 Europe/Berlin");
}

TEST(Limits, DayWindowStartsAtTheGivenTime) {
  // 23:59 Berlin with windows from 06:00: the window began at 06:00 that day.
  const auto w = day_window(k_berlin_2359, 6 * 60, zone("Europe/Berlin"));
  EXPECT_EQ(format_in_zone(w.start_ms, zone("Europe/Berlin")),
            "2026-11-23 06:00 Europe/Berlin");
  EXPECT_EQ(format_in_zone(w.end_ms, zone("Europe/Berlin")),
            "2026-11-24 06:00 Europe/Berlin");
  // 05:00 Berlin the next day is still in it.
  const auto early =
      day_window(k_berlin_2359 + 5 * 3'600'000 + 60'000, 6 * 60, zone("Europe/Berlin"));
  EXPECT_EQ(early.start_ms, w.start_ms);
}

TEST(Limits, DayWindowIs23HoursWhenClocksGoForward) {
  // 2026-03-29: Berlin goes from 02:00 CET to 03:00 CEST. Noon that day:
  const int64_t noon = 1'774'778'400'000; // 2026-03-29 10:00 UTC = 12:00 CEST
  const auto w = day_window(noon, 0, zone("Europe/Berlin"));
  EXPECT_EQ(w.end_ms - w.start_ms, 23 * 3'600'000);
  EXPECT_EQ(format_in_zone(w.start_ms, zone("Europe/Berlin")),
            "2026-03-29 00:00 Europe/Berlin");
}

TEST(Limits, RatesAndTimesOfDayParse) {
  EXPECT_EQ(*parse_rate("60/min"), 1'000'000);
  EXPECT_EQ(*parse_rate("2/s"), 500'000);
  EXPECT_EQ(*parse_rate("100/h"), 36'000'000);
  EXPECT_EQ(*parse_rate("1/day"), 86'400'000'000);
  for (const char* bad : {"60", "/min", "0/s", "x/s", "5/fortnight", "-1/s"}) {
    EXPECT_FALSE(parse_rate(bad).ok()) << bad;
  }
  EXPECT_EQ(*parse_time_of_day("00:00"), 0);
  EXPECT_EQ(*parse_time_of_day("06:30"), 390);
  for (const char* bad : {"6:30", "24:00", "12:60", "ab:cd", ""}) {
    EXPECT_FALSE(parse_time_of_day(bad).ok()) << bad;
  }
}

TEST(Limits, KeyHoldsNameEachLimitInOrder) {
  Limits l;
  l.per_key = 2;
  l.per_key_daily = 5;
  l.timezone = "Europe/Berlin";
  const auto w = day_window(k_berlin_2359, 0, zone("Europe/Berlin"));
  EXPECT_TRUE(key_holds(l, "a", KeyUsage{1, 4}, w, zone("Europe/Berlin")).empty());
  EXPECT_TRUE(key_holds(l, "", KeyUsage{9, 9}, w, zone("Europe/Berlin"))
                  .empty()); // no key, no limit
  const auto busy = key_holds(l, "a", KeyUsage{2, 1}, w, zone("Europe/Berlin"));
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].reason, "key a busy: 2/2 running");
  EXPECT_EQ(busy[0].until, 0);
  const auto both = key_holds(l, "a", KeyUsage{2, 5}, w, zone("Europe/Berlin"));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].reason,
            "key a at daily cap 5/5 until 2026-11-24 00:00 Europe/Berlin");
  EXPECT_EQ(both[1].until, w.end_ms);
  // A cap on successes counts the running ones too: each may yet succeed.
  l.count = CapCount::successes;
  EXPECT_EQ(daily_used(l, KeyUsage{1, 4}), 5);
  l.count = CapCount::attempts;
  EXPECT_EQ(daily_used(l, KeyUsage{1, 4}), 4);
}

} // namespace
} // namespace muster::core

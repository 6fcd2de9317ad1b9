#include "util/timezone.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace muster::util {
namespace {

constexpr int64_t k_hour = 3600;

// Loads a zone from the system's tz database, or says why the test skips.
std::optional<TimeZone> system_zone(const std::string& name) {
  struct stat st {};
  if (::stat(("/usr/share/zoneinfo/" + name).c_str(), &st) != 0) {
    return std::nullopt;
  }
  auto z = TimeZone::load(name);
  EXPECT_TRUE(z.ok()) << (z ? "" : z.error().message);
  return z ? std::optional<TimeZone>(*z) : std::nullopt;
}

#define LOAD_OR_SKIP(var, name)                                                          \
  const auto var##_loaded = system_zone(name);                                           \
  if (!var##_loaded) {                                                                   \
    GTEST_SKIP() << "/usr/share/zoneinfo/" << (name)                                     \
                 << " is missing (is tzdata installed?)";                                \
  }                                                                                      \
  const TimeZone& var = *var##_loaded

int64_t utc(int64_t y, int m, int d, int64_t h, int64_t min = 0) {
  return days_from_civil(y, m, d) * 86'400 + h * k_hour + min * 60;
}

TEST(CivilDate, RoundTripsAndKnowsLeapYears) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11'017);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  for (int64_t d : {-800'000, -1, 0, 59, 10'956, 20'000, 47'482, 2'000'000}) {
    const CivilDate c = civil_from_days(d);
    EXPECT_EQ(days_from_civil(c.year, c.month, c.day), d) << d;
  }
  const CivilDate leap = civil_from_days(days_from_civil(2024, 2, 28) + 1);
  EXPECT_EQ(leap.month, 2);
  EXPECT_EQ(leap.day, 29);
  EXPECT_EQ(civil_from_days(days_from_civil(2100, 2, 28) + 1).month,
            3); // 2100 is no leap year
}

TEST(TimeZone, BerlinInWinterSummerAndAtBothChanges) {
  LOAD_OR_SKIP(berlin, "Europe/Berlin");
  EXPECT_EQ(berlin.name(), "Europe/Berlin");
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 1, 15, 12)), 1 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 7, 15, 12)), 2 * k_hour);
  // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 3, 29, 1) - 1), 1 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 3, 29, 1)), 2 * k_hour);
  // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET.
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 10, 25, 1) - 1), 2 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2026, 10, 25, 1)), 1 * k_hour);
}

TEST(TimeZone, LocalTimesInGapsAndOverlapsResolveAsMktime) {
  LOAD_OR_SKIP(berlin, "Europe/Berlin");
  const int64_t spring = days_from_civil(2026, 3, 29) * 86'400;
  EXPECT_EQ(berlin.to_utc(spring), utc(2026, 3, 28, 23));               // midnight CET
  EXPECT_EQ(berlin.to_utc(spring + 12 * k_hour), utc(2026, 3, 29, 10)); // noon CEST
  // 02:30 does not happen: read with CET, the offset before the gap (03:30 CEST).
  EXPECT_EQ(berlin.to_utc(spring + 2 * k_hour + 1800), utc(2026, 3, 29, 1, 30));
  // 02:30 on 2026-10-25 happens twice: the earlier one, in CEST.
  const int64_t autumn = days_from_civil(2026, 10, 25) * 86'400;
  EXPECT_EQ(berlin.to_utc(autumn + 2 * k_hour + 1800), utc(2026, 10, 25, 0, 30));
}

TEST(TimeZone, NewYorkAndHalfHourZones) {
  LOAD_OR_SKIP(new_york, "America/New_York");
  EXPECT_EQ(new_york.utc_offset_s(utc(2026, 1, 15, 12)), -5 * k_hour);
  EXPECT_EQ(new_york.utc_offset_s(utc(2026, 7, 15, 12)), -4 * k_hour);
  // 2026-03-08 07:00 UTC: 02:00 EST becomes 03:00 EDT.
  EXPECT_EQ(new_york.utc_offset_s(utc(2026, 3, 8, 7) - 1), -5 * k_hour);
  EXPECT_EQ(new_york.utc_offset_s(utc(2026, 3, 8, 7)), -4 * k_hour);

  LOAD_OR_SKIP(kolkata, "Asia/Kolkata");
  EXPECT_EQ(kolkata.utc_offset_s(utc(2026, 7, 15, 12)), 5 * k_hour + 1800);

  // Lord Howe moves its clocks by 30 minutes: +10:30 in winter, +11 in summer.
  LOAD_OR_SKIP(lord_howe, "Australia/Lord_Howe");
  EXPECT_EQ(lord_howe.utc_offset_s(utc(2026, 7, 15, 12)), 10 * k_hour + 1800);
  EXPECT_EQ(lord_howe.utc_offset_s(utc(2026, 1, 15, 12)), 11 * k_hour);
}

TEST(TimeZone, TimesPastTheTableFollowTheFooterRule) {
  LOAD_OR_SKIP(berlin, "Europe/Berlin");
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 1, 15, 12)), 1 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 7, 15, 12)), 2 * k_hour);
  // 2100-03-28 is the last Sunday in March: the change is at 01:00 UTC.
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 3, 28, 1) - 1), 1 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 3, 28, 1)), 2 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 10, 31, 1) - 1), 2 * k_hour);
  EXPECT_EQ(berlin.utc_offset_s(utc(2100, 10, 31, 1)), 1 * k_hour);
  LOAD_OR_SKIP(lord_howe, "Australia/Lord_Howe");
  EXPECT_EQ(lord_howe.utc_offset_s(utc(2100, 1, 15, 12)), 11 * k_hour);
  EXPECT_EQ(lord_howe.utc_offset_s(utc(2100, 7, 15, 12)), 10 * k_hour + 1800);
}

TEST(TimeZone, PosixRulesParse) {
  auto cet = PosixRule::parse("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(cet.ok());
  EXPECT_EQ(cet->std_offset_s, 1 * k_hour);
  EXPECT_EQ(cet->dst_offset_s, 2 * k_hour);
  EXPECT_EQ(cet->end.time_s, 3 * k_hour);
  auto india = PosixRule::parse("IST-5:30");
  ASSERT_TRUE(india.ok());
  EXPECT_FALSE(india->has_dst);
  EXPECT_EQ(india->std_offset_s, 5 * k_hour + 1800);
  auto quoted = PosixRule::parse("<-03>3");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->std_offset_s, -3 * k_hour);
  for (const char* bad :
       {"", "C-1", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0"}) {
    EXPECT_FALSE(PosixRule::parse(bad).ok()) << bad;
  }
}

TEST(TimeZone, UtcNeedsNoFile) {
  auto z = TimeZone::load("UTC");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->utc_offset_s(utc(2026, 7, 15, 12)), 0);
  EXPECT_EQ(z->to_utc(12345), 12345);
  EXPECT_EQ(TimeZone{}.utc_offset_s(0), 0);
  EXPECT_TRUE(TimeZone::load("").ok()); // the system's zone, whatever it is
  EXPECT_EQ(TimeZone::load("")->name(), "");
}

TEST(TimeZone, BadNamesAndFilesAreRefusedNamingTheZone) {
  for (const char* bad : {"Mars/Olympus", "../../etc/passwd", "/etc/localtime",
                          "Europe/Berlin;rm", "Europe/ Berlin"}) {
    auto z = TimeZone::load(bad);
    ASSERT_FALSE(z.ok()) << bad;
    EXPECT_EQ(z.error().kind, ErrorKind::bad_input);
    EXPECT_NE(z.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << z.error().message;
  }
  auto not_tzif = TimeZone::parse("Fake/Zone", "# not a zone file\n");
  ASSERT_FALSE(not_tzif.ok());
  EXPECT_NE(not_tzif.error().message.find("Fake/Zone"), std::string::npos);
  auto truncated =
      TimeZone::parse("Cut/Short", std::string("TZif2") + std::string(20, '\0'));
  EXPECT_FALSE(truncated.ok());
  struct stat st {};
  if (::stat("/usr/share/zoneinfo/zone.tab", &st) == 0) {
    EXPECT_FALSE(
        TimeZone::load("zone.tab").ok()); // in the tz directory, but no TZif file
  }
}

} // namespace
} // namespace muster::util

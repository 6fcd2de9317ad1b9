#include "util/time.hpp"

#include <gtest/gtest.h>

namespace muster::util {
namespace {

TEST(Duration, Parses) {
  EXPECT_EQ(*parse_duration_ms("500ms"), 500);
  EXPECT_EQ(*parse_duration_ms("10s"), 10'000);
  EXPECT_EQ(*parse_duration_ms("2m"), 120'000);
  EXPECT_EQ(*parse_duration_ms("1h30m"), 5'400'000);
  EXPECT_EQ(*parse_duration_ms("1d"), 86'400'000);
  EXPECT_EQ(*parse_duration_ms("1.5"), 1500);
  EXPECT_EQ(*parse_duration_ms("0"), 0);
}

TEST(Duration, RejectsGarbage) {
  for (const char* bad : {"", "abc", "10x", "s", "1m2", "-1s", "1..5s"}) {
    auto r = parse_duration_ms(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find("expected"), std::string::npos);
    }
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(format_duration(0), "0.0s");
  EXPECT_EQ(format_duration(420), "0.4s");
  EXPECT_EQ(format_duration(12'300), "12s");
  EXPECT_EQ(format_duration(185'000), "3m05s");
  EXPECT_EQ(format_duration(7'380'000), "2h03m");
  EXPECT_EQ(format_duration(3 * 86'400'000LL + 4 * 3'600'000LL), "3d04h");
  EXPECT_EQ(format_duration(-1), "-");
}

TEST(Rate, Formats) {
  EXPECT_EQ(format_rate(2345.4), "2,345/s");
  EXPECT_EQ(format_rate(123.4), "123/s");
  EXPECT_EQ(format_rate(12.34), "12.3/s");
  EXPECT_EQ(format_rate(0.5), "0.50/s");
  EXPECT_EQ(format_rate(-1), "-");
}

TEST(Timestamp, IsIsoUtc) {
  EXPECT_EQ(format_timestamp(0), "");
  EXPECT_EQ(format_timestamp(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
}

TEST(Bytes, ParseAndFormat) {
  EXPECT_EQ(*parse_bytes("1M"), 1024u * 1024);
  EXPECT_EQ(*parse_bytes("64K"), 65536u);
  EXPECT_EQ(*parse_bytes("1MiB"), 1024u * 1024);
  EXPECT_EQ(*parse_bytes("100"), 100u);
  EXPECT_FALSE(parse_bytes("lots").ok());
  EXPECT_FALSE(parse_bytes("1Q").ok());
  EXPECT_EQ(format_bytes(512), "512B");
  EXPECT_EQ(format_bytes(1536), "1.5KiB");
  EXPECT_EQ(format_bytes(3 * 1024 * 1024), "3.0MiB");
}

} // namespace
} // namespace muster::util

#include "input/reader.hpp"
#include "input/test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace muster::input {
namespace {

using test_support::read_all;
using test_support::read_reader;
using test_support::TempFile;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(Lines, OneRecordPerLine) {
  auto r = read_all("a b\n\"q\",x\n\nlast", Format::lines);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, IsEmpty());
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_THAT(r.records[0].values, ElementsAre("a b"));
  EXPECT_EQ(r.records[0].raw, "a b");
  EXPECT_THAT(r.records[0].names, IsEmpty());
  EXPECT_EQ(r.records[0].line, 1u);
  EXPECT_THAT(r.records[1].values, ElementsAre("\"q\",x"));
  EXPECT_THAT(r.records[2].values, ElementsAre(""));
  EXPECT_EQ(r.records[2].raw, "");
  EXPECT_EQ(r.records[2].line, 3u);
  EXPECT_THAT(r.records[3].values, ElementsAre("last"));
  EXPECT_EQ(r.records[3].line, 4u);
}

TEST(Lines, NoRecordAfterFinalNewline) {
  auto r = read_all("a\nb\n", Format::lines);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("b"));
}

TEST(Lines, TrailingEmptyLineIsARecord) {
  auto r = read_all("a\n\n", Format::lines);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre(""));
}

TEST(Lines, Crlf) {
  auto r = read_all("a\r\nb\r\n\r\nc\r", Format::lines);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_THAT(r.records[0].values, ElementsAre("a"));
  EXPECT_EQ(r.records[0].raw, "a");
  EXPECT_THAT(r.records[2].values, ElementsAre(""));
  EXPECT_THAT(r.records[3].values, ElementsAre("c"));
}

TEST(Lines, OnlyOneCarriageReturnIsStripped) {
  auto r = read_all("a\r\r\nb\rc\n", Format::lines);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("a\r"));
  EXPECT_THAT(r.records[1].values, ElementsAre("b\rc"));
}

TEST(Lines, EmptyInput) {
  auto r = read_all("", Format::lines);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records, IsEmpty());
}

TEST(Lines, ByteOrderMark) {
  auto r = read_all("\xEF\xBB\xBFone\n", Format::lines);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].values, ElementsAre("one"));
}

TEST(Lines, StreamsLargeInput) {
  constexpr size_t k_rows = 200'000;
  std::string text;
  for (size_t i = 1; i <= k_rows; ++i) {
    text += "line " + std::to_string(i) + "\n";
  }
  TempFile file(text);
  auto reader = open_reader(file.path(), Format::lines);
  ASSERT_TRUE(reader) << reader.error().message;
  Record rec;
  size_t count = 0;
  while (true) {
    auto got = (*reader)->next(rec);
    ASSERT_TRUE(got) << got.error().message;
    if (!*got) {
      break;
    }
    ++count;
  }
  EXPECT_EQ(count, k_rows);
  EXPECT_THAT(rec.values, ElementsAre("line 200000"));
  EXPECT_EQ(rec.line, k_rows);
}

TEST(Args, CartesianProductLastGroupFastest) {
  auto reader = make_args_reader({{"a", "b"}, {"1", "2"}});
  auto r = read_reader(*reader);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, IsEmpty());
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_THAT(r.records[0].values, ElementsAre("a", "1"));
  EXPECT_THAT(r.records[1].values, ElementsAre("a", "2"));
  EXPECT_THAT(r.records[2].values, ElementsAre("b", "1"));
  EXPECT_THAT(r.records[3].values, ElementsAre("b", "2"));
  EXPECT_EQ(r.records[0].raw, "a 1");
  EXPECT_EQ(r.records[3].raw, "b 2");
  for (size_t i = 0; i < r.records.size(); ++i) {
    EXPECT_EQ(r.records[i].line, i + 1);
    EXPECT_THAT(r.records[i].names, IsEmpty());
  }
}

TEST(Args, ThreeGroups) {
  auto reader = make_args_reader({{"x", "y"}, {"1"}, {"p", "q", "r"}});
  auto r = read_reader(*reader);
  ASSERT_EQ(r.records.size(), 6u);
  EXPECT_EQ(r.records[0].raw, "x 1 p");
  EXPECT_EQ(r.records[2].raw, "x 1 r");
  EXPECT_EQ(r.records[3].raw, "y 1 p");
  EXPECT_EQ(r.records[5].raw, "y 1 r");
  EXPECT_EQ(r.records[5].line, 6u);
}

TEST(Args, LinkedGroupsGoSideBySideToTheShorterEnd) {
  // a b :::+ 1 2 3 ::: p q: the linked pair crossed with the last group.
  auto reader = make_args_reader({{"a", "b"}, {"1", "2", "3"}, {"p", "q"}},
                                 {false, true, false});
  auto r = read_reader(*reader);
  std::vector<std::string> raws;
  for (const auto& rec : r.records) {
    raws.push_back(rec.raw);
  }
  EXPECT_THAT(raws, ElementsAre("a 1 p", "a 1 q", "b 2 p", "b 2 q"));
}

TEST(Args, OneGroup) {
  auto reader = make_args_reader({{"a b", ""}});
  auto r = read_reader(*reader);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("a b"));
  EXPECT_EQ(r.records[0].raw, "a b");
  EXPECT_THAT(r.records[1].values, ElementsAre(""));
}

TEST(Args, EmptyGroupYieldsNothing) {
  EXPECT_THAT(read_reader(*make_args_reader({{"a", "b"}, {}})).records, IsEmpty());
  EXPECT_THAT(read_reader(*make_args_reader({{}})).records, IsEmpty());
  EXPECT_THAT(read_reader(*make_args_reader({})).records, IsEmpty());
}

TEST(Args, StaysDoneAfterTheEnd) {
  auto reader = make_args_reader({{"a"}});
  Record rec;
  EXPECT_TRUE(*reader->next(rec));
  EXPECT_FALSE(*reader->next(rec));
  EXPECT_FALSE(*reader->next(rec));
}

} // namespace
} // namespace muster::input

#include "input/reader.hpp"
#include "input/test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace muster::input {
namespace {

using test_support::read_all;
using test_support::TempFile;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;

TEST(Tsv, ReadsHeaderAndRows) {
  auto r = read_all("id\tname\n1\talice\n2\tbob", Format::tsv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("id", "name"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("1", "alice"));
  EXPECT_THAT(r.records[0].names, IsEmpty());
  EXPECT_EQ(r.records[0].raw, "1\talice");
  EXPECT_EQ(r.records[0].line, 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("2", "bob"));
  EXPECT_EQ(r.records[1].line, 3u);
}

TEST(Tsv, QuotesAndCommasAreData) {
  auto r = read_all("a\tb\n\"x\"\ty,z\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records[0].values, ElementsAre("\"x\"", "y,z"));
}

TEST(Tsv, DecodesEscapes) {
  auto r = read_all("a\\tb\tc\nx\\ty\tl1\\nl2\\r\\\\\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("a\tb", "c"));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].values, ElementsAre("x\ty", "l1\nl2\r\\"));
  // raw is the text as written.
  EXPECT_EQ(r.records[0].raw, "x\\ty\tl1\\nl2\\r\\\\");
}

TEST(Tsv, KeepsOtherBackslashes) {
  auto r = read_all("a\tb\nC:\\dir\\x\tend\\\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records[0].values, ElementsAre("C:\\dir\\x", "end\\"));
}

TEST(Tsv, EmptyFields) {
  auto r = read_all("a\tb\tc\n\t\t\nx\t\t\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("", "", ""));
  EXPECT_THAT(r.records[1].values, ElementsAre("x", "", ""));
}

TEST(Tsv, CrlfAndByteOrderMark) {
  auto r = read_all("\xEF\xBB\xBFid\tv\r\n1\t2\r\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("id", "v"));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].values, ElementsAre("1", "2"));
  EXPECT_EQ(r.records[0].raw, "1\t2");
}

TEST(Tsv, SkipsEmptyLines) {
  auto r = read_all("\na\tb\n\r\n1\t2\n\n3\t4\n", Format::tsv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].line, 4u);
  EXPECT_EQ(r.records[1].line, 6u);
}

TEST(Tsv, EmptyInput) {
  EXPECT_EQ(read_all("", Format::tsv).error, "1:1: empty input: expected a header row");
  EXPECT_EQ(read_all("\n\n", Format::tsv).error,
            "1:1: empty input: expected a header row");
}

TEST(Tsv, RaggedRows) {
  EXPECT_EQ(read_all("a\tb\n1\t2\n3\n", Format::tsv).error,
            "3:1: row has 1 field: expected 2 fields, one per header column");
  EXPECT_EQ(read_all("a\tb\n\n1\t2\t3\n", Format::tsv).error,
            "3:1: row has 3 fields: expected 2 fields, one per header column");
}

TEST(Tsv, DuplicateHeaderName) {
  EXPECT_EQ(
      read_all("id\tx\tid\n", Format::tsv).error,
      "1:6: duplicate header name \"id\" (fields 1 and 3): expected each name once");
}

TEST(Tsv, EmptyHeaderName) {
  EXPECT_EQ(read_all("a\t\tb\n", Format::tsv).error,
            "1:3: empty header name in field 2: expected every column to have a name");
  EXPECT_THAT(read_all("a\tb\t\r\n", Format::tsv).error,
              StartsWith("1:5: empty header name in field 3"));
}

TEST(Tsv, StreamsLargeInput) {
  constexpr size_t k_rows = 200'000;
  std::string text = "id\tname\n";
  for (size_t i = 1; i <= k_rows; ++i) {
    text += std::to_string(i) + "\tn\\t" + std::to_string(i) + "\n";
  }
  TempFile file(text);
  auto reader = open_reader(file.path(), Format::tsv);
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
  EXPECT_THAT(rec.values, ElementsAre("200000", "n\t200000"));
  EXPECT_EQ(rec.line, k_rows + 1);
}

} // namespace
} // namespace muster::input

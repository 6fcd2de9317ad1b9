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

TEST(Csv, ReadsHeaderAndRecords) {
  auto r = read_all("id,name,n\n1,alice,10\n2,bob,20\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("id", "name", "n"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("1", "alice", "10"));
  EXPECT_THAT(r.records[0].names, IsEmpty());
  EXPECT_EQ(r.records[0].raw, "1,alice,10");
  EXPECT_EQ(r.records[0].line, 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("2", "bob", "20"));
  EXPECT_EQ(r.records[1].line, 3u);
}

TEST(Csv, HeaderOnlyHasNoRecords) {
  auto r = read_all("a,b\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("a", "b"));
  EXPECT_THAT(r.records, IsEmpty());
}

TEST(Csv, LastRecordWithoutNewline) {
  auto r = read_all("a,b\n1,2\n3,4", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("3", "4"));
  EXPECT_EQ(r.records[1].raw, "3,4");
}

TEST(Csv, EmptyFields) {
  auto r = read_all("a,b,c\n,,\n1,,\n,,3\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_THAT(r.records[0].values, ElementsAre("", "", ""));
  EXPECT_THAT(r.records[1].values, ElementsAre("1", "", ""));
  EXPECT_THAT(r.records[2].values, ElementsAre("", "", "3"));
}

TEST(Csv, Crlf) {
  auto r = read_all("a,b\r\n1,2\r\n\"x\",\"y\"\r\n3,\r\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("a", "b"));
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_THAT(r.records[0].values, ElementsAre("1", "2"));
  EXPECT_EQ(r.records[0].raw, "1,2");
  EXPECT_THAT(r.records[1].values, ElementsAre("x", "y"));
  EXPECT_EQ(r.records[1].raw, "\"x\",\"y\"");
  EXPECT_THAT(r.records[2].values, ElementsAre("3", ""));
  EXPECT_EQ(r.records[2].raw, "3,");
}

TEST(Csv, StripsByteOrderMark) {
  auto r = read_all("\xEF\xBB\xBFid,name\n1,a\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("id", "name"));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].line, 2u);
}

TEST(Csv, ByteOrderMarkIsNotCountedInColumns) {
  auto r = read_all("\xEF\xBB\xBF"
                    "a,a\n",
                    Format::csv);
  EXPECT_THAT(r.error, StartsWith("1:3: duplicate header name \"a\""));
}

TEST(Csv, QuotedFields) {
  auto r = read_all("a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\"\"\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].values, ElementsAre("x,y", "say \"hi\"", ""));
  EXPECT_EQ(r.records[0].raw, "\"x,y\",\"say \"\"hi\"\"\",\"\"");
}

TEST(Csv, QuotedHeader) {
  auto r = read_all("\"first name\",\"a,b\"\n1,2\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("first name", "a,b"));
}

TEST(Csv, EmbeddedNewlinesKeepLineNumbers) {
  auto r = read_all("a,b\n1,\"two\nlines\"\n2,\"three\n\nlines\"\n3,x\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_THAT(r.records[0].values, ElementsAre("1", "two\nlines"));
  EXPECT_EQ(r.records[0].raw, "1,\"two\nlines\"");
  EXPECT_EQ(r.records[0].line, 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("2", "three\n\nlines"));
  EXPECT_EQ(r.records[1].line, 4u);
  EXPECT_THAT(r.records[2].values, ElementsAre("3", "x"));
  EXPECT_EQ(r.records[2].line, 7u);
}

TEST(Csv, EmbeddedCrlfIsKeptInsideQuotes) {
  auto r = read_all("a,b\r\n\"x\r\ny\",z\r\n4,5\r\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("x\r\ny", "z"));
  EXPECT_EQ(r.records[0].raw, "\"x\r\ny\",z");
  EXPECT_EQ(r.records[1].line, 4u);
}

TEST(Csv, QuotedFieldEndingAtLineBreak) {
  // The closing quote is the first byte of the next line.
  auto r = read_all("a\n\"x\n\"\n\"\n\"\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("x\n"));
  EXPECT_THAT(r.records[1].values, ElementsAre("\n"));
  EXPECT_EQ(r.records[1].line, 4u);
}

TEST(Csv, SkipsEmptyLines) {
  auto r = read_all("\n\r\na,b\n\n1,2\r\n\r\n\n3,4\n\n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, ElementsAre("a", "b"));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].line, 5u);
  EXPECT_EQ(r.records[1].line, 8u);
}

TEST(Csv, SpacesAreData) {
  auto r = read_all("a,b\n x , y \n", Format::csv);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records[0].values, ElementsAre(" x ", " y "));
}

TEST(Csv, EmptyInput) {
  EXPECT_EQ(read_all("", Format::csv).error, "1:1: empty input: expected a header row");
  EXPECT_EQ(read_all("\n\r\n\n", Format::csv).error,
            "1:1: empty input: expected a header row");
  EXPECT_EQ(read_all("\xEF\xBB\xBF", Format::csv).error,
            "1:1: empty input: expected a header row");
}

TEST(Csv, UnterminatedQuotedField) {
  auto r = read_all("a,b\n1,2\n3,\"open\nmore\n", Format::csv);
  EXPECT_EQ(r.error, "3:3: unterminated quoted field: expected a closing quote (\") "
                     "before the end of the input");
  ASSERT_EQ(r.records.size(), 1u);
}

TEST(Csv, UnterminatedQuotedFieldInHeader) {
  auto r = read_all("a,\"b\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("1:3: unterminated quoted field"));
}

TEST(Csv, UnterminatedAfterEscapedQuote) {
  auto r = read_all("a\n\"x\"\"\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("2:1: unterminated quoted field"));
}

TEST(Csv, QuoteInsideUnquotedField) {
  auto r = read_all("a,b\n1,ab\"c\n", Format::csv);
  EXPECT_EQ(r.error, "2:5: quote (\") inside an unquoted field: expected the whole "
                     "field in quotes, with each quote in it doubled (\"\")");
}

TEST(Csv, QuoteInsideUnquotedFieldInHeader) {
  auto r = read_all("a,b\"\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("1:4: quote (\") inside an unquoted field"));
}

TEST(Csv, QuoteInsideUnquotedFieldAfterMultilineField) {
  // Columns count from the start of the physical line.
  auto r = read_all("a,b\n\"x\ny\",z\"\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("3:5: quote (\") inside an unquoted field"));
}

TEST(Csv, CharacterAfterClosingQuote) {
  auto r = read_all("a,b\n\"x\"y,2\n", Format::csv);
  EXPECT_EQ(r.error, "2:4: unexpected 'y' after a closing quote: expected a comma or "
                     "the end of the line");
}

TEST(Csv, SpaceAfterClosingQuote) {
  auto r = read_all("a,b\n1,\"x\" \n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("2:6: unexpected byte 0x20 after a closing quote"));
}

TEST(Csv, CarriageReturnInsideLineAfterClosingQuote) {
  auto r = read_all("a,b\n\"x\"\r,2\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("2:4: unexpected byte 0x0D after a closing quote"));
}

TEST(Csv, CharacterAfterClosingQuoteOnLaterLine) {
  auto r = read_all("a\n\"x\nyy\"z\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("3:4: unexpected 'z' after a closing quote"));
}

TEST(Csv, TooFewFields) {
  auto r = read_all("a,b,c\n1,2,3\n\n4,5\n", Format::csv);
  EXPECT_EQ(r.error, "4:1: row has 2 fields: expected 3 fields, one per header column");
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(Csv, TooManyFields) {
  auto r = read_all("a\n1\n2,3\n", Format::csv);
  EXPECT_EQ(r.error, "3:1: row has 2 fields: expected 1 field, one per header column");
}

TEST(Csv, RaggedRowAfterMultilineRecord) {
  auto r = read_all("a,b\n1,\"x\ny\"\n2\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("4:1: row has 1 field: expected 2 fields"));
}

TEST(Csv, RaggedMultilineRowReportsItsFirstLine) {
  auto r = read_all("a,b\n1,\"x\ny\",3\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("2:1: row has 3 fields: expected 2 fields"));
}

TEST(Csv, DuplicateHeaderName) {
  auto r = read_all("id,name,id\n1,2,3\n", Format::csv);
  EXPECT_EQ(r.error, "1:9: duplicate header name \"id\" (fields 1 and 3): expected "
                     "each name once");
}

TEST(Csv, DuplicateQuotedHeaderName) {
  auto r = read_all("\n\"a\",\"a\"\n", Format::csv);
  EXPECT_THAT(r.error, StartsWith("2:5: duplicate header name \"a\" (fields 1 and 2)"));
}

TEST(Csv, EmptyHeaderName) {
  EXPECT_EQ(read_all("a,,b\n", Format::csv).error,
            "1:3: empty header name in field 2: expected every column to have a name");
  EXPECT_THAT(read_all("a,b,\n", Format::csv).error,
              StartsWith("1:5: empty header name in field 3"));
  EXPECT_THAT(read_all("a,b,\r\n", Format::csv).error,
              StartsWith("1:5: empty header name in field 3"));
  EXPECT_THAT(read_all("\"\"\n", Format::csv).error,
              StartsWith("1:1: empty header name in field 1"));
}

TEST(Csv, CannotOpen) {
  auto reader = open_reader("/nonexistent/muster/in.csv", Format::csv);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message,
            "/nonexistent/muster/in.csv: cannot open: No such file or directory");
}

TEST(Csv, LineLongerThanTheBuffer) {
  std::string big(300'000, 'x');
  auto r = read_all("a,b\n1," + big + "\n\"" + big + "\n" + big + "\",2\n", Format::csv);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].values[1], big);
  EXPECT_EQ(r.records[1].values[0], big + "\n" + big);
  EXPECT_EQ(r.records[1].line, 3u);
}

TEST(Csv, StreamsLargeInput) {
  constexpr size_t k_rows = 200'000;
  std::string text = "id,name,score,note\n";
  for (size_t i = 1; i <= k_rows; ++i) {
    text +=
        std::to_string(i) + ",name" + std::to_string(i) + "," + std::to_string(i % 97);
    // Every 1000th row has a quoted note spanning two lines.
    text += i % 1000 == 0 ? ",\"a,\nb\"\r\n" : ",plain\n";
  }
  TempFile file(text);
  auto reader = open_reader(file.path(), Format::csv);
  ASSERT_TRUE(reader) << reader.error().message;
  Record rec;
  size_t count = 0;
  for (;;) {
    auto got = (*reader)->next(rec);
    ASSERT_TRUE(got) << got.error().message;
    if (!*got) {
      break;
    }
    ++count;
  }
  EXPECT_EQ(count, k_rows);
  EXPECT_THAT(rec.values,
              ElementsAre("200000", "name200000", std::to_string(200000 % 97), "a,\nb"));
  EXPECT_EQ(rec.raw, "200000,name200000," + std::to_string(200000 % 97) + ",\"a,\nb\"");
  // Header line, one line per row, and one more for each two-line note before it.
  EXPECT_EQ(rec.line, 1 + k_rows + (k_rows / 1000 - 1));
}

TEST(Csv, ReusedRecordDropsStaleValues) {
  TempFile file("a,b\n\"x\",\"y\"\n1,2\n");
  auto reader = open_reader(file.path(), Format::csv);
  ASSERT_TRUE(reader);
  Record rec;
  rec.names = {"stale"};
  ASSERT_TRUE(*(*reader)->next(rec));
  EXPECT_THAT(rec.names, IsEmpty());
  ASSERT_TRUE(*(*reader)->next(rec));
  EXPECT_THAT(rec.values, ElementsAre("1", "2"));
  EXPECT_EQ(rec.raw, "1,2");
  EXPECT_FALSE(*(*reader)->next(rec));
}

} // namespace
} // namespace muster::input

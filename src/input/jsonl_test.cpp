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

TEST(Jsonl, KeysInDocumentOrder) {
  auto r = read_all("{\"z\":\"last\",\"a\":\"first\"}\n{\"b\":\"x\"}\n", Format::jsonl);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, IsEmpty());
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].names, ElementsAre("z", "a"));
  EXPECT_THAT(r.records[0].values, ElementsAre("last", "first"));
  EXPECT_EQ(r.records[0].raw, "{\"z\":\"last\",\"a\":\"first\"}");
  EXPECT_EQ(r.records[0].line, 1u);
  EXPECT_THAT(r.records[1].names, ElementsAre("b"));
  EXPECT_EQ(r.records[1].line, 2u);
}

TEST(Jsonl, ValueTypes) {
  auto r = read_all(R"({"s": "a \"q\"", "i": 42, "f": 1.5, "t": true, "n": null, )"
                    R"("arr": [1, "x"], "obj": {"k": [ ]}, "u": "\u00e9"})",
                    Format::jsonl);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].names,
              ElementsAre("s", "i", "f", "t", "n", "arr", "obj", "u"));
  EXPECT_THAT(r.records[0].values, ElementsAre("a \"q\"", "42", "1.5", "true", "",
                                               "[1,\"x\"]", "{\"k\":[]}", "\xC3\xA9"));
}

TEST(Jsonl, EmptyObject) {
  auto r = read_all("{}\n", Format::jsonl);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.records[0].names, IsEmpty());
  EXPECT_THAT(r.records[0].values, IsEmpty());
}

TEST(Jsonl, SkipsBlankLinesAndHandlesCrlf) {
  auto r = read_all("\n  \t\r\n{\"a\":1}\r\n\r\n{\"a\":2}", Format::jsonl);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].line, 3u);
  EXPECT_EQ(r.records[0].raw, "{\"a\":1}");
  EXPECT_EQ(r.records[1].line, 5u);
  EXPECT_THAT(r.records[1].values, ElementsAre("2"));
}

TEST(Jsonl, ByteOrderMark) {
  auto r = read_all("\xEF\xBB\xBF{\"a\":\"b\"}\n", Format::jsonl);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].raw, "{\"a\":\"b\"}");
}

TEST(Jsonl, EmptyInputHasNoRecords) {
  auto r = read_all("", Format::jsonl);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records, IsEmpty());
}

TEST(Jsonl, InvalidJson) {
  auto r = read_all("{\"a\":1}\n{\"a\":}\n", Format::jsonl);
  EXPECT_EQ(r.error, "2:6: invalid JSON: syntax error while parsing value - unexpected "
                     "'}'; expected '[', '{', or a literal");
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(Jsonl, InvalidJsonColumns) {
  EXPECT_THAT(read_all("\n  x\n", Format::jsonl).error,
              StartsWith("2:3: invalid JSON: "));
  EXPECT_THAT(read_all("{\"a\":1} x\n", Format::jsonl).error,
              StartsWith("1:9: invalid JSON: "));
  // Cut short: the column is just past the end.
  EXPECT_THAT(read_all("{\"a\":1\r\n", Format::jsonl).error,
              StartsWith("1:7: invalid JSON: "));
  EXPECT_THAT(read_all("{\"a\":\"\xFF\"}\n", Format::jsonl).error,
              StartsWith("1:7: invalid JSON: "));
}

TEST(Jsonl, InvalidJsonSaysWhatWasExpected) {
  auto r = read_all("{\"a\":tru}\n", Format::jsonl);
  EXPECT_THAT(r.error, StartsWith("1:"));
  EXPECT_THAT(r.error, ::testing::HasSubstr("expected"));
}

TEST(Jsonl, ANumberTooBigForADoubleIsAnErrorAtIt) {
  // Found by the fuzzer: the parser throws out_of_range, not parse_error.
  auto r = read_all("{\"a\":1}\n{\"b\": 1e5882}\n", Format::jsonl);
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_THAT(r.error, StartsWith("2:7: invalid JSON: number overflow parsing "
                                  "'1e5882': expected a number no bigger than"))
      << r.error;
}

TEST(Jsonl, NotAnObject) {
  EXPECT_EQ(read_all("[1,2]\n", Format::jsonl).error,
            "1:1: line holds an array: expected a JSON object");
  EXPECT_EQ(read_all("{}\n  \"s\"\n", Format::jsonl).error,
            "2:3: line holds a string: expected a JSON object");
  EXPECT_EQ(read_all("3\n", Format::jsonl).error,
            "1:1: line holds a number: expected a JSON object");
  EXPECT_EQ(read_all("null\n", Format::jsonl).error,
            "1:1: line holds null: expected a JSON object");
  EXPECT_EQ(read_all("true\n", Format::jsonl).error,
            "1:1: line holds a boolean: expected a JSON object");
}

TEST(Jsonl, ObjectSpanningLinesIsAnError) {
  auto r = read_all("{\"a\":\n1}\n", Format::jsonl);
  EXPECT_THAT(r.error, StartsWith("1:6: invalid JSON: "));
}

TEST(Jsonl, NestingIsBounded) {
  const auto nested = [](size_t depth) {
    return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}\n";
  };
  auto r = read_all(nested(512), Format::jsonl);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_EQ(
      read_all(nested(513), Format::jsonl).error,
      "1:517: arrays and objects nested deeper than 512 levels: expected at most 512");
  // Deep enough to exhaust the stack of a recursive printer: a clean error.
  EXPECT_THAT(read_all(nested(60'000), Format::jsonl).error,
              StartsWith("1:517: arrays and objects nested deeper than 512 levels"));
  // Brackets inside strings do not count.
  EXPECT_EQ(read_all("{\"a\":\"" + std::string(1000, '[') + "\"}\n", Format::jsonl).error,
            "");
}

TEST(Jsonl, ErrorsQuoteNoControlBytes) {
  auto r = read_all("{\"a\":\"\x1B]0;x\x07\"}\n", Format::jsonl);
  EXPECT_THAT(r.error, StartsWith("1:7: invalid JSON: "));
  EXPECT_EQ(r.error.find('\x1B'), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find('\x07'), std::string::npos) << r.error;
}

TEST(Jsonl, StreamsLargeInput) {
  constexpr size_t k_rows = 200'000;
  std::string text;
  for (size_t i = 1; i <= k_rows; ++i) {
    text +=
        "{\"id\":" + std::to_string(i) + ",\"name\":\"n" + std::to_string(i) + "\"}\n";
  }
  TempFile file(text);
  auto reader = open_reader(file.path(), Format::jsonl);
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
  EXPECT_THAT(rec.names, ElementsAre("id", "name"));
  EXPECT_THAT(rec.values, ElementsAre("200000", "n200000"));
  EXPECT_EQ(rec.line, k_rows);
}

} // namespace
} // namespace muster::input

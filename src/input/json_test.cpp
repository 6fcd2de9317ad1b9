#include "input/reader.hpp"
#include "input/test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace muster::input {
namespace {

using test_support::read_all;
using test_support::TempFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

TEST(Json, ANumberTooBigForADoubleIsAnErrorAtIt) {
  auto r = read_all("[{\"a\":1},\n {\"b\":1e5882}]\n", Format::json);
  EXPECT_THAT(r.error, StartsWith("2:7: invalid JSON: number overflow parsing '1e5882': "
                                  "expected a number no bigger than"))
      << r.error;
}

TEST(Json, ArrayOfObjects) {
  auto r =
      read_all("[\n  {\"z\": \"last\", \"a\": 1},\n  {\"b\": [1, {\"c\": null}]}\n]\n",
               Format::json);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.columns, IsEmpty());
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].names, ElementsAre("z", "a"));
  EXPECT_THAT(r.records[0].values, ElementsAre("last", "1"));
  EXPECT_EQ(r.records[0].raw, "{\"z\": \"last\", \"a\": 1}");
  EXPECT_EQ(r.records[0].line, 2u);
  EXPECT_EQ(r.records[0].column, 3u);
  EXPECT_THAT(r.records[1].values, ElementsAre("[1,{\"c\":null}]"));
  EXPECT_EQ(r.records[1].line, 3u);
}

TEST(Json, RowsMaySpanLines) {
  auto r = read_all("[{\"a\":\n \"x\\\"]}\"},{\"a\":\"y\"}]", Format::json);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[0].values, ElementsAre("x\"]}"));
  EXPECT_EQ(r.records[0].raw, "{\"a\":\n \"x\\\"]}\"}");
  EXPECT_EQ(r.records[1].line, 2u);
  EXPECT_EQ(r.records[1].column, 11u);
}

TEST(Json, EmptyArrayHasNoRecords) {
  auto r = read_all(" [ ] ", Format::json);
  ASSERT_EQ(r.error, "");
  EXPECT_THAT(r.records, IsEmpty());
}

TEST(Json, ArrayAtAPath) {
  const std::string doc = R"({"meta": {"n": [1, 2]}, "data": {"skip": "jobs",
  "jobs": [{"id": "a"}, {"id": "b"}], "after": {}}, "tail": [[]]})";
  auto r = read_all(doc, Format::json, "data.jobs");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_THAT(r.records[1].values, ElementsAre("b"));
  EXPECT_EQ(r.records[0].line, 2u);
  EXPECT_EQ(r.records[0].column, 12u);
  EXPECT_EQ(read_all(R"({"jobs": [{"x": 1}]})", Format::json, "jobs").records.size(), 1u);
  // Keys with escapes are compared decoded.
  EXPECT_EQ(read_all(R"({"j\u006fbs": [{"x": 1}]})", Format::json, "jobs").records.size(),
            1u);
}

TEST(Json, PathErrors) {
  EXPECT_EQ(read_all(R"({"data": {"other": []}})", Format::json, "data.jobs").error,
            "1:10: --json-path data.jobs: no key \"jobs\" in this object");
  EXPECT_EQ(read_all(R"({"data": [1]})", Format::json, "data.jobs").error,
            "1:10: --json-path data.jobs: found an array where key \"jobs\" should be: "
            "expected an object");
  EXPECT_EQ(read_all(R"({"jobs": {"a": 1}})", Format::json, "jobs").error,
            "1:10: --json-path jobs is an object: expected an array of objects");
  TempFile file("[]");
  for (const char* bad : {"a..b", ".a", "a."}) {
    auto reader = open_reader(file.path(), Format::json, bad);
    ASSERT_FALSE(reader) << bad;
    EXPECT_EQ(reader.error().message,
              std::string("--json-path ") + bad +
                  ": expected keys joined by dots, like data.jobs");
  }
}

TEST(Json, NotAnArray) {
  EXPECT_EQ(read_all("{\"jobs\": []}", Format::json).error,
            "1:1: the document is an object: expected an array of objects; give "
            "--json-path to the array inside it, or use --format jsonl for one object "
            "per line");
  EXPECT_EQ(read_all("\n \"s\"", Format::json).error,
            "2:2: the document is a string: expected an array of objects");
}

TEST(Json, ElementsMustBeObjects) {
  auto r = read_all("[{\"a\": 1},\n 2]", Format::json);
  EXPECT_EQ(r.error, "2:2: element 2 of the array is a number: expected a JSON object");
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(Json, InvalidJsonIsFoundBeforeAnyRow) {
  auto r = read_all("[{\"a\": 1},\n {\"a\": }]", Format::json);
  EXPECT_THAT(r.error, StartsWith("2:8: invalid JSON: "));
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(read_all("[{\"a\": 1}] x", Format::json).error,
              StartsWith("1:12: invalid JSON: "));
  EXPECT_THAT(read_all("[{\"a\": 1}", Format::json).error,
              StartsWith("1:10: invalid JSON: "));
  EXPECT_EQ(read_all("", Format::json).error,
            "1:1: invalid JSON: empty input: expected a JSON array of objects");
  EXPECT_EQ(read_all(" \n", Format::json).error,
            "1:2: invalid JSON: empty input: expected a JSON array of objects");
}

TEST(Json, NestingIsBounded) {
  const std::string deep =
      "[{\"a\":" + std::string(60'000, '[') + std::string(60'000, ']') + "}]";
  EXPECT_EQ(
      read_all(deep, Format::json).error,
      "1:517: arrays and objects nested deeper than 512 levels: expected at most 512");
}

TEST(Json, ByteOrderMark) {
  auto r = read_all("\xEF\xBB\xBF[{\"a\":\"b\"}]", Format::json);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].column, 2u);
}

TEST(Json, StreamsLargeInput) {
  constexpr size_t k_rows = 100'000;
  std::string text = "{\"jobs\": [\n";
  for (size_t i = 1; i <= k_rows; ++i) {
    text += "{\"id\":" + std::to_string(i) + "}" + (i < k_rows ? ",\n" : "\n");
  }
  text += "]}\n";
  TempFile file(text);
  auto reader = open_reader(file.path(), Format::json, "jobs");
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
  EXPECT_THAT(rec.values, ElementsAre("100000"));
  EXPECT_EQ(rec.line, k_rows + 1);
}

} // namespace
} // namespace muster::input

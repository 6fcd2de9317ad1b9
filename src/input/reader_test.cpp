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

TEST(Format, ParseFormat) {
  EXPECT_EQ(parse_format("csv"), Format::csv);
  EXPECT_EQ(parse_format("tsv"), Format::tsv);
  EXPECT_EQ(parse_format("jsonl"), Format::jsonl);
  EXPECT_EQ(parse_format("ndjson"), Format::jsonl);
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_EQ(parse_format("lines"), Format::lines);
  EXPECT_EQ(parse_format("CSV"), Format::csv);
  EXPECT_EQ(parse_format(""), std::nullopt);
  EXPECT_EQ(parse_format("xml"), std::nullopt);
  EXPECT_EQ(parse_format("csv "), std::nullopt);
}

TEST(Format, NamesRoundTrip) {
  for (Format f :
       {Format::csv, Format::tsv, Format::jsonl, Format::json, Format::lines}) {
    EXPECT_EQ(parse_format(format_name(f)), f);
  }
  EXPECT_EQ(format_name(Format::jsonl), "jsonl");
}

TEST(Format, ForPath) {
  EXPECT_EQ(format_for_path("jobs.csv"), Format::csv);
  EXPECT_EQ(format_for_path("dir/Jobs.CSV"), Format::csv);
  EXPECT_EQ(format_for_path("a.tsv"), Format::tsv);
  EXPECT_EQ(format_for_path("a.tab"), Format::tsv);
  EXPECT_EQ(format_for_path("a.jsonl"), Format::jsonl);
  EXPECT_EQ(format_for_path("a.ndjson"), Format::jsonl);
  EXPECT_EQ(format_for_path("a.json"), Format::json);
  EXPECT_EQ(format_for_path("a.txt"), Format::lines);
  EXPECT_EQ(format_for_path("-"), Format::lines);
  EXPECT_EQ(format_for_path("noext"), Format::lines);
  EXPECT_EQ(format_for_path("data.csv/list"), Format::lines);
  EXPECT_EQ(format_for_path("a.csv.gz"), Format::lines);
  EXPECT_EQ(format_for_path(""), Format::lines);
}

TEST(OpenReader, JsonPathIsOnlyForJson) {
  TempFile file("a\n");
  auto reader = open_reader(file.path(), Format::lines, "data.jobs");
  ASSERT_FALSE(reader);
  EXPECT_THAT(reader.error().message, ::testing::StartsWith("--json-path data.jobs: "));
}

// A NUL cannot reach a job, so every reader refuses it where it stands.
TEST(OpenReader, NulIsAnErrorInEveryFormat) {
  using namespace std::string_literals;
  EXPECT_EQ(read_all("a,b\n1,x\0y\n"s, Format::csv).error.substr(0, 14),
            "2:4: NUL byte:");
  EXPECT_EQ(read_all("a,b\n1,\"x\ny\0\"\n"s, Format::csv).error.substr(0, 14),
            "3:2: NUL byte:");
  EXPECT_EQ(read_all("a\tb\n1\t\0\n"s, Format::tsv).error.substr(0, 14),
            "2:3: NUL byte:");
  EXPECT_EQ(read_all("ok\n\0\n"s, Format::lines).error.substr(0, 14), "2:1: NUL byte:");
  EXPECT_EQ(read_all("{\"a\":\"\0\"}\n"s, Format::jsonl).error.substr(0, 14),
            "1:7: NUL byte:");
  EXPECT_EQ(read_all("[{\"a\":\"\0\"}]\n"s, Format::json).error.substr(0, 14),
            "1:8: NUL byte:");
  EXPECT_THAT(read_all("{\"a\":\"x\\u0000\"}\n", Format::jsonl).error,
              ::testing::StartsWith("1:8: \\u0000 (NUL) in a string"));
  EXPECT_THAT(read_all("[\n {\"a\\u0000\":1}]\n", Format::json).error,
              ::testing::StartsWith("2:5: \\u0000 (NUL) in a string"));
  // An escaped backslash before "u0000" is no NUL.
  EXPECT_EQ(read_all("{\"a\":\"\\\\u0000\"}\n", Format::jsonl).error, "");
}

TEST(OpenReader, CannotOpen) {
  for (Format f :
       {Format::csv, Format::tsv, Format::jsonl, Format::json, Format::lines}) {
    auto reader = open_reader("/nonexistent/muster/input", f);
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().message,
              "/nonexistent/muster/input: cannot open: No such file or directory");
  }
}

TEST(OpenReader, DirectoryFailsToRead) {
  auto reader = open_reader("/tmp", Format::lines);
  ASSERT_TRUE(reader);
  Record rec;
  auto got = (*reader)->next(rec);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message, "/tmp: cannot read: Is a directory");
}

TEST(OpenReader, ByFormatForPath) {
  TempFile file("a,b\n1,2\n", ".csv");
  auto reader = open_reader(file.path(), format_for_path(file.path()));
  ASSERT_TRUE(reader) << reader.error().message;
  auto r = read_reader(**reader);
  EXPECT_THAT(r.columns, ElementsAre("a", "b"));
  ASSERT_EQ(r.records.size(), 1u);
}

TEST(OpenReader, HeaderIsReadOnOpen) {
  TempFile file("a,a\n");
  auto reader = open_reader(file.path(), Format::csv);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message,
            file.path() + ":1:3: duplicate header name \"a\" (fields 1 and 2): expected "
                          "each name once");
}

} // namespace
} // namespace muster::input

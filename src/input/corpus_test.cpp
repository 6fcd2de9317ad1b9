// The fuzz corpus (test/fuzz/corpus/READER/) as a regression test: each file,
// fed to its reader, gives records or an error located as FILE:LINE:COLUMN
// with no raw control byte; each template file parses or fails cleanly.

#include "core/template.hpp"
#include "fuzz/checks.hpp"
#include "input/reader.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

namespace muster::input {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus(const std::string& reader) {
  std::vector<fs::path> files;
  for (const auto& entry :
       fs::directory_iterator(fs::path(MUSTER_FUZZ_CORPUS) / reader)) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Reads a whole file; returns the error, or "" when it gave only records.
std::string read_file(const std::string& path, Format format,
                      std::string_view json_path) {
  auto reader = open_reader(path, format, json_path);
  if (!reader) {
    return reader.error().message;
  }
  Record rec;
  for (;;) {
    auto got = (*reader)->next(rec);
    if (!got) {
      return got.error().message;
    }
    if (!*got) {
      return "";
    }
  }
}

class Corpus : public ::testing::TestWithParam<const char*> {};

TEST_P(Corpus, RecordsOrALocatedPrintableError) {
  const Format format = *parse_format(GetParam());
  const auto files = corpus(GetParam());
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    for (std::string_view json_path : {"", "jobs"}) {
      if (!json_path.empty() && format != Format::json) {
        continue;
      }
      const std::string error = read_file(file.string(), format, json_path);
      if (!error.empty()) {
        EXPECT_TRUE(fuzz::is_located(error, file.string())) << error;
        EXPECT_FALSE(fuzz::has_raw_control(error)) << error;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Readers, Corpus,
                         ::testing::Values("csv", "tsv", "jsonl", "json", "lines"));

TEST(Corpus, TemplatesParseOrFailCleanly) {
  for (const auto& file : corpus("template")) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    for (auto shell : {core::Shell::no, core::Shell::yes}) {
      auto t = core::Template::parse_word(text.str(), shell);
      if (!t) {
        EXPECT_FALSE(t.error().message.empty()) << file;
      }
    }
  }
}

// Cases of the corpus that must be errors, not rows.
TEST(Corpus, BoundsAreErrors) {
  const auto error = [](const char* reader, const char* name) {
    const auto path = fs::path(MUSTER_FUZZ_CORPUS) / reader / name;
    return read_file(path.string(), *parse_format(reader), "");
  };
  EXPECT_NE(error("jsonl", "deep-array-60000").find("nested deeper than 512"),
            std::string::npos);
  EXPECT_NE(error("jsonl", "deep-object-60000").find("nested deeper than 512"),
            std::string::npos);
  EXPECT_NE(error("json", "deep-object-60000").find("nested deeper than 512"),
            std::string::npos);
  for (const char* reader : {"csv", "tsv", "lines"}) {
    EXPECT_NE(error(reader, "nul").find("NUL"), std::string::npos) << reader;
  }
  EXPECT_NE(error("jsonl", "nul-escape").find("NUL"), std::string::npos);
  EXPECT_NE(error("json", "nul-escape").find("NUL"), std::string::npos);
}

} // namespace
} // namespace muster::input

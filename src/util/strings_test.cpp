#include "util/strings.hpp"

#include <gtest/gtest.h>

namespace muster::util {
namespace {

TEST(Closest, SuggestsATypoOrAPrefix) {
  const std::vector<std::string> names{"status", "list", "jobs", "logs", "resume"};
  EXPECT_EQ(util::closest("stats", names), "status");
  EXPECT_EQ(util::closest("resu", names), "resume");
  EXPECT_EQ(util::closest("lgos", names), "logs");
  EXPECT_EQ(util::closest("frobnicate", names), "");
}

TEST(Strings, ShQuote) {
  EXPECT_EQ(sh_quote("plain-word_1.txt"), "plain-word_1.txt");
  EXPECT_EQ(sh_quote(""), "''");
  EXPECT_EQ(sh_quote("a b"), "'a b'");
  EXPECT_EQ(sh_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(sh_quote("$(x)"), "'$(x)'");
}

TEST(Strings, JsonAndCsv) {
  std::string j;
  append_json_string(j, "a\"b\\c\n\x01");
  EXPECT_EQ(j, "\"a\\\"b\\\\c\\n\\u0001\"");
  std::string c;
  append_csv_field(c, "plain");
  c += ',';
  append_csv_field(c, "a,\"b\"");
  EXPECT_EQ(c, "plain,\"a,\"\"b\"\"\"");
}

TEST(Strings, TruncateColumnsIsUtf8Aware) {
  EXPECT_EQ(truncate_columns("héllo", 2), "hé");
  EXPECT_EQ(truncate_columns("abc", 10), "abc");
}

TEST(Strings, ValidUtf8KeepsTextAndReplacesWhatATextColumnRefuses) {
  EXPECT_EQ(valid_utf8("plain\ttext\n"), "plain\ttext\n");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(valid_utf8(std::string("a\0b", 3)), "a" + fffd + "b");
  EXPECT_EQ(valid_utf8("\xFF\xFE"), fffd + fffd);
  // A tail cut inside a sequence, an overlong form and a surrogate.
  EXPECT_EQ(valid_utf8("\xA9x"), fffd + "x");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), fffd + fffd);
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(valid_utf8("\xE2\x82"), fffd + fffd);
}

TEST(Strings, PrintableEscapesWhatATerminalWouldObey) {
  EXPECT_EQ(printable("plain text, été"), "plain text, été");
  EXPECT_EQ(printable("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(printable(std::string_view("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(printable("\x1B]0;title\x07\x1B[2J"), "\\x1B]0;title\\x07\\x1B[2J");
  EXPECT_EQ(printable("del\x7F"), "del\\x7F");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
  // C1 controls (U+009B is a CSI), invalid and overlong UTF-8.
  EXPECT_EQ(printable("\xC2\x9B"
                      "2J"),
            "\\xC2\\x9B2J");
  EXPECT_EQ(printable("\xFF\xC3"), "\\xFF\\xC3");
  EXPECT_EQ(printable("\xC0\xAF"), "\\xC0\\xAF");
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xED\\xA0\\x80");
  EXPECT_EQ(printable("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(ParseDigits, TakesOnlyPlainDigits) {
  EXPECT_EQ(parse_digits("42", 9), 42);
  EXPECT_EQ(parse_digits("007", 3), 7);
  EXPECT_FALSE(parse_digits("", 9));
  EXPECT_FALSE(parse_digits("-1", 9));
  EXPECT_FALSE(parse_digits("+1", 9));
  EXPECT_FALSE(parse_digits("1 ", 9));
  EXPECT_FALSE(parse_digits("1234", 3));
}

TEST(ShortenMiddle, KeepsTheStartAndTheEnd) {
  EXPECT_EQ(shorten_middle("echo hi", 20), "echo hi");
  const std::string cmd = "convert --quality 90 " + std::string(300, 'x') + " out.png";
  const std::string s = shorten_middle(cmd, 40);
  EXPECT_EQ(s.rfind("convert --quality 90", 0), 0u) << s;
  EXPECT_EQ(s.substr(s.size() - 7), "out.png") << s;
  EXPECT_NE(s.find("…"), std::string::npos) << s;
  // 40 columns: "…" is one column of three bytes.
  EXPECT_EQ(s.size(), 39u + 3u) << s;
  // A multi-byte character is never cut in two.
  const std::string wide = std::string(50, 'a') + "é" + std::string(50, 'b');
  const std::string w = shorten_middle(wide, 21);
  EXPECT_EQ(w, std::string(14, 'a') + "…" + std::string(6, 'b'));
}

} // namespace
} // namespace muster::util

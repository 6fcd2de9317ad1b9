#include "core/template.hpp"

#include <gtest/gtest.h>

namespace muster::core {
namespace {

std::vector<std::string> render(const std::vector<std::string>& words,
                                const std::vector<std::string>& names,
                                const std::vector<std::string>& values,
                                std::string_view raw, Shell shell = Shell::no) {
  auto t = Template::parse_command(words, shell);
  EXPECT_TRUE(t.ok()) << (t ? "" : t.error().message);
  RowView row{&names, &values, raw};
  JobContext ctx{"job-7", "r1a2b3", 3, 2};
  return t->render_argv(row, ctx);
}

TEST(Template, NamedAndNumberedFieldsStayInOneArgvEntry) {
  auto argv = render({"./post.sh", "--account", "{account}", "--video={2}"},
                     {"account", "video"}, {"a b; rm -rf /", "v.mp4"}, "raw");
  ASSERT_EQ(argv.size(), 4u);
  EXPECT_EQ(argv[2], "a b; rm -rf /");
  EXPECT_EQ(argv[3], "--video=v.mp4");
}

TEST(Template, WholeRowAndAttemptValues) {
  auto argv =
      render({"echo", "{}", "{job}", "{slot}", "{attempt}", "{run}"}, {}, {"x"}, "x");
  EXPECT_EQ(argv, (std::vector<std::string>{"echo", "x", "job-7", "3", "2", "r1a2b3"}));
}

TEST(Template, ParallelPathFormsPositionAndSlot) {
  auto argv = render({"{.}", "{/}", "{//}", "{/.}", "{path/.}", "{1//}", "{#}", "{%}"},
                     {"path"}, {"in/clips/a.b.mp4"}, "in/clips/a.b.mp4");
  EXPECT_EQ(argv[0], "in/clips/a.b");
  EXPECT_EQ(argv[1], "a.b.mp4");
  EXPECT_EQ(argv[2], "in/clips");
  EXPECT_EQ(argv[3], "a.b");
  EXPECT_EQ(argv[4], "a.b");
  EXPECT_EQ(argv[5], "in/clips");
  EXPECT_EQ(argv[6], "0") << "{#} is the job's position (none in this context)";
  EXPECT_EQ(argv[7], "4") << "{%} is the slot counted from 1";
  EXPECT_EQ(path_part("file", PathPart::dir), ".");
  EXPECT_EQ(path_part(".bashrc", PathPart::no_extension), ".bashrc");
  EXPECT_EQ(path_part("d.x/file", PathPart::no_extension), "d.x/file");
}

TEST(Template, NoPlaceholderAppendsTheRow) {
  auto argv = render({"gzip", "-9"}, {}, {"a.txt"}, "a.txt");
  EXPECT_EQ(argv, (std::vector<std::string>{"gzip", "-9", "a.txt"}));
}

TEST(Template, BracesEscapesAndLiteralBraces) {
  auto argv = render({"awk", "{print $1}", "{{x}}", "{}"}, {}, {"v"}, "v");
  EXPECT_EQ(argv, (std::vector<std::string>{"awk", "{print $1}", "{x}", "v"}));
}

TEST(Template, ShellVariablesAreNotPlaceholders) {
  auto argv = render({"echo ${HOME} {}"}, {}, {"v"}, "v", Shell::yes);
  EXPECT_EQ(argv[2], "echo ${HOME} v");
}

TEST(Template, TextWithoutARowGetsNothingAppended) {
  std::map<std::string, std::string> slot{{"port.web", "9001"}, {"slot_dir", "/x y/0"}};
  JobContext ctx{"", "r1", 0, 0, &slot};
  // A hook with no placeholder runs exactly as written.
  EXPECT_EQ(render_without_row("docker compose down", Shell::yes, ctx),
            "docker compose down");
  EXPECT_EQ(render_without_row("rm -rf {slot_dir}", Shell::yes, ctx), "rm -rf '/x y/0'");
  EXPECT_EQ(render_without_row("http://127.0.0.1:{port.web}/s", Shell::no, ctx),
            "http://127.0.0.1:9001/s");
}

TEST(Template, ShellQuotesEveryValue) {
  auto argv = render({"echo", "{}", ">", "out-{job}"}, {}, {"$(touch pwned); `x` 'q'"},
                     "$(touch pwned); `x` 'q'", Shell::yes);
  ASSERT_EQ(argv.size(), 3u);
  EXPECT_EQ(argv[0], "/bin/sh");
  EXPECT_EQ(argv[1], "-c");
  EXPECT_EQ(argv[2], "echo '$(touch pwned); `x` '\\''q'\\''' > out-job-7");
}

TEST(Template, ShellQuotesForTheQuotingAPlaceholderSitsIn) {
  const std::string v = "a\"$(x)`y`\\'z";
  const auto script = [&](const std::string& text) {
    return render({text}, {"v"}, {v}, v, Shell::yes)[2];
  };
  EXPECT_EQ(script("echo {v}"), "echo 'a\"$(x)`y`\\'\\''z'");
  // Inside '...': the quote is closed, the value quoted, the quote reopened.
  EXPECT_EQ(script("echo '<{v}>'"), "echo '<''a\"$(x)`y`\\'\\''z''>'");
  // Inside "...": $ ` " \ are escaped, nothing else.
  EXPECT_EQ(script("echo \"<{v}>\""), "echo \"<a\\\"\\$(x)\\`y\\`\\\\'z>\"");
  EXPECT_EQ(script("echo \"$(echo {v})\""), "echo \"$(echo 'a\"$(x)`y`\\'\\''z')\"");
  // Quotes seen through escapes and other quotes.
  EXPECT_EQ(script("echo \\\" {v} '\"' {v}"),
            "echo \\\" 'a\"$(x)`y`\\'\\''z' '\"' 'a\"$(x)`y`\\'\\''z'");
  // A placeholder in a comment renders but runs nothing.
  EXPECT_EQ(script("true # \"{v}\""), "true # \"'a\"$(x)`y`\\'\\''z'\"");
}

TEST(Template, ShellPlaceholdersWhereNoQuotingIsSafeAreRefusedWithTheFix) {
  for (const char* text : {"echo `echo {v}`", "echo \"`echo {v}`\"", "echo ${x:-{v}}",
                           "echo $'{v}'", "echo \\{v}", "cat <<EOF\n{v}\nEOF"}) {
    auto t = Template::parse_command({text}, Shell::yes);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.error().message.find("{v}"), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find("v={v}; ... \"$v\""), std::string::npos)
        << t.error().message;
  }
  auto open = Template::parse_command({"echo \"{v}"}, Shell::yes);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message.find("not closed"), std::string::npos);
  // Without --shell the same words are argv entries, and nothing is refused.
  EXPECT_TRUE(Template::parse_command({"echo `echo {v}`"}, Shell::no).ok());
  EXPECT_TRUE(Template::parse_word("echo \"{v}", Shell::no).ok());
}

TEST(Template, UnknownPlaceholderIsAnError) {
  auto t = Template::parse_command({"echo", "{acount}"}, Shell::no);
  ASSERT_TRUE(t.ok());
  auto r = t->check_fields({"account", "video"}, 2, "the command");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown placeholder {acount}"), std::string::npos);
  EXPECT_NE(r.error().message.find("account, video"), std::string::npos);
  EXPECT_TRUE(t->uses_field_names());
}

TEST(Template, FieldNumberOutOfRangeIsAnError) {
  auto t = Template::parse_command({"echo", "{3}"}, Shell::no);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->check_fields({}, 2, "the command").ok());
  EXPECT_TRUE(t->check_fields({}, 3, "the command").ok());
  EXPECT_FALSE(Template::parse_command({"echo", "{0}"}, Shell::no).ok());
}

TEST(Template, EmptyCommandIsAnError) {
  EXPECT_FALSE(Template::parse_command({}, Shell::no).ok());
}

TEST(Template, KnownFieldsAndSpecialsPass) {
  auto t =
      Template::parse_command({"x", "{a}", "{1}", "{}", "{job}", "{slot}"}, Shell::no);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->check_fields({"a"}, 1, "the command").ok());
  EXPECT_TRUE(t->uses_attempt_values());
}

TEST(Template, JsonRowsLookUpTheirOwnNames) {
  std::vector<std::string> names{"b", "a"};
  std::vector<std::string> values{"2", "1"};
  RowView row{&names, &values, "{}"};
  bool found = false;
  EXPECT_EQ(field_value(row, "a", found), "1");
  EXPECT_TRUE(found);
  EXPECT_EQ(field_value(row, "zz", found), "");
  EXPECT_FALSE(found);
}

TEST(Template, KeyTemplateRendersOneWord) {
  auto t = Template::parse_word("{account}-{1}");
  ASSERT_TRUE(t.ok());
  std::vector<std::string> names{"account"};
  std::vector<std::string> values{"alice"};
  RowView row{&names, &values, "alice"};
  EXPECT_EQ(t->render_word(row, JobContext{}), "alice-alice");
}

} // namespace
} // namespace muster::core

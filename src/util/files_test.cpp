#include "util/files.hpp"
#include "util/test_support.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace muster::util {
namespace {

using test_support::TempDir;

class CopyTree : public ::testing::Test {
protected:
  TempDir tmp{"muster-copy-tree"};
  std::string from = tmp.path() + "/store/template";
  std::string to = tmp.path() + "/store/runs/r1/slots/0";

  void SetUp() override {
    fs::create_directories(from + "/sub");
    write_file(from + "/Preferences", "prefs");
    write_file(from + "/sub/deep", "deep");
    ::chmod((from + "/Preferences").c_str(), 0640);
  }

  // Every path under the test directory that is neither in the template,
  // in the slot directory, nor one of the slot directory's parents.
  std::vector<std::string> written_outside() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path())) {
      const std::string p = e.path().string();
      const bool inside = p.rfind(from, 0) == 0 || p.rfind(to, 0) == 0;
      const bool parent = to.rfind(p + "/", 0) == 0 || from.rfind(p + "/", 0) == 0;
      if (!inside && !parent) {
        out.push_back(p);
      }
    }
    return out;
  }
};

TEST_F(CopyTree, CopiesFilesDirectoriesAndModes) {
  ASSERT_TRUE(copy_tree(from, to, {}).ok());
  EXPECT_EQ(read_file(to + "/Preferences"), "prefs");
  EXPECT_EQ(read_file(to + "/sub/deep"), "deep");
  struct stat st {};
  ASSERT_EQ(::stat((to + "/Preferences").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(CopyTree, LinksAreCopiedAsTheyAreAndNeverFollowed) {
  fs::create_directory_symlink("/etc", from + "/etc");
  fs::create_directory_symlink("../..", from + "/up");
  fs::create_symlink("../../../outside-file", from + "/sub/escape");
  fs::create_symlink("Preferences", from + "/prefs-link");
  ASSERT_TRUE(copy_tree(from, to, {}).ok());
  EXPECT_EQ(fs::read_symlink(to + "/etc"), "/etc");
  EXPECT_EQ(fs::read_symlink(to + "/up"), "../..");
  EXPECT_EQ(fs::read_symlink(to + "/sub/escape"), "../../../outside-file");
  EXPECT_EQ(fs::read_symlink(to + "/prefs-link"), "Preferences");
  EXPECT_EQ(written_outside(), std::vector<std::string>{});
  // A second setup into the same directory replaces the links, and writes
  // through none of them.
  ASSERT_TRUE(copy_tree(from, to, {}).ok());
  EXPECT_EQ(fs::read_symlink(to + "/up"), "../..");
  EXPECT_EQ(written_outside(), std::vector<std::string>{});
}

TEST_F(CopyTree, AFileIsNeverWrittenThroughALinkLeftInTheSlot) {
  const std::string victim = tmp.path() + "/victim";
  write_file(victim, "untouched");
  fs::create_directories(to);
  fs::create_symlink(victim, to + "/Preferences");
  ASSERT_TRUE(copy_tree(from, to, {}).ok());
  EXPECT_EQ(read_file(victim), "untouched");
  EXPECT_FALSE(fs::is_symlink(to + "/Preferences"));
  EXPECT_EQ(read_file(to + "/Preferences"), "prefs");
}

TEST_F(CopyTree, ExcludedNamesAreSkippedWithAllTheyHold) {
  write_file(from + "/SingletonLock", "");
  fs::create_directories(from + "/cache.lock/x");
  ASSERT_TRUE(copy_tree(from, to, {"Singleton*", "*.lock"}).ok());
  EXPECT_FALSE(fs::exists(to + "/SingletonLock"));
  EXPECT_FALSE(fs::exists(to + "/cache.lock"));
  EXPECT_TRUE(fs::exists(to + "/sub/deep"));
}

TEST_F(CopyTree, AMissingTemplateIsAnError) {
  auto r = copy_tree(tmp.path() + "/nope", to, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is not a directory"), std::string::npos);
}

} // namespace
} // namespace muster::util

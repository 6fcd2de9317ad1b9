// The store mode: what --store-mode takes, and the umask it leaves jobs.

#include "app/store.hpp"
#include "util/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace muster::app {
namespace {

TEST(StoreMode, TakesOctalModesThatLetTheOwnerIn) {
  for (const auto& [text, mode] :
       {std::pair{"0700", 0700u}, {"0750", 0750u}, {"755", 0755u}, {"0777", 0777u}}) {
    auto parsed = parse_store_mode(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, mode) << text;
  }
  for (const char* bad : {"", "rwx", "0800", "07777", "0640", "0500", "-700"}) {
    auto parsed = parse_store_mode(bad);
    ASSERT_FALSE(parsed.ok()) << "'" << bad << "' was taken";
    EXPECT_EQ(parsed.error().kind, util::ErrorKind::bad_input);
  }
}

TEST(StoreMode, JobsKeepTheUmaskMusterStartedWith) {
  const mode_t before = ::umask(022);
  util::use_store_mode(0750);
  const mode_t now = ::umask(0);
  const unsigned for_jobs = util::job_umask();
  ::umask(before);
  EXPECT_EQ(now, 027u) << "the store mode's umask";
  EXPECT_EQ(for_jobs, 022u) << "the umask jobs get";
}

} // namespace
} // namespace muster::app

// Jobs' output through the OutputWriter, read back from a pipe.

#include "ui/output.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"
#include "util/test_support.hpp"

#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

namespace muster::ui {
namespace {

/// What an OutputWriter wrote to a pipe's read end.
std::string drain(int fd) {
  return util::test_support::read_fd(fd);
}

agent::Finished finished(const std::string& id, int64_t seq, pid_t pid,
                         const std::string& out) {
  agent::Finished f;
  f.job_id = id;
  f.seq = seq;
  f.pid = pid;
  f.stdout_bytes = out.size();
  f.stdout_data = out;
  return f;
}

TEST(OutputWriter, KeepOrderHoldsLaterJobsUntilTheEarlierEnd) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  OutputOptions o;
  o.pump = false; // written at once, to read back at once
  o.mode = OutputMode::keep_order;
  o.stdout_fd = fds[1];
  {
    OutputWriter w(o, nullptr);
    w.started({"a", 1, 1, 0, 101, ""});
    w.started({"b", 2, 1, 1, 102, ""});
    w.started({"c", 3, 1, 0, 103, ""});
    w.finished(finished("b", 2, 102, "B"), "");
    w.finished(finished("c", 3, 103, "C"), "");
    EXPECT_EQ(drain(fds[0]), "") << "b and c wait for a";
    w.finished(finished("a", 1, 101, "A"), "");
    EXPECT_EQ(drain(fds[0]), "ABC");
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(OutputWriter, LineBufferNeverCutsALineAndTagsEach) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  OutputOptions o;
  o.pump = false; // written at once, to read back at once
  o.mode = OutputMode::line_buffer;
  o.tag = true;
  o.stdout_fd = fds[1];
  OutputWriter w(o, nullptr);
  w.started({"1", 1, 1, 0, 201, "x"});
  w.output(201, false, "one\ntw");
  EXPECT_EQ(drain(fds[0]), "x\tone\n");
  w.output(201, false, "o\nthr");
  EXPECT_EQ(drain(fds[0]), "x\ttwo\n");
  w.finished(finished("1", 1, 201, ""), "");
  EXPECT_EQ(drain(fds[0]), "x\tthr")
      << "the unfinished last line comes at the end, as it is";
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(OutputWriter, KeepOrderHoldsABigOutputWholeThroughTheCutToItsTail) {
  util::test_support::TempDir dir{"muster-output"};
  const std::string path = dir.path() + "/2.out";
  const std::string big(200'000, 'x');
  util::write_file(path, big);
  const std::string out_path = dir.path() + "/stdout";
  util::Fd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  OutputOptions o;
  o.pump = false; // written at once, to read back at once
  o.mode = OutputMode::keep_order;
  o.stdout_fd = out.get();
  OutputWriter w(o, nullptr);
  w.started({"a", 1, 1, 0, 301, ""});
  w.started({"b", 2, 1, 1, 302, ""});
  agent::Finished b = finished("b", 2, 302, "");
  b.stdout_bytes = big.size(); // too big to be in memory: only in its file
  b.stdout_data.clear();
  b.stdout_path = path;
  w.finished(b, "");
  util::keep_tail(path, 10); // what the agent does after finished()
  EXPECT_EQ(util::read_file(out_path), "") << "b waits for a";
  w.finished(finished("a", 1, 301, "A"), "");
  EXPECT_EQ(util::read_file(out_path), "A" + big);
  EXPECT_FALSE(std::filesystem::exists(path + ".held")) << "the link goes once written";
}

} // namespace
} // namespace muster::ui

// Jobs' output through the OutputWriter, read back from a pipe.

#include "ui/output.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace muster::ui {
namespace {

/// What an OutputWriter wrote to a pipe's read end.
std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
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

} // namespace
} // namespace muster::ui

// The output pump: a reader that does not read never holds up the writer,
// and every byte still arrives, in order.

#include "ui/output.hpp"
#include "ui/output_pump.hpp"
#include "util/files.hpp"
#include "util/test_support.hpp"

#include <chrono>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <thread>
#include <unistd.h>

namespace muster::ui {
namespace {

using util::test_support::read_fd;

TEST(OutputPump, AStalledReaderDoesNotBlockTheWriter) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0); // blocking: a direct write of 1 MiB would wait
  std::string expected;
  const auto start = std::chrono::steady_clock::now();
  {
    OutputPump pump(fds[1]);
    for (int i = 0; i < 16; ++i) {
      const std::string piece(64 * 1024, static_cast<char>('a' + i));
      pump.bytes(piece);
      expected += piece;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "queueing 1 MiB waited for the reader";
    EXPECT_FALSE(pump.backlogged()) << "1 MiB is under the soft limit";
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the reader is late
    std::string got;
    std::thread drain([&] { got = read_fd(fds[0]); });
    pump.drain();
    ::close(fds[1]);
    drain.join();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "bytes out of order or changed";
  }
  ::close(fds[0]);
}

TEST(OutputPump, AFileIsTaggedLineByLineAndItsLinkRemoved) {
  util::test_support::TempDir dir{"muster-pump"};
  const std::string path = dir.path() + "/out.held";
  util::write_file(path, "one\ntwo\nthr");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    OutputPump pump(fds[1]);
    pump.file(path, "x", true);
    pump.bytes("\n");
    pump.drain();
  }
  ::close(fds[1]);
  EXPECT_EQ(read_fd(fds[0]), "x\tone\nx\ttwo\nx\tthr\n");
  ::close(fds[0]);
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the link is removed once written";
}

TEST(OutputPump, AGoneReaderClosesIt) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  OutputPump pump(fds[1]);
  pump.bytes("lost");
  pump.drain();
  EXPECT_TRUE(pump.closed());
  ::close(fds[1]);
}

TEST(OutputWriter, APipeGoesThroughThePumpAndKeepsStderrInOrderWhenItIsTheSamePipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  OutputOptions o;
  o.stdout_fd = fds[1];
  o.stderr_fd = fds[1]; // 2>&1
  std::string got;
  std::thread reader([&] { got = read_fd(fds[0]); });
  {
    OutputWriter w(o, nullptr);
    agent::Finished f;
    f.job_id = "1";
    f.seq = 1;
    f.pid = 7;
    f.state = core::JobState::failed;
    f.stdout_data = "out\n";
    f.stdout_bytes = 4;
    f.stderr_data = "err\n";
    f.stderr_bytes = 4;
    w.started({"1", 1, 1, 0, 7, ""});
    w.finished(f, "HEADER\n");
    w.drain();
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  EXPECT_EQ(got, "HEADER\nout\nerr\n");
}

} // namespace
} // namespace muster::ui

// The live line: what it says, and what it keeps when the terminal is narrow.

#include "ui/progress.hpp"

#include <gtest/gtest.h>

namespace muster::ui {
namespace {

agent::Progress progress() {
  agent::Progress p;
  p.counts[core::JobState::succeeded] = 40;
  p.counts[core::JobState::failed] = 2;
  p.counts[core::JobState::running] = 8;
  p.total = 1000;
  p.elapsed_ms = 62'000;
  p.rate = 3.5;
  p.eta_ms = 30'000;
  return p;
}

TEST(ProgressLine, DoneCountsEveryFinishedJobWithTheFailuresBesideIt) {
  const std::string line = ProgressPrinter::line("ab12cd", progress());
  EXPECT_EQ(line.rfind("[ab12cd] 42/1,000 done, 2 failed, 8 running", 0), 0u) << line;
  EXPECT_NE(line.find("ETA 30s"), std::string::npos) << line;
}

TEST(ProgressLine, ANarrowTerminalDropsTheMiddleAndKeepsCountsAndEta) {
  for (size_t width : {60u, 50u, 40u, 30u}) {
    const std::string line = ProgressPrinter::line("ab12cd", progress(), width);
    EXPECT_LE(line.size(), width + 2) << line; // "…" is 3 bytes, 1 column
    EXPECT_NE(line.find("ETA 30s"), std::string::npos) << width << ": " << line;
  }
  const std::string at40 = ProgressPrinter::line("ab12cd", progress(), 40);
  EXPECT_NE(at40.find("42/1,000 done"), std::string::npos) << at40;
}

} // namespace
} // namespace muster::ui

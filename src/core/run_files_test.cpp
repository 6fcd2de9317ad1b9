#include "core/run_files.hpp"

#include <gtest/gtest.h>

namespace muster::core {

TEST(RunFiles, NamesEveryPathUnderTheRun) {
  const RunFiles f(".muster", "3f2e1d");
  EXPECT_EQ(f.dir(), ".muster/runs/3f2e1d");
  EXPECT_EQ(f.out_dir(), ".muster/runs/3f2e1d/out");
  EXPECT_EQ(f.job_stdout(7), ".muster/runs/3f2e1d/out/7.out");
  EXPECT_EQ(f.job_stderr(7), ".muster/runs/3f2e1d/out/7.err");
  EXPECT_EQ(f.job_result(7), ".muster/runs/3f2e1d/out/7.result");
  EXPECT_EQ(f.slot_log(2), ".muster/runs/3f2e1d/logs/slot-2.log");
  EXPECT_EQ(f.slot_stem(2, "setup"), ".muster/runs/3f2e1d/logs/slot-2.setup");
  EXPECT_EQ(f.slot_dir(2), ".muster/runs/3f2e1d/slots/2");
}

} // namespace muster::core

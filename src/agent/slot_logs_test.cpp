#include "agent/slot_logs.hpp"
#include "util/files.hpp"

#include <cstdlib>
#include <gtest/gtest.h>
#include <string>

namespace muster::agent {
namespace {

class SlotLogShipperTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/muster-slot-logs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { (void)util::remove_tree(m_dir); }
  std::string m_dir;
};

TEST_F(SlotLogShipperTest, ShipsTheLogsThatGrewAndOnlyThose) {
  util::write_file(m_dir + "/slot-0.log", "one\n");
  util::write_file(m_dir + "/slot-12.log", "twelve\n");
  util::write_file(m_dir + "/slot-0.setup.out", "not a slot log\n");
  util::write_file(m_dir + "/slot-x.log", "nor this\n");
  SlotLogShipper shipper(m_dir, "h1");
  auto first = shipper.changed();
  ASSERT_EQ(first.size(), 2u);
  for (const auto& log : first) {
    EXPECT_EQ(log.host, "h1");
    EXPECT_TRUE(log.slot == 0 || log.slot == 12) << log.slot;
    EXPECT_EQ(log.tail, log.slot == 0 ? "one\n" : "twelve\n");
    EXPECT_EQ(log.bytes, static_cast<int64_t>(log.tail.size()));
  }
  // Until shipped, the same logs are still to ship.
  EXPECT_EQ(shipper.changed().size(), 2u);
  shipper.shipped(first);
  EXPECT_TRUE(shipper.changed().empty());
  util::append_file(m_dir + "/slot-12.log", "more\n");
  auto second = shipper.changed();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].slot, 12);
  EXPECT_EQ(second[0].tail, "twelve\nmore\n");
}

TEST_F(SlotLogShipperTest, KeepsTheLastBytesOfABigLogAsValidUtf8) {
  std::string big(store::k_stored_output_bytes + 10, 'x');
  big[10] = '\xC3'; // the first byte of a two-byte character, cut at the tail's start
  big[11] = '\xA9';
  big += "\xFF end\n";
  util::write_file(m_dir + "/slot-3.log", big);
  SlotLogShipper shipper(m_dir, "h1");
  auto logs = shipper.changed();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].bytes, static_cast<int64_t>(big.size()));
  EXPECT_LE(logs[0].tail.size(), store::k_stored_output_bytes + 8);
  EXPECT_TRUE(logs[0].tail.ends_with(" end\n"));
  EXPECT_EQ(logs[0].tail.find('\xFF'), std::string::npos);
}

TEST_F(SlotLogShipperTest, AMissingDirectoryHasNothingToShip) {
  SlotLogShipper shipper(m_dir + "/absent", "h1");
  EXPECT_TRUE(shipper.changed().empty());
}

} // namespace
} // namespace muster::agent

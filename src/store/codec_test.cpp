#include "store/codec.hpp"
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace muster::store {
namespace {

TEST(SlotReportCodecTest, KeepsTheWordsEarlierVersionsStored) {
  // What an agent of the previous version wrote in agents.slot_states.
  const auto got = decode_slot_reports(
      R"([{"slot":3,"state":"busy","job":"j1","since":1700,"sidecar":"ready"},)"
      R"({"slot":4,"state":"starting","sidecar":"none"}])");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].slot, 3);
  EXPECT_EQ(got[0].activity, SlotActivity::busy);
  EXPECT_EQ(got[0].job, "j1");
  EXPECT_EQ(got[0].since, 1700);
  EXPECT_EQ(got[0].sidecar, SidecarState::ready);
  EXPECT_EQ(got[1].activity, SlotActivity::starting);
  EXPECT_EQ(got[1].job, "");
  EXPECT_EQ(got[1].sidecar, SidecarState::none);
  EXPECT_EQ(encode_slot_reports(got),
            R"([{"slot":3,"state":"busy","job":"j1","since":1700,"sidecar":"ready"},)"
            R"({"slot":4,"state":"starting","sidecar":"none"}])");
}

TEST(SlotReportCodecTest, EveryWordRoundTrips) {
  for (auto a : {SlotActivity::idle, SlotActivity::busy, SlotActivity::starting,
                 SlotActivity::restarting, SlotActivity::failed, SlotActivity::retired}) {
    EXPECT_EQ(parse_slot_activity(to_string(a)), a) << to_string(a);
  }
  for (auto s : {SidecarState::none, SidecarState::starting, SidecarState::ready,
                 SidecarState::restarting, SidecarState::failed, SidecarState::stopped}) {
    EXPECT_EQ(parse_sidecar_state(to_string(s)), s) << to_string(s);
  }
  EXPECT_EQ(parse_slot_activity("asleep"), std::nullopt);
}

TEST(SlotReportCodecTest, DamagedReportsGiveNoneRatherThanAnError) {
  EXPECT_TRUE(decode_slot_reports("").empty());
  EXPECT_TRUE(decode_slot_reports("{not json").empty());
  EXPECT_TRUE(decode_slot_reports(R"({"slot":1})").empty());
  // Fields of the wrong type take their defaults; the rest is kept.
  const auto got = decode_slot_reports(R"([7,{"slot":"x","state":3,"job":"j"}])");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].slot, -1);
  EXPECT_EQ(got[0].activity, SlotActivity::idle);
  EXPECT_EQ(got[0].job, "j");
}

TEST(FieldsCodecTest, RoundTrip) {
  std::vector<std::string> names{"b", "a"};
  std::vector<std::string> values{"x\"y", "line\nbreak"};
  std::vector<std::string> n2;
  std::vector<std::string> v2;
  ASSERT_TRUE(decode_fields(encode_fields(&names, values), n2, v2).ok());
  EXPECT_EQ(n2, names);
  EXPECT_EQ(v2, values);
  ASSERT_TRUE(decode_fields(encode_fields(nullptr, values), n2, v2).ok());
  EXPECT_TRUE(n2.empty());
  EXPECT_EQ(v2, values);
}

TEST(FieldsCodecTest, KeepsBytesThatAreNotUtf8) {
  std::vector<std::string> values{"caf\xe9", "\x01tab\tq\"", ""};
  std::vector<std::string> names;
  std::vector<std::string> back;
  ASSERT_TRUE(decode_fields(encode_fields(nullptr, values), names, back).ok());
  EXPECT_EQ(back, values);
  ASSERT_TRUE(decode_fields("[]", names, back).ok());
  EXPECT_TRUE(back.empty());
  ASSERT_TRUE(decode_fields("{\"a\":\"\\u00e9\"}", names, back).ok());
  EXPECT_EQ(back[0], "\xc3\xa9");
  EXPECT_FALSE(decode_fields("[\"a\"", names, back).ok());
  EXPECT_FALSE(decode_fields("nonsense", names, back).ok());
}

TEST(SettingsCodecTest, JobLocksRoundTripAndTheOneLockOfOlderRunsIsRead) {
  core::RunSettings s;
  s.job_locks = {"{device}", "acct-{account}"};
  auto back = decode_settings(encode_settings(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->job_locks, s.job_locks);
  // Runs made before a job could hold several locks stored one template.
  auto json = nlohmann::json::parse(encode_settings(core::RunSettings{}));
  json.erase("job_locks");
  json["job_lock"] = "{device}";
  auto old = decode_settings(json.dump());
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->job_locks, std::vector<std::string>{"{device}"});
  json["job_lock"] = "";
  EXPECT_TRUE(decode_settings(json.dump())->job_locks.empty());
}

} // namespace
} // namespace muster::store

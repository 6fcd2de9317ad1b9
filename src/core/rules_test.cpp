#include "core/rules.hpp"

#include <chrono>
#include <gtest/gtest.h>

namespace muster::core {
namespace {

Rule rule(std::string match, Action action) {
  Rule r;
  r.match = std::move(match);
  r.action = action;
  return r;
}

TEST(Rules, FirstMatchWinsAndMatchFillsErrorType) {
  Rule halt = rule("rate limit|HTTP 429", Action::halt);
  halt.cooldown_ms = 2000;
  Rule fail = rule("suspended|captcha|banned", Action::fail);
  fail.block_key = true;
  fail.error_type = "{match}";
  auto set = RuleSet::compile({halt, fail});
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto d = set->classify(Outcome::exited(1), "posting...\nerror: captcha required\n");
  EXPECT_EQ(d.action, Action::fail);
  EXPECT_EQ(d.error_type, "captcha");
  EXPECT_TRUE(d.block_key);
  EXPECT_EQ(d.source, "rule 2");
  // Both match: the first rule wins.
  d = set->classify(Outcome::exited(1), "captcha, then HTTP 429");
  EXPECT_EQ(d.action, Action::halt);
  EXPECT_EQ(d.cooldown_ms, 2000);
  // Rules apply to exit 0 too.
  EXPECT_EQ(set->classify(Outcome::exited(0), "rate limit").action, Action::halt);
  EXPECT_EQ(set->classify(Outcome::exited(1), "other").action, Action::none);
}

TEST(Rules, ExitCodesAndPatternMustBothMatch) {
  Rule r = rule("busy", Action::retry);
  r.exit_codes = {75};
  auto set = RuleSet::compile({r});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->classify(Outcome::exited(75), "busy").action, Action::retry);
  EXPECT_EQ(set->classify(Outcome::exited(75), "idle").action, Action::none);
  EXPECT_EQ(set->classify(Outcome::exited(1), "busy").action, Action::none);
  EXPECT_EQ(set->classify(Outcome::signaled(9), "busy").action, Action::none);
}

TEST(Rules, StopsByMusterAndSpawnFailuresAreNotClassified) {
  Rule any;
  any.exit_codes = {127};
  any.action = Action::succeed;
  Rule text = rule("x", Action::fail);
  auto set = RuleSet::compile({any, text});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->classify(Outcome::spawn_failed("no such file"), "x").action, Action::none);
  EXPECT_EQ(set->classify(Outcome::interrupted_by_stop(), "x").action, Action::none);
  EXPECT_EQ(set->classify(Outcome::stopped_by_halt(), "x").action, Action::none);
}

TEST(Rules, BadPatternNamesItsPlace) {
  Rule r = rule("(unclosed", Action::fail);
  r.where = "muster.toml:7";
  auto set = RuleSet::compile({r});
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.error().message.find("muster.toml:7"), std::string::npos) << set.error().message;
  EXPECT_NE(set.error().message.find("(unclosed"), std::string::npos);
}

TEST(Rules, PathologicalPatternRunsInLinearTime) {
  auto set = RuleSet::compile({rule("(a+)+$", Action::fail)});
  ASSERT_TRUE(set.ok());
  const std::string output = std::string(1 << 20, 'a') + "b";
  const auto start = std::chrono::steady_clock::now();
  auto d = set->classify(Outcome::exited(1), output);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(d.action, Action::none);
  // A backtracking engine would take longer than the universe has left.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(took).count(), 5);
}

TEST(Rules, ResultFileIsReadAndCheckedStrictly) {
  auto d = parse_result_file(
      R"({"outcome":"retry","error_type":"captcha","message":"solve it","retry_after":"30s"})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->action, Action::retry);
  EXPECT_EQ(d->error_type, "captcha");
  EXPECT_EQ(d->message, "solve it");
  EXPECT_EQ(d->retry_after_ms, 30'000);
  EXPECT_EQ(d->source, "result file");
  d = parse_result_file(R"({"outcome":"halt","cooldown":90,"block_key":false})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->cooldown_ms, 90'000);
  EXPECT_FALSE(parse_result_file("not json").ok());
  EXPECT_FALSE(parse_result_file("[]").ok());
  EXPECT_FALSE(parse_result_file(R"({"error_type":"x"})").ok());
  auto bad = parse_result_file(R"({"outcome":"maybe"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("maybe"), std::string::npos);
  EXPECT_FALSE(parse_result_file(R"({"outcome":"retry","retry_after":"soon"})").ok());
  EXPECT_FALSE(parse_result_file(R"({"outcome":"fail","block_key":"yes"})").ok());
}

TEST(Rules, DecisionsMapToStates) {
  Decision d;
  const auto failed = Outcome::exited(1);
  EXPECT_EQ(state_after(failed, d, 1, 3), JobState::retrying);
  d.action = Action::fail;
  EXPECT_EQ(state_after(failed, d, 1, 3), JobState::failed);
  d.action = Action::retry;
  EXPECT_EQ(state_after(Outcome::exited(0), d, 1, 3), JobState::retrying);
  EXPECT_EQ(state_after(Outcome::exited(0), d, 3, 3), JobState::failed);
  d.action = Action::succeed;
  EXPECT_EQ(state_after(failed, d, 3, 3), JobState::succeeded);
  d.action = Action::halt;
  EXPECT_EQ(state_after(failed, d, 3, 3), JobState::pending);
  EXPECT_EQ(state_after(Outcome::stopped_by_halt(), Decision{}, 3, 3), JobState::pending);
}

} // namespace
} // namespace muster::core

#include "core/slots.hpp"
#include "core/template.hpp"

#include <gtest/gtest.h>

namespace muster::core {
namespace {

TEST(Ports, EachSlotGetsItsOwn) {
  std::vector<PortSpec> specs{{"appium", 4723, 2, 1, "m.toml:3"},
                              {"system", 8200, 10, 10, "m.toml:4"}};
  auto plan = plan_ports(specs, 3);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->size(), 3u);
  EXPECT_EQ((*plan)[0].ports.at("appium"), std::make_pair(int64_t{4723}, int64_t{4723}));
  EXPECT_EQ((*plan)[2].ports.at("appium"), std::make_pair(int64_t{4727}, int64_t{4727}));
  EXPECT_EQ((*plan)[1].ports.at("system"), std::make_pair(int64_t{8210}, int64_t{8219}));
  auto values = slot_values((*plan)[1]);
  EXPECT_EQ(values.at("port.appium"), "4725");
  EXPECT_EQ(values.at("port.system"), "8210");
  EXPECT_EQ(values.at("port.system.last"), "8219");
  auto env = slot_env((*plan)[1]);
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_PORT_APPIUM=4725"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "MUSTER_PORT_SYSTEM_LAST=8219"), env.end());
}

TEST(Ports, OverlapsAcrossNamesAndSlotsAreErrors) {
  auto r = plan_ports({{"a", 5000, 2, 1, "m.toml:2"}, {"b", 5002, 1, 1, "m.toml:3"}}, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("m.toml:3: slots.ports.b"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("overlaps port a of slot 1"), std::string::npos);
  // One slot alone has nothing to overlap with.
  EXPECT_TRUE(plan_ports({{"a", 5000, 2, 1, ""}, {"b", 5002, 1, 1, ""}}, 1).ok());
}

TEST(Ports, RangeWiderThanStrideIsAnError) {
  auto r = plan_ports({{"s", 8200, 5, 10, "m.toml:2"}}, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("stride 5 is less than count 10"), std::string::npos);
}

TEST(Ports, OutOfRangeAndBadNamesAreErrors) {
  EXPECT_FALSE(plan_ports({{"low", 80, 1, 1, ""}}, 1).ok());
  auto high = plan_ports({{"high", 65530, 10, 1, ""}}, 2);
  ASSERT_FALSE(high.ok());
  EXPECT_NE(high.error().message.find("slot 1 would get port 65540"), std::string::npos);
  EXPECT_FALSE(plan_ports({{"bad name", 5000, 1, 1, ""}}, 1).ok());
  EXPECT_FALSE(plan_ports({{"a", 5000, 1, 1, ""}, {"a", 6000, 1, 1, ""}}, 1).ok());
  EXPECT_FALSE(plan_ports({{"a", 5000, 1, 0, ""}}, 1).ok());
}

TEST(Ports, TemplatesRenderAndCheckThem) {
  auto t = Template::parse_command({"srv", "--port={port.web}", "{port.sys.last}"}, Shell::no);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->check_ports({}, "the command").ok());
  std::vector<PortSpec> specs{{"web", 9000, 1, 1, ""}, {"sys", 9100, 10, 5, ""}};
  ASSERT_TRUE(t->check_ports(specs, "the command").ok());
  auto plan = plan_ports(specs, 2);
  auto values = slot_values((*plan)[1]);
  std::vector<std::string> names;
  std::vector<std::string> row{"x"};
  JobContext ctx{"1", "r", 1, 1, &values};
  auto argv = t->render_argv(RowView{&names, &row, "x"}, ctx);
  // Like any placeholder, a port one means the row is not appended.
  EXPECT_EQ(argv, (std::vector<std::string>{"srv", "--port=9001", "9114"}));
  auto unknown = Template::parse_command({"x", "{port.nope}"}, Shell::no);
  auto err = unknown->check_ports(specs, "the command");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("the ports are web, sys"), std::string::npos);
}

} // namespace
} // namespace muster::core

// STATS' farm figures in the gateway: scale recommendations that use the measured test and
// install durations, an org token's view of them, and their JSON.
#include <gtest/gtest.h>

#include "org_scope.hpp"
#include "reply_json.hpp"
#include "scale.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using qg::gateway::Caller;
using qg::gateway::ScaleInputs;

proto::FarmStat farm(const std::string& org, proto::Target target, const std::string& window, std::uint64_t runs,
                     std::int64_t test_p50, std::uint64_t installs, std::int64_t install_p50) {
  proto::FarmStat f;
  f.org_id = org;
  f.target = target;
  f.window = window;
  f.tests_run = runs;
  f.test_p50_ms = test_p50;
  f.installs = installs;
  f.install_p50_ms = install_p50;
  return f;
}

proto::GroupInfo group(proto::Target target, std::uint64_t depth) {
  proto::GroupInfo g;
  g.target = target;
  g.depth = depth;
  return g;
}

TEST(GatewayFarmStats, ScaleUsesTheMeasuredTestAndInstallP50sWeightedAcrossOrgs) {
  ScaleInputs in;
  in.drain_target = 10min;
  in.assumed_install = 60s;
  in.assumed_test = 60s;
  in.groups = {group(proto::Target::device, 30), group(proto::Target::device, 30)};
  // Hour: a 3 runs of 10 s, b 1 run of 30 s -> 15 s; installs: a 1 of 20 s, b 3 of 40 s -> 35 s.
  in.farm = {farm("a", proto::Target::device, "hour", 3, 10'000, 1, 20'000),
             farm("b", proto::Target::device, "hour", 1, 30'000, 3, 40'000),
             farm("a", proto::Target::device, "day", 100, 99'000, 50, 99'000)};
  in.recent_test_ms[proto::Target::device] = {1'000};  // STATS wins over LIST's samples
  const auto r = qg::gateway::recommend_scale(in)[1];
  ASSERT_EQ(r.target, proto::Target::device);
  EXPECT_EQ(r.test_ms, 15'000);
  EXPECT_TRUE(r.test_ms_measured);
  EXPECT_EQ(r.install_ms, 35'000);
  EXPECT_TRUE(r.install_ms_measured);
  EXPECT_EQ(r.install_samples, 4u);
  EXPECT_EQ(r.work_ms, 60 * 15'000 + 2 * 35'000);
  EXPECT_NE(r.reasoning.find("p50 of 4 installs in the last hour"), std::string::npos) << r.reasoning;
  EXPECT_NE(r.reasoning.find("p50 of 4 runs in the last hour"), std::string::npos) << r.reasoning;
}

TEST(GatewayFarmStats, ScaleFallsBackToTheDayThenToTheAssumedInstall) {
  ScaleInputs in;
  in.assumed_install = 60s;
  in.groups = {group(proto::Target::emulator, 5)};
  in.farm = {farm("a", proto::Target::emulator, "day", 4, 2'000, 0, 0)};
  const auto r = qg::gateway::recommend_scale(in)[0];
  EXPECT_EQ(r.test_ms, 2'000);
  EXPECT_EQ(r.measured_window, "day");
  EXPECT_FALSE(r.install_ms_measured);
  EXPECT_EQ(r.install_ms, 60'000);
  EXPECT_NE(r.reasoning.find("(assumed: no install measured)"), std::string::npos) << r.reasoning;
}

TEST(GatewayFarmStats, AnOrgTokenSeesOnlyItsOrgsFigures) {
  proto::StatsReply reply;
  reply.farm = {farm("acme", proto::Target::device, "hour", 1, 1, 0, 0),
                farm("other", proto::Target::device, "hour", 1, 1, 0, 0)};
  auto org_view = reply;
  qg::gateway::scope_stats(org_view, Caller{Caller::Role::org, "acme"});
  ASSERT_EQ(org_view.farm.size(), 1u);
  EXPECT_EQ(org_view.farm[0].org_id, "acme");
  auto admin_view = reply;
  qg::gateway::scope_stats(admin_view, Caller{Caller::Role::admin, ""});
  EXPECT_EQ(admin_view.farm.size(), 2u);
  const auto json = qg::gateway::to_json(org_view);
  ASSERT_EQ(json.at("farm").size(), 1u);
  EXPECT_EQ(json.at("farm")[0].at("org_id"), "acme");
  EXPECT_EQ(json.at("farm")[0].at("target"), "device");
  EXPECT_EQ(json.at("farm")[0].at("window"), "hour");
}

}  // namespace

// An org caller's view of farm-wide replies, as the broker gives an org key (protocol 2.1).
#include <gtest/gtest.h>

#include "org_scope.hpp"

namespace {

using qg::gateway::Caller;
namespace proto = qg::proto;

const Caller kAcme{Caller::Role::org, "acme"};
const Caller kAdmin{Caller::Role::admin, ""};

TEST(GatewayOrgScope, QueueKeepsTheOrgsGroupsAndDropsFarmCounts) {
  proto::QueueReply reply;
  reply.groups = {{"acme/v1/emulator", "acme", "v1"}, {"acmex/v1/emulator", "acmex", "v1"}};
  reply.by_status = {{"queued", 2}};
  auto admin = reply;
  qg::gateway::scope_queue(admin, kAdmin);
  EXPECT_EQ(admin.groups.size(), 2u);
  qg::gateway::scope_queue(reply, kAcme);
  ASSERT_EQ(reply.groups.size(), 1u);
  EXPECT_EQ(reply.groups[0].org_id, "acme");
  EXPECT_TRUE(reply.by_status.empty());
}

TEST(GatewayOrgScope, WorkersHideOtherOrgsGroupsAndBuilds) {
  proto::WorkersReply reply;
  proto::WorkerInfo w;
  w.worker_id = "w1";
  w.group_key = "acmex/v1/emulator";
  w.installed = {"acme/v1", "acmex/v1", "other/v2"};
  reply.workers = {w};
  qg::gateway::scope_workers(reply, kAcme);
  EXPECT_EQ(reply.workers[0].group_key, "");
  EXPECT_EQ(reply.workers[0].installed, std::vector<std::string>{"acme/v1"});
}

TEST(GatewayOrgScope, StatsAndHealthKeepOnlyTheOrgsFigures) {
  proto::StatsReply stats;
  stats.by_org = {{"acme", 3}, {"other", 9}};
  stats.by_status = {{"queued", 12}};
  stats.jobs_per_sec = 4;
  qg::gateway::scope_stats(stats, kAcme);
  EXPECT_EQ(stats.by_org.size(), 1u);
  EXPECT_EQ(stats.by_org["acme"], 3u);
  EXPECT_TRUE(stats.by_status.empty());
  EXPECT_EQ(stats.jobs_per_sec, 0);
  proto::HealthReply health;
  health.queue_depth = 12;
  qg::gateway::scope_health(health, kAcme);
  EXPECT_EQ(health.queue_depth, 0u);
}

}  // namespace

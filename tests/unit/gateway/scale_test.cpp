// Scale recommendations from queue, workers and measured durations.
#include <gtest/gtest.h>

#include "scale.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using qg::gateway::ScaleInputs;

proto::GroupInfo group(proto::Target target, std::uint64_t depth) {
  proto::GroupInfo g;
  g.target = target;
  g.depth = depth;
  return g;
}

proto::WorkerInfo worker(proto::Target target, const std::string& state) {
  proto::WorkerInfo w;
  w.targets = {target};
  w.state = state;
  return w;
}

TEST(GatewayScale, AddsDevicesToFinishTheQueueWithinTheDrainTarget) {
  ScaleInputs in;
  in.drain_target = 10min;
  in.assumed_install = 60s;
  // 100 jobs of 30 s (measured) in 4 groups: 3000 s + 240 s = 3240 s -> 6 devices of 600 s.
  in.groups = {group(proto::Target::emulator, 40), group(proto::Target::emulator, 20),
               group(proto::Target::emulator, 20), group(proto::Target::emulator, 20)};
  in.recent_test_ms[proto::Target::emulator] = {10'000, 30'000, 50'000};
  in.workers = {worker(proto::Target::emulator, "busy"), worker(proto::Target::emulator, "idle"),
                worker(proto::Target::emulator, "lost")};
  auto recs = qg::gateway::recommend_scale(in);
  ASSERT_EQ(recs.size(), 3u);
  const auto& r = recs[0];
  EXPECT_EQ(r.target, proto::Target::emulator);
  EXPECT_EQ(r.queued_jobs, 100u);
  EXPECT_EQ(r.test_ms, 30'000);
  EXPECT_TRUE(r.test_ms_measured);
  EXPECT_EQ(r.work_ms, 3'240'000);
  EXPECT_EQ(r.needed_workers, 6u);
  EXPECT_EQ(r.live_workers, 2u);
  EXPECT_EQ(r.change, 4);
  EXPECT_NE(r.reasoning.find("add 4"), std::string::npos) << r.reasoning;
}

TEST(GatewayScale, IdleDevicesCouldGoWhenThereIsNoWorkButBusyOnesStay) {
  ScaleInputs in;
  in.workers = {worker(proto::Target::device, "busy"), worker(proto::Target::device, "idle"),
                worker(proto::Target::device, "idle")};
  auto r = qg::gateway::recommend_scale(in)[1];
  EXPECT_EQ(r.target, proto::Target::device);
  EXPECT_EQ(r.needed_workers, 1u);
  EXPECT_EQ(r.change, -2);
  EXPECT_FALSE(r.test_ms_measured);
  EXPECT_NE(r.reasoning.find("2 idle could go"), std::string::npos) << r.reasoning;
}

TEST(GatewayScale, NeverMoreDevicesThanQueuedJobs) {
  ScaleInputs in;
  in.drain_target = 1s;
  in.groups = {group(proto::Target::browserstack, 3)};
  auto r = qg::gateway::recommend_scale(in)[2];
  EXPECT_EQ(r.needed_workers, 3u);
  EXPECT_EQ(r.change, 3);
}

}  // namespace

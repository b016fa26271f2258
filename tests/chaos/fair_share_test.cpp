// Fair share under a flood: one org queues 10,000 jobs; another org of the same tier then
// submits one job of the same priority. Rank order alone would run it after the whole flood;
// fair share runs it at the next claim. Real broker, scheduler, Redis and workers, as
// separate processes.
#include <gtest/gtest.h>

#include <iostream>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

TEST(FairShare, AnOrgFloodingTheQueueDoesNotMakeAnotherOrgOfItsTierWait) {
  constexpr int kGroupMax = 50;
  ClusterOptions options;
  options.broker_args = {"--group-max", std::to_string(kGroupMax)};
  options.scheduler_args = options.broker_args;
  Cluster cluster(options);
  Api api(cluster.client_endpoint());

  // The flood: 10,000 high jobs of one org, in ten builds, queued before any worker runs.
  std::vector<std::string> flood;
  for (int build = 0; build < 10; ++build) {
    std::vector<std::string> tests;
    for (int t = 0; t < 1000; ++t) tests.push_back("tests/f" + std::to_string(t) + ".spec.js");
    auto ids = api.submit("flood", "build" + std::to_string(build), tests, "flood-" + std::to_string(build), 0, 20s,
                          proto::Priority::high);
    ASSERT_EQ(ids.size(), 1000u) << "the flood's submit " << build << " failed";
    flood.insert(flood.end(), ids.begin(), ids.end());
  }
  for (const char* id : {"w1", "w2"}) {
    WorkerOptions worker;
    worker.worker_id = id;
    worker.extra_args = qg::testing::fast_worker_args();
    worker.env["FAKE_APPWRIGHT_SLEEP"] = "0.01";
    cluster.add_worker(worker);
  }
  // Both workers busy with the flood before the other org submits.
  ASSERT_TRUE(
      wait_until([&] { return api.status({flood.front()}).at(0).status != proto::JobStatus::queued; }, 30s, 20ms))
      << cluster.log("broker-0");
  const auto before = api.status(flood);
  const auto done_before = static_cast<std::size_t>(std::count_if(
      before.begin(), before.end(), [](const proto::Job& j) { return j.status != proto::JobStatus::queued; }));

  const auto started = std::chrono::steady_clock::now();
  auto victim = api.submit("small", "app", {"tests/login.spec.js"}, "small-1", 0, 5s, proto::Priority::high);
  ASSERT_EQ(victim.size(), 1u);
  ASSERT_TRUE(wait_until([&] { return api.all_final(victim); }, 60s, 20ms)) << "the small org's job never ran";
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  EXPECT_EQ(api.status(victim).at(0).status, proto::JobStatus::passed);

  // Between its submit and its end, the workers took at most the groups they were running
  // and one more each (a claim cycle each), not the flood's other 9,000-odd jobs.
  const auto after = api.status(flood);
  const auto done_after = static_cast<std::size_t>(std::count_if(
      after.begin(), after.end(), [](const proto::Job& j) { return j.status != proto::JobStatus::queued; }));
  std::cout << "fair share: the small org's job ran " << waited.count() << " ms after its submit, while "
            << done_after - done_before << " of the flood's jobs left the queue (" << 10000 - done_after
            << " still queued)" << std::endl;
  EXPECT_LE(done_after - done_before, static_cast<std::size_t>(4 * kGroupMax));
  EXPECT_GT(10000 - done_after, 9000u);
}

}  // namespace

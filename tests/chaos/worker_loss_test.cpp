// Lost workers and leases (promise 3): a worker killed mid-group has its unfinished jobs
// requeued after its lease expires, and a flood on the event channel never makes a live
// worker's lease expire.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <regex>
#include <thread>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using proto::JobStatus;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::describe;
using qg::testing::EventCollector;
using qg::testing::wait_until;
using qg::testing::with_lease;
using qg::testing::WorkerOptions;

// The lease of the last group `worker` was assigned, from its log ("assigned group ... (lease
// ID)"): no subscriber or client is shown a lease id, and the test plays the dead worker.
std::string last_lease_of(Cluster& cluster, const std::string& worker) {
  const auto log = cluster.log(worker);
  const std::regex pattern("\\(lease ([A-Za-z0-9._:-]+)\\)");
  std::string lease;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), pattern); it != std::sregex_iterator(); ++it) {
    lease = (*it)[1];
  }
  return lease;
}

WorkerOptions worker(std::string id, const std::string& test_seconds) {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.extra_args = qg::testing::fast_worker_args();
  options.env = {{"FAKE_APPWRIGHT_SLEEP", test_seconds}};
  return options;
}

TEST(WorkerLoss, AKilledWorkersJobsAreRequeuedWithAHigherAttemptAndItsLateReportIsIgnored) {
  Cluster cluster(with_lease(1500));
  EventCollector events(cluster.events_out_endpoint(), {"worker."});
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1", "1"));
  auto ids = api.submit("acme", "build-K", {"t/a.spec.ts", "t/b.spec.ts", "t/c.spec.ts", "t/d.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 4u);

  // Mid-group: one job passed, another running.
  std::vector<proto::Job> jobs;
  ASSERT_TRUE(wait_until(
      [&] {
        jobs = api.status(ids);
        return qg::testing::count_status(jobs, JobStatus::passed) >= 1 &&
               qg::testing::count_status(jobs, JobStatus::running) == 1;
      },
      30s, 20ms))
      << describe(jobs) << cluster.log("w1");
  cluster.worker(0).signal(SIGKILL);
  cluster.worker(0).wait(5s);
  jobs = api.status(ids);
  std::vector<std::string> unfinished;
  for (const auto& j : jobs) {
    if (proto::is_final(j.status)) continue;
    unfinished.push_back(j.id);
  }
  ASSERT_FALSE(unfinished.empty()) << describe(jobs);

  cluster.add_worker(worker("w2", "0"));
  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 60s, 50ms))
      << describe(api.status(ids)) << cluster.log("scheduler-0");
  for (const auto& j : api.status(unfinished)) {
    EXPECT_EQ(j.status, JobStatus::passed) << describe({j});
    EXPECT_EQ(j.attempt, 2u) << describe({j});
    EXPECT_EQ(j.worker_id, "w2") << describe({j});
  }
  ASSERT_TRUE(wait_until(
      [&] {
        events.pump();
        return events.saw_worker_state("w1", "lost");
      },
      10s, 20ms))
      << events.workers.size() << " worker events";
  const auto lease_id = last_lease_of(cluster, "w1");
  ASSERT_FALSE(lease_id.empty()) << cluster.log("w1");

  // The dead worker's report of its first attempt arrives late: ignored, nothing changes.
  proto::Report late;
  late.rid = "late-1";
  late.worker_id = "w1";
  late.lease_id = lease_id;
  late.job_id = unfinished.front();
  late.attempt = 1;
  late.status = JobStatus::failed;
  late.exit_code = 1;
  auto confirm = qg::testing::send_report(cluster.worker_endpoint(), late);
  ASSERT_TRUE(confirm.has_value());
  EXPECT_FALSE(confirm->accepted);
  EXPECT_FALSE(confirm->reason.empty());
  auto after = api.status({late.job_id});
  EXPECT_EQ(after.at(0).status, JobStatus::passed) << describe(after);
  EXPECT_EQ(after.at(0).attempt, 2u);
}

TEST(WorkerLoss, AReportFromALostLeaseIsIgnoredBeforeTheJobIsClaimedAgain) {
  Cluster cluster(with_lease(1000));
  EventCollector events(cluster.events_out_endpoint(), {"worker."});
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1", "30"));
  auto ids = api.submit("acme", "build-L", {"t/a.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 1u);
  std::vector<proto::Job> jobs;
  ASSERT_TRUE(wait_until(
      [&] {
        jobs = api.status(ids);
        return jobs.at(0).status == JobStatus::running;
      },
      30s, 20ms));
  cluster.worker(0).signal(SIGKILL);
  ASSERT_TRUE(wait_until(
      [&] {
        events.pump();
        return events.saw_worker_state("w1", "lost");
      },
      20s, 20ms));
  const auto lease_id = last_lease_of(cluster, "w1");
  ASSERT_FALSE(lease_id.empty()) << cluster.log("w1");
  proto::Report late;
  late.rid = "late-2";
  late.worker_id = "w1";
  late.lease_id = lease_id;
  late.job_id = ids.at(0);
  late.attempt = 1;
  late.status = JobStatus::passed;
  auto confirm = qg::testing::send_report(cluster.worker_endpoint(), late);
  ASSERT_TRUE(confirm.has_value());
  EXPECT_FALSE(confirm->accepted);
  EXPECT_EQ(confirm->reason, "stale_attempt");  // its lease expired: that attempt is over
  auto after = api.status(ids);
  EXPECT_FALSE(proto::is_final(after.at(0).status)) << describe(after);
}

// Hundreds of simulated workers publish heartbeats as fast as they can on the broker's
// events-in while two real workers run tests twice as long as the lease.
TEST(WorkerLoss, AFloodOfHeartbeatsOnTheEventChannelCausesNoFalseLeaseExpiry) {
  // Lease 3 s, tests 6 s: a tighter lease makes this a test of the machine's scheduling
  // under load (the flood saturates one of two cores) rather than of qgjob.
  Cluster cluster(with_lease(3000));
  EventCollector events(cluster.events_out_endpoint(), {"worker.", "hb.sim-"});
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1", "6"));
  cluster.add_worker(worker("w2", "6"));

  constexpr int kPublishers = 300;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::thread flood([&] {
    zmq::context_t context(1);
    std::vector<zmq::socket_t> pubs;
    for (int i = 0; i < kPublishers; ++i) {
      pubs.emplace_back(context, zmq::socket_type::pub);
      qg::set_common_options(pubs.back());
      pubs.back().connect(cluster.events_in_endpoint());
    }
    std::uint64_t seq = 0;
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (!stop && std::chrono::steady_clock::now() < give_up && sent < 3'000'000) {
      for (int i = 0; i < kPublishers; ++i) {
        proto::Heartbeat hb;
        hb.worker_id = "sim-" + std::to_string(i);
        hb.state = "busy";
        hb.lease_id = "sim-lease-" + std::to_string(i);
        hb.seq = ++seq;
        if (qg::send_multipart(pubs[static_cast<std::size_t>(i)],
                               {"hb." + hb.worker_id, std::string(proto::kEventProtocol),
                                std::string(proto::Heartbeat::command), proto::encode(hb)})) {
          ++sent;
        }
      }
    }
  });

  auto a = api.submit("acme", "build-F1", {"t/a.spec.ts", "t/b.spec.ts"}, "k1");
  auto b = api.submit("acme", "build-F2", {"t/a.spec.ts", "t/b.spec.ts"}, "k2");
  std::vector<std::string> ids = a;
  ids.insert(ids.end(), b.begin(), b.end());
  ASSERT_EQ(ids.size(), 4u);
  bool done = wait_until(
      [&] {
        events.pump();
        return api.all_final(ids);
      },
      60s, 100ms);
  stop = true;
  flood.join();
  events.pump();
  ASSERT_TRUE(done) << describe(api.status(ids));
  auto jobs = api.status(ids);
  for (const auto& j : jobs) {
    EXPECT_EQ(j.status, JobStatus::passed) << describe({j});
    EXPECT_EQ(j.attempt, 1u) << "a lease expired falsely: " << describe({j});
  }
  EXPECT_EQ(events.count_worker_state("lost"), 0u);
  EXPECT_GT(events.received, 1000u) << "the flood did not reach the broker";
  std::cout << "flood: " << sent << " heartbeats published by " << kPublishers << " publishers, " << events.received
            << " events seen by a subscriber\n";
}

}  // namespace

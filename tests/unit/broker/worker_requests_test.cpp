// Broker behaviours on the worker side: pulls answered, held and claimed together, claims
// sized, reports confirmed and fenced, lease renewals throttled; driven by fake workers.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "broker_fixture.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

TEST_F(BrokerTest, PullWithNothingQueuedIsAnsweredNoWorkAfterItsWait) {
  auto worker = dealer(worker_endpoint_);
  send(worker, qg::proto::frames_of(kWorkerProtocol, pull_request(50)));
  auto reply = receive(worker);
  ASSERT_EQ(reply.size(), 3u);
  EXPECT_EQ(reply[1], "NOWORK");
}

TEST_F(BrokerTest, HeldPullIsAnsweredAsSoonAsAGroupIsSubmitted) {
  auto worker = dealer(worker_endpoint_);
  send(worker, qg::proto::frames_of(kWorkerProtocol, pull_request(20000)));
  EXPECT_TRUE(receive(worker, 100ms).empty());  // held, not answered

  auto client = dealer(client_endpoint_);
  auto submitted = submit(client, {"a.spec.ts", "b.spec.ts"});
  auto reply = receive(worker, 2000ms);  // long before the 20 s wait runs out
  ASSERT_EQ(reply.size(), 3u);
  ASSERT_EQ(reply[1], "ASSIGN");
  auto assign = qg::proto::decode<qg::proto::Assign>(reply[2]);
  ASSERT_TRUE(assign.ok());
  EXPECT_EQ(assign->group_key, "acme/build-1/emulator");
  ASSERT_EQ(assign->jobs.size(), 2u);
  EXPECT_EQ(assign->jobs[0].job_id, submitted.job_ids[0]);
  EXPECT_EQ(assign->jobs[0].attempt, 1u);
}

TEST_F(BrokerTest, ReportIsConfirmedOnceAndAStaleRepeatIsIgnored) {
  auto client = dealer(client_endpoint_);
  auto submitted = submit(client, {"a.spec.ts"});
  auto worker = dealer(worker_endpoint_);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(1000));
  ASSERT_EQ(assign.jobs.size(), 1u);

  qg::proto::Report report;
  report.rid = "rep";
  report.worker_id = "w1";
  report.lease_id = assign.lease_id;
  report.job_id = assign.jobs[0].job_id;
  report.attempt = assign.jobs[0].attempt;
  report.status = qg::proto::JobStatus::passed;
  auto first = request<qg::proto::Confirm>(worker, kWorkerProtocol, report);
  EXPECT_TRUE(first.accepted);
  report.status = qg::proto::JobStatus::failed;
  auto second = request<qg::proto::Confirm>(worker, kWorkerProtocol, report);
  EXPECT_FALSE(second.accepted);
  EXPECT_EQ(broker_->counters().reports_stale, 1u);

  qg::proto::StatusRequest status;
  status.job_ids = submitted.job_ids;
  auto got = request<qg::proto::StatusReply>(client, kClientProtocol, status);
  ASSERT_EQ(got.jobs.size(), 1u);
  EXPECT_EQ(got.jobs[0].status, qg::proto::JobStatus::passed);
}

TEST_F(BrokerTest, AClaimTakesAFairShareWhenWorkersOutnumberTheWork) {
  // 20 unfinished jobs, 2 live workers: a claim asks for 10 (claim_policy.hpp).
  EXPECT_EQ(first_claim_with_two_workers(20), 10u);
}

TEST_F(BrokerTest, PullsArrivingTogetherEachGetTheirOwnGroup) {
  // Pulls read in one loop round are claimed in one store call; each still gets a group of
  // its own, in the order they came.
  auto client = dealer(client_endpoint_);
  for (const char* app : {"build-1", "build-2", "build-3"}) submit(client, {"a.spec.ts", "b.spec.ts"}, app);
  std::vector<zmq::socket_t> workers;
  for (int w = 0; w < 3; ++w) {
    workers.push_back(dealer(worker_endpoint_));
    auto pull = pull_request(1000);
    pull.worker_id = "w" + std::to_string(w);
    pull.rid = "p" + std::to_string(w);
    send(workers.back(), qg::proto::frames_of(kWorkerProtocol, pull));
  }
  std::set<std::string> groups, leases;
  for (int w = 0; w < 3; ++w) {
    auto frames = receive(workers[static_cast<std::size_t>(w)]);
    ASSERT_EQ(frames.size(), 3u);
    ASSERT_EQ(frames[1], qg::proto::Assign::command);
    auto assign = qg::proto::decode<qg::proto::Assign>(frames[2]);
    ASSERT_TRUE(assign.ok());
    EXPECT_EQ(assign->rid, "p" + std::to_string(w));
    EXPECT_EQ(assign->jobs.size(), 2u);
    groups.insert(assign->group_key);
    leases.insert(assign->lease_id);
  }
  EXPECT_EQ(groups.size(), 3u);
  EXPECT_EQ(leases.size(), 3u);
}

class WholeGroupBrokerTest : public BrokerTest {
 protected:
  void adjust(qg::broker::BrokerSettings& settings) override { settings.claim_min_jobs = 0; }
};

TEST_F(WholeGroupBrokerTest, ClaimMinJobsZeroMeansWholeGroups) { EXPECT_EQ(first_claim_with_two_workers(20), 20u); }

// Time moves only when the test moves it.
class ManualClockBrokerTest : public BrokerTest {
 protected:
  const qg::Clock& clock() override { return clock_; }

  // Heartbeats on the lease of `assign` renew it only once half a heartbeat (500 ms; a tenth of
  // the 10 s lease would be 1 s) has passed since its deadline was last set.
  void expect_renewals_throttled(zmq::socket_t& worker, const qg::proto::Assign& assign) {
    // `n` heartbeats, then two pulls answered NOWORK: the second is read in a later loop round
    // than the heartbeats, so any renewal they queued has been applied by its answer.
    auto heartbeats = [&](int n) {
      qg::proto::Heartbeat hb;
      hb.worker_id = "w1";
      hb.state = "busy";
      hb.lease_id = assign.lease_id;
      for (int i = 0; i < n; ++i) {
        hb.seq = static_cast<std::uint64_t>(i);
        send(worker, qg::proto::frames_of(kWorkerProtocol, hb));
      }
      for (int i = 0; i < 2; ++i) request<qg::proto::NoWork>(worker, kWorkerProtocol, pull_request(0));
      return broker_->counters().lease_renewals.load();
    };
    // The claim set the deadline a lease ahead: no renewal for the first 500 ms.
    EXPECT_EQ(heartbeats(20), 0u);
    clock_.advance(499ms);
    EXPECT_EQ(heartbeats(20), 0u);
    clock_.advance(1ms);
    EXPECT_EQ(heartbeats(20), 1u);
    EXPECT_EQ(heartbeats(20), 1u);
    clock_.advance(500ms);
    EXPECT_EQ(heartbeats(20), 2u);
  }

  qg::ManualClock clock_;
};

TEST_F(ManualClockBrokerTest, TrafficOnALeaseRenewsItAtMostOncePerHalfHeartbeat) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts"});
  auto worker = dealer(worker_endpoint_);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(1000));
  ASSERT_EQ(assign.jobs.size(), 1u);
  expect_renewals_throttled(worker, assign);
}

TEST_F(ManualClockBrokerTest, AGroupClaimedAtSubmitForAHeldPullIsThrottledAlike) {
  auto worker = dealer(worker_endpoint_);
  send(worker, qg::proto::frames_of(kWorkerProtocol, pull_request(5000)));
  // Once the broker has read the pull it holds it: the submit's claim is made for it.
  ASSERT_TRUE(qg::testing::wait_until([&] { return broker_->counters().worker_messages.load() >= 1; }, 3000ms));
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts"});
  auto frames = receive(worker);
  ASSERT_EQ(frames.size(), 3u);
  ASSERT_EQ(frames[1], qg::proto::Assign::command);
  auto assign = qg::proto::decode<qg::proto::Assign>(frames[2]);
  ASSERT_TRUE(assign.ok());
  expect_renewals_throttled(worker, *assign);
}

}  // namespace

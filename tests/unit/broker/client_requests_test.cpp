// Broker behaviours on the client side: each client command answered as the protocol says,
// driven by fake clients (and a fake worker where a job must be running).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "broker_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

TEST_F(BrokerTest, SubmitRepliesWithOneIdPerTestAndStatusShowsThemQueued) {
  auto client = dealer(client_endpoint_);
  auto reply = submit(client, {"a.spec.ts", "b.spec.ts", "c.spec.ts"});
  EXPECT_EQ(reply.rid, "r-submit");
  ASSERT_EQ(reply.job_ids.size(), 3u);
  EXPECT_FALSE(reply.duplicate);

  qg::proto::StatusRequest status;
  status.rid = "r-status";
  status.job_ids = reply.job_ids;
  status.job_ids.push_back("no-such-job");
  auto got = request<qg::proto::StatusReply>(client, kClientProtocol, status);
  EXPECT_EQ(got.rid, "r-status");
  ASSERT_EQ(got.jobs.size(), 3u);
  for (const auto& job : got.jobs) EXPECT_EQ(job.status, qg::proto::JobStatus::queued);
  EXPECT_EQ(got.jobs[1].test_path, "b.spec.ts");
  EXPECT_EQ(got.missing, std::vector<std::string>{"no-such-job"});
}

TEST_F(BrokerTest, IdempotentSubmitReturnsTheSameIds) {
  auto client = dealer(client_endpoint_);
  qg::proto::SubmitRequest req;
  req.rid = "1";
  req.org_id = "acme";
  req.app_version_id = "b1";
  req.tests = {"x.spec.ts"};
  req.idempotency_key = "ci-run-7";
  auto first = request<qg::proto::SubmitReply>(client, kClientProtocol, req);
  auto second = request<qg::proto::SubmitReply>(client, kClientProtocol, req);
  EXPECT_EQ(first.job_ids, second.job_ids);
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(second.duplicate);
}

TEST_F(BrokerTest, CancelOfARunningJobIsSentToItsWorker) {
  auto client = dealer(client_endpoint_);
  auto submitted = submit(client, {"a.spec.ts", "b.spec.ts"});
  auto worker = dealer(worker_endpoint_);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(1000));
  ASSERT_EQ(assign.jobs.size(), 2u);

  qg::proto::CancelRequest cancel;
  cancel.rid = "c1";
  cancel.job_id = assign.jobs[0].job_id;
  auto reply = request<qg::proto::CancelReply>(client, kClientProtocol, cancel);
  ASSERT_EQ(reply.results.size(), 1u);
  EXPECT_EQ(reply.results[0].outcome, "cancel_requested");

  auto to_worker = receive(worker);
  ASSERT_EQ(to_worker.size(), 3u);
  EXPECT_EQ(to_worker[1], "CANCEL");
  auto decoded = qg::proto::decode<qg::proto::CancelJob>(to_worker[2]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->job_id, assign.jobs[0].job_id);
}

TEST_F(BrokerTest, HealthReportsTheStoreAndQueueDepth) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts", "b.spec.ts"});
  qg::proto::HealthRequest health;
  health.rid = "h";
  auto reply = request<qg::proto::HealthReply>(client, kClientProtocol, health);
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(reply.store, "memory");
  EXPECT_TRUE(reply.store_reachable);
  EXPECT_EQ(reply.queue_depth, 2u);
}

TEST_F(BrokerTest, QueueShowsEachGroupWithItsDepthAndTotals) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts", "b.spec.ts"}, "build-1");
  submit(client, {"c.spec.ts"}, "build-2");
  qg::proto::QueueRequest queue;
  queue.rid = "q";
  auto reply = request<qg::proto::QueueReply>(client, kClientProtocol, queue);
  ASSERT_EQ(reply.groups.size(), 2u);
  std::map<std::string, std::uint64_t> depth;
  for (const auto& g : reply.groups) depth[g.key] = g.depth;
  EXPECT_EQ(depth["acme/build-1/emulator"], 2u);
  EXPECT_EQ(depth["acme/build-2/emulator"], 1u);
  EXPECT_EQ(reply.by_status["queued"], 3u);
  EXPECT_EQ(reply.by_priority["medium"], 3u);
}

TEST_F(BrokerTest, StatsCountJobsPerStatusAndPerOrg) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts", "b.spec.ts", "c.spec.ts"});
  auto worker = dealer(worker_endpoint_);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(1000));
  ASSERT_EQ(assign.jobs.size(), 3u);
  qg::proto::Report report;
  report.worker_id = "w1";
  report.lease_id = assign.lease_id;
  report.job_id = assign.jobs[0].job_id;
  report.attempt = assign.jobs[0].attempt;
  report.status = qg::proto::JobStatus::failed;
  ASSERT_TRUE(request<qg::proto::Confirm>(worker, kWorkerProtocol, report).accepted);

  qg::proto::StatsRequest stats;
  stats.rid = "s";
  auto reply = request<qg::proto::StatsReply>(client, kClientProtocol, stats);
  EXPECT_EQ(reply.rid, "s");
  EXPECT_EQ(reply.by_status["failed"], 1u);
  EXPECT_EQ(reply.by_status["assigned"], 2u);
  EXPECT_EQ(reply.by_org["acme"], 3u);
}

TEST_F(BrokerTest, ListPagesNewestFirstAndCoversEveryJobOnce) {
  auto client = dealer(client_endpoint_);
  std::vector<std::string> all;
  for (int i = 0; i < 5; ++i) {
    auto ids = submit(client, {"a.spec.ts", "b.spec.ts"}, "build-" + std::to_string(i)).job_ids;
    all.insert(all.end(), ids.begin(), ids.end());
  }
  std::vector<std::string> seen;
  qg::proto::ListRequest list;
  list.org_id = "acme";
  list.limit = 3;
  for (int page = 0; page < 10; ++page) {
    list.rid = "l" + std::to_string(page);
    auto reply = request<qg::proto::ListReply>(client, kClientProtocol, list);
    for (const auto& job : reply.jobs) seen.push_back(job.id);
    if (reply.next_cursor.empty()) break;
    list.cursor = reply.next_cursor;
  }
  std::reverse(all.begin(), all.end());
  EXPECT_EQ(seen, all);
}

TEST_F(BrokerTest, RetryOfAJobThatIsNotDeadIsAConflict) {
  auto client = dealer(client_endpoint_);
  auto ids = submit(client, {"a.spec.ts"}).job_ids;
  qg::proto::RetryRequest retry;
  retry.rid = "r";
  retry.job_id = ids.at(0);
  auto error = expect_error(client, qg::proto::frames_of(kClientProtocol, retry));
  EXPECT_EQ(error.code, qg::proto::errc::conflict);
  retry.job_id = "NOSUCHJOB";
  EXPECT_EQ(expect_error(client, qg::proto::frames_of(kClientProtocol, retry)).code, qg::proto::errc::not_found);
}

}  // namespace

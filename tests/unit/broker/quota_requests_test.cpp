// The broker's SUBMIT under per-org quotas and rates (on the memory store): refusals carry
// their figures and change nothing, other orgs are not held back, and an org whose jobs were
// claimed may submit again once the broker has sampled the store.
#include <gtest/gtest.h>

#include "broker_fixture.hpp"
#include "qg/common/clock.hpp"

namespace qg::broker::testing {
namespace {

class QuotaBrokerTest : public BrokerTest {
 protected:
  void adjust(BrokerSettings& settings) override {
    settings.quotas.default_max_queued = 5;
    settings.quotas.max_queued["big"] = 0;  // exempt
    settings.quotas.rates["rated"] = {1, 3};
  }

  proto::SubmitRequest submit_of(const std::string& org, std::size_t tests, const std::string& rid = "r") {
    proto::SubmitRequest req;
    req.rid = rid;
    req.org_id = org;
    req.app_version_id = "build-1";
    for (std::size_t i = 0; i < tests; ++i) req.tests.push_back("t" + std::to_string(i) + ".spec.ts");
    return req;
  }

  proto::Error refused(zmq::socket_t& client, const proto::SubmitRequest& req) {
    return expect_error(client, proto::frames_of(kClientProtocol, req));
  }
};

TEST_F(QuotaBrokerTest, ASubmitOverTheOrgsQuotaIsRefusedWithItsFiguresAndOtherOrgsGoOn) {
  auto client = dealer(client_endpoint_);
  EXPECT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("acme", 5)).job_ids.size(), 5u);
  auto e = refused(client, submit_of("acme", 1, "r-over"));
  EXPECT_EQ(e.code, proto::errc::quota_exceeded);
  EXPECT_EQ(e.queued, 5u);
  EXPECT_EQ(e.limit, 5u);
  EXPECT_TRUE(e.retry_after_ms.has_value());
  EXPECT_EQ(broker_->counters().quota_refused.load(), 1u);
  EXPECT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("beta", 5)).job_ids.size(), 5u);
  EXPECT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("big", 500)).job_ids.size(), 500u);
  // Nothing of the refused submission was written.
  EXPECT_EQ(store_->queued_by_org(), (std::map<std::string, std::uint64_t>{{"acme", 5}, {"beta", 5}, {"big", 500}}));
}

TEST_F(QuotaBrokerTest, TheRefusalAnswersTheRequestsRid) {
  auto client = dealer(client_endpoint_);
  send(client, proto::frames_of(kClientProtocol, submit_of("acme", 6, "mine")));
  auto reply = receive(client);
  ASSERT_EQ(reply.size(), 3u);
  EXPECT_EQ(reply[1], "ERROR");
  auto decoded = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->rid, "mine");
  EXPECT_EQ(decoded->error.code, proto::errc::quota_exceeded);
  EXPECT_FALSE(decoded->error.retry_after_ms.has_value());  // 6 never fit under 5
}

TEST_F(QuotaBrokerTest, AnOrgOverItsRateIsRefusedUntilItsBucketRefills) {
  auto client = dealer(client_endpoint_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("rated", 1)).job_ids.size(), 1u);
  }
  auto e = refused(client, submit_of("rated", 1));
  EXPECT_EQ(e.code, proto::errc::rate_limited);
  EXPECT_EQ(e.rate, 1.0);
  EXPECT_EQ(e.burst, 3u);
  ASSERT_TRUE(e.retry_after_ms.has_value());
  EXPECT_GT(*e.retry_after_ms, 0u);
  EXPECT_LE(*e.retry_after_ms, 1000u);
  EXPECT_EQ(broker_->counters().rate_refused.load(), 1u);
  EXPECT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("beta", 1)).job_ids.size(), 1u);
}

TEST_F(QuotaBrokerTest, ClaimedJobsMakeRoomOnceTheBrokerSamplesTheStore) {
  auto client = dealer(client_endpoint_);
  ASSERT_EQ(request<proto::SubmitReply>(client, kClientProtocol, submit_of("acme", 5)).job_ids.size(), 5u);
  EXPECT_EQ(refused(client, submit_of("acme", 1)).code, proto::errc::quota_exceeded);
  auto worker = dealer(worker_endpoint_);
  proto::Hello hello;
  hello.rid = "hello";
  hello.worker_id = "w1";
  hello.targets = {proto::Target::emulator};
  request<proto::HelloReply>(worker, kWorkerProtocol, hello);
  ASSERT_EQ(request<proto::Assign>(worker, kWorkerProtocol, pull_request(1000)).jobs.size(), 5u);
  // Within a sampling period (200 ms) the broker learns that the queue emptied.
  const auto deadline = steady_ms() + 3000;
  bool accepted = false;
  while (!accepted && steady_ms() < deadline) {
    send(client, proto::frames_of(kClientProtocol, submit_of("acme", 5)));
    auto reply = receive(client);
    ASSERT_EQ(reply.size(), 3u);
    accepted = reply[1] == proto::SubmitReply::command;
    if (!accepted) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(accepted);
}

}  // namespace
}  // namespace qg::broker::testing

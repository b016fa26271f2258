// Broker behaviours at the ROUTER edge: malformed and oversize input answered with
// structured errors without desynchronising the socket, and pipelined or back-to-back
// requests each answered.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "broker_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

TEST_F(BrokerTest, MalformedRequestsGetStructuredErrorsAndTheBrokerKeepsServing) {
  auto client = dealer(client_endpoint_);
  EXPECT_EQ(expect_error(client, {"XXXX", "SUBMIT", ""}).code, qg::proto::errc::bad_protocol);
  EXPECT_EQ(expect_error(client, {std::string(kClientProtocol), "SUBMIT"}).code, qg::proto::errc::bad_frames);
  // An array header claiming 4 billion items: refused before any allocation.
  EXPECT_EQ(expect_error(client, {std::string(kClientProtocol), "SUBMIT", "\xdd\xff\xff\xff\xff"}).code,
            qg::proto::errc::too_large);
  EXPECT_EQ(expect_error(client, {std::string(kClientProtocol), "SUBMIT", "\xc1"}).code, qg::proto::errc::bad_body);
  EXPECT_EQ(
      expect_error(client, {std::string(kClientProtocol), "FROB", qg::proto::encode(qg::proto::HealthRequest{})}).code,
      qg::proto::errc::unknown_command);
  qg::proto::SubmitRequest bad;
  bad.rid = "bad-1";
  bad.org_id = "acme";
  bad.app_version_id = "b1";
  bad.tests = {"../../etc/passwd"};
  auto error = expect_error(client, qg::proto::frames_of(kClientProtocol, bad));
  EXPECT_EQ(error.code, qg::proto::errc::invalid_field);
  EXPECT_NE(error.field.find("tests"), std::string::npos);
  EXPECT_EQ(submit(client, {"ok.spec.ts"}).job_ids.size(), 1u);
  EXPECT_GE(broker_->counters().rejected, 5u);
}

TEST_F(BrokerTest, OversizeMessageIsRejectedWithoutDesynchronisingTheRouter) {
  auto client = dealer(client_endpoint_);
  std::vector<std::string> frames = {std::string(kClientProtocol), "SUBMIT", std::string(900 << 10, 'x'),
                                     std::string(900 << 10, 'y')};
  EXPECT_EQ(expect_error(client, frames).code, qg::proto::errc::too_large);
  EXPECT_EQ(submit(client, {"after.spec.ts"}).job_ids.size(), 1u);
}

TEST_F(BrokerTest, PipelinedSubmitsOnOneConnectionAreEachAnsweredUnderTheirOwnRid) {
  // 50 requests in flight on one DEALER, as a pipelining client sends them.
  auto client = dealer(client_endpoint_);
  constexpr int kInFlight = 50;
  for (int i = 0; i < kInFlight; ++i) {
    qg::proto::SubmitRequest req;
    req.rid = "q" + std::to_string(i);
    req.org_id = "acme";
    req.app_version_id = "build-" + std::to_string(i % 5);
    req.tests = {"t" + std::to_string(i) + ".spec.ts"};
    send(client, qg::proto::frames_of(kClientProtocol, req));
  }
  std::set<std::string> rids, job_ids;
  for (int i = 0; i < kInFlight; ++i) {
    auto reply = receive(client);
    ASSERT_EQ(reply.size(), 3u) << "reply " << i << " missing";
    ASSERT_EQ(reply[1], "SUBMIT");
    auto decoded = qg::proto::decode<qg::proto::SubmitReply>(reply[2]);
    ASSERT_TRUE(decoded.ok());
    rids.insert(decoded->rid);
    ASSERT_EQ(decoded->job_ids.size(), 1u);
    job_ids.insert(decoded->job_ids[0]);
  }
  EXPECT_EQ(rids.size(), static_cast<std::size_t>(kInFlight));
  EXPECT_EQ(job_ids.size(), static_cast<std::size_t>(kInFlight));
  EXPECT_TRUE(rids.contains("q0") && rids.contains("q49"));
  EXPECT_EQ(broker_->counters().jobs_submitted, static_cast<std::uint64_t>(kInFlight));
}

TEST_F(BrokerTest, ManyBackToBackRequestsOnBothSidesAreAllAnswered) {
  // Replies sent on a socket may take in the commands that announce its next message; a
  // message left unread after that would stall here until the receive deadline.
  auto client = dealer(client_endpoint_);
  auto worker = dealer(worker_endpoint_);
  qg::proto::HealthRequest health;
  health.rid = "h";
  for (int i = 0; i < 300; ++i) {
    send(client, qg::proto::frames_of(kClientProtocol, health));
    send(worker, qg::proto::frames_of(kWorkerProtocol, pull_request(0)));
    auto from_client = receive(client, 2000ms);
    auto from_worker = receive(worker, 2000ms);
    ASSERT_EQ(from_client.size(), 3u) << "round " << i;
    ASSERT_EQ(from_worker.size(), 3u) << "round " << i;
    EXPECT_EQ(from_client[1], "HEALTH");
    EXPECT_EQ(from_worker[1], "NOWORK");
  }
}

}  // namespace

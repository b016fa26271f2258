// Where docs/protocol.md and the broker could disagree, checked against a running broker with
// hand-built frames: a frame over max_frame_bytes closes the connection (no reply can be sent)
// and is counted in STATS; errors for over-limit arrays and strings carry the request's rid
// and the field, on both sockets; UNKNOWN_COMMAND echoes the rid like every error found once
// the command frame is read.
#include <gtest/gtest.h>

#include "broker_fixture.hpp"
#include "qg/testing/process.hpp"

namespace qg::broker::testing {
namespace {

namespace proto = qg::proto;

class ProtocolAgreement : public BrokerTest {
 protected:
  void adjust(BrokerSettings& settings) override {
    settings.limits.max_frame_bytes = 256 << 10;
    settings.limits.max_message_bytes = 1 << 20;
  }

  std::uint64_t connections_closed() {
    auto admin = dealer(client_endpoint_);
    proto::StatsRequest req;
    req.rid = "stats";
    return request<proto::StatsReply>(admin, kClientProtocol, req).connections_closed;
  }

  proto::Report registered_report(zmq::socket_t& worker) {
    proto::Hello hello;
    hello.rid = "hello";
    hello.worker_id = "w1";
    hello.targets = {proto::Target::emulator};
    request<proto::HelloReply>(worker, kWorkerProtocol, hello);
    proto::Report report;
    report.rid = "report-17";
    report.worker_id = "w1";
    report.lease_id = "L1";
    report.job_id = "J1";
    report.attempt = 1;
    report.status = proto::JobStatus::passed;
    return report;
  }
};

TEST_F(ProtocolAgreement, AFrameOverMaxFrameBytesClosesTheConnectionAndIsCounted) {
  const auto before = connections_closed();
  auto client = dealer(client_endpoint_);
  proto::HealthRequest health;
  health.rid = "before";
  request<proto::HealthReply>(client, kClientProtocol, health);  // connected

  send(client, {std::string(kClientProtocol), "SUBMIT", std::string((256 << 10) + 1, 'x')});
  EXPECT_TRUE(receive(client, 500ms).empty()) << "libzmq drops the connection: nothing can answer";
  EXPECT_TRUE(qg::testing::wait_until([&] { return connections_closed() > before; }, 5s, 20ms));
  // The DEALER connects again by itself; the broker serves it as before.
  health.rid = "after";
  EXPECT_EQ(request<proto::HealthReply>(client, kClientProtocol, health).rid, "after");
}

TEST_F(ProtocolAgreement, TenThousandAndOneTestsAreRefusedUnderTheRidNamingTests) {
  auto client = dealer(client_endpoint_);
  proto::SubmitRequest submit;
  submit.rid = "sub-10001";
  submit.org_id = "acme";
  submit.app_version_id = "b1";
  submit.tests.assign(10001, "t.spec.ts");
  send(client, proto::frames_of(kClientProtocol, submit));
  auto reply = receive(client);
  ASSERT_EQ(reply.size(), 3u);
  ASSERT_EQ(reply[1], "ERROR");
  auto error = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->rid, "sub-10001");
  EXPECT_EQ(error->error.code, proto::errc::too_large);
  EXPECT_EQ(error->error.field, "tests");
}

TEST_F(ProtocolAgreement, AReportWithALogTailOverTheLimitIsRefusedUnderItsRidNamingLogTail) {
  auto worker = dealer(worker_endpoint_);
  auto report = registered_report(worker);
  report.log_tail = std::string(65537, 'l');
  send(worker, proto::frames_of(kWorkerProtocol, report));
  auto reply = receive(worker);
  ASSERT_EQ(reply.size(), 3u);
  ASSERT_EQ(reply[1], "ERROR");
  auto error = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->rid, "report-17") << "a worker resending until answered must be able to match this";
  EXPECT_EQ(error->error.code, proto::errc::too_large);
  EXPECT_EQ(error->error.field, "log_tail");
}

TEST_F(ProtocolAgreement, UnknownCommandEchoesTheRidOnBothSockets) {
  auto client = dealer(client_endpoint_);
  proto::HealthRequest body;
  body.rid = "frob-1";
  send(client, {std::string(kClientProtocol), "FROB", proto::encode(body)});
  auto reply = receive(client);
  ASSERT_EQ(reply.size(), 3u);
  auto error = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->error.code, proto::errc::unknown_command);
  EXPECT_EQ(error->rid, "frob-1");

  auto worker = dealer(worker_endpoint_);
  body.rid = "frob-2";
  send(worker, {std::string(kWorkerProtocol), "FROB", proto::encode(body)});
  reply = receive(worker);
  ASSERT_EQ(reply.size(), 3u);
  error = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->error.code, proto::errc::unknown_command);
  EXPECT_EQ(error->rid, "frob-2");

  // Errors found before the command is read carry none: here, a wrong protocol header.
  send(client, {"QGC9", "HEALTH", proto::encode(body)});
  reply = receive(client);
  ASSERT_EQ(reply.size(), 3u);
  error = proto::decode<proto::ErrorReply>(reply[2]);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->error.code, proto::errc::bad_protocol);
  EXPECT_EQ(error->rid, "");
}

}  // namespace
}  // namespace qg::broker::testing

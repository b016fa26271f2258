// The broker on the Redis store, in-process, against a real redis-server: submits pipelined
// on one connection go to Redis while the broker reads on (send_submits), and are still
// answered each under its own rid, before any later request, which sees them all applied.

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "qg/broker/broker.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::proto::kClientProtocol;

class BrokerOnRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    qg::sched::StoreSettings store_settings;
    store_settings.key_prefix = "broker-test:";
    store_ = qg::sched::make_redis_store(server_.url(), store_settings);
    qg::broker::BrokerSettings settings;
    settings.client_endpoint = "tcp://127.0.0.1:*";
    settings.worker_endpoint = "tcp://127.0.0.1:*";
    settings.events_in_endpoint = "tcp://127.0.0.1:*";
    settings.events_out_endpoint = "tcp://127.0.0.1:*";
    settings.store_kind = "redis";
    settings.embedded_scheduler = false;
    settings.poll_interval = 10ms;
    broker_ = std::make_unique<qg::broker::Broker>(context_, *store_, qg::SystemClock::instance(), settings,
                                                   qg::null_logger());
    broker_->bind();
    client_endpoint_ = "tcp://127.0.0.1:" + std::to_string(broker_->client_port());
    thread_ = std::thread([this] { broker_->run(); });
  }
  void TearDown() override {
    broker_->request_stop();
    thread_.join();
  }

  zmq::socket_t dealer() {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    qg::set_common_options(socket);
    socket.connect(client_endpoint_);
    return socket;
  }
  static std::vector<std::string> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout = 5000ms) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if ((item.revents & ZMQ_POLLIN) == 0) return {};
    auto message = qg::recv_multipart(socket, 16, 16 << 20);
    return message ? message->frames : std::vector<std::string>{};
  }
  static qg::proto::SubmitRequest submit_request(int i) {
    qg::proto::SubmitRequest req;
    req.rid = "q" + std::to_string(i);
    req.org_id = "acme";
    req.app_version_id = "build-" + std::to_string(i % 7);
    req.tests = {"t" + std::to_string(i) + ".spec.ts"};
    return req;
  }

  qg::testing::RedisServer server_;
  zmq::context_t context_{1};
  std::unique_ptr<qg::sched::JobStore> store_;
  std::unique_ptr<qg::broker::Broker> broker_;
  std::thread thread_;
  std::string client_endpoint_;
};

TEST_F(BrokerOnRedisTest, PipelinedSubmitsAreAnsweredBeforeALaterRequestThatSeesThemAll) {
  auto client = dealer();
  constexpr int kSubmits = 400;  // many batches: several are out at Redis at once
  for (int i = 0; i < kSubmits; ++i)
    ASSERT_TRUE(qg::send_multipart(client, qg::proto::frames_of(kClientProtocol, submit_request(i))));
  qg::proto::StatsRequest stats;
  stats.rid = "stats";
  ASSERT_TRUE(qg::send_multipart(client, qg::proto::frames_of(kClientProtocol, stats)));

  std::set<std::string> rids, job_ids;
  for (int i = 0; i < kSubmits; ++i) {
    auto reply = receive(client);
    ASSERT_EQ(reply.size(), 3u) << "reply " << i << " missing";
    ASSERT_EQ(reply[1], "SUBMIT") << "reply " << i << " came after a later request's";
    auto decoded = qg::proto::decode<qg::proto::SubmitReply>(reply[2]);
    ASSERT_TRUE(decoded.ok());
    rids.insert(decoded->rid);
    ASSERT_EQ(decoded->job_ids.size(), 1u);
    job_ids.insert(decoded->job_ids[0]);
  }
  EXPECT_EQ(rids.size(), static_cast<std::size_t>(kSubmits));
  EXPECT_EQ(job_ids.size(), static_cast<std::size_t>(kSubmits));
  auto reply = receive(client);
  ASSERT_EQ(reply.size(), 3u);
  ASSERT_EQ(reply[1], "STATS");
  auto decoded = qg::proto::decode<qg::proto::StatsReply>(reply[2]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->by_status["queued"], static_cast<std::uint64_t>(kSubmits));
  EXPECT_EQ(broker_->counters().jobs_submitted, static_cast<std::uint64_t>(kSubmits));
}

TEST_F(BrokerOnRedisTest, SubmitsWhileRedisIsDownAreRefusedAsUnavailableAndServedAgainAfter) {
  auto client = dealer();
  ASSERT_TRUE(qg::send_multipart(client, qg::proto::frames_of(kClientProtocol, submit_request(0))));
  auto first = receive(client);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[1], "SUBMIT");

  server_.kill();
  for (int i = 1; i <= 20; ++i)
    ASSERT_TRUE(qg::send_multipart(client, qg::proto::frames_of(kClientProtocol, submit_request(i))));
  for (int i = 1; i <= 20; ++i) {
    auto reply = receive(client);
    ASSERT_EQ(reply.size(), 3u) << "reply " << i << " missing";
    ASSERT_EQ(reply[1], "ERROR");
    auto decoded = qg::proto::decode<qg::proto::ErrorReply>(reply[2]);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->error.code, qg::proto::errc::unavailable);
  }

  server_.start();
  // Resent until the broker's connection is back (its reconnect back-off is bounded).
  ASSERT_TRUE(qg::testing::wait_until(
      [&] {
        if (!qg::send_multipart(client, qg::proto::frames_of(kClientProtocol, submit_request(99)))) return false;
        auto reply = receive(client);
        return reply.size() == 3 && reply[1] == "SUBMIT";
      },
      std::chrono::seconds(15)));
}

}  // namespace

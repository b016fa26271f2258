#pragma once
// The fixture of the broker's behaviour tests: a Broker on the embedded memory store, served
// on its own thread on 127.0.0.1 ports it picks, and fake clients and workers that send
// hand-built frames over real ZeroMQ sockets. Subclasses adjust the settings, the store or
// the clock. In a named namespace so that every test file's TEST_F(BrokerTest, ...) uses one
// fixture class (googletest requires it of one suite).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "qg/broker/broker.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker::testing {

using namespace std::chrono_literals;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = qg::sched::make_memory_store(store_settings());
    qg::broker::BrokerSettings settings;
    settings.client_endpoint = "tcp://127.0.0.1:*";
    settings.worker_endpoint = "tcp://127.0.0.1:*";
    settings.events_in_endpoint = "tcp://127.0.0.1:*";
    settings.events_out_endpoint = "tcp://127.0.0.1:*";
    settings.store_kind = "memory";
    settings.embedded_scheduler = true;
    settings.poll_interval = 10ms;
    settings.limits.max_message_bytes = 1 << 20;
    settings.limits.max_frame_bytes = 1 << 20;
    adjust(settings);
    broker_ = std::make_unique<qg::broker::Broker>(context_, *store_, clock(), settings, qg::null_logger());
    broker_->bind();
    client_endpoint_ = "tcp://127.0.0.1:" + std::to_string(broker_->client_port());
    worker_endpoint_ = "tcp://127.0.0.1:" + std::to_string(broker_->worker_port());
    events_in_endpoint_ = "tcp://127.0.0.1:" + std::to_string(broker_->events_in_port());
    events_out_endpoint_ = "tcp://127.0.0.1:" + std::to_string(broker_->events_out_port());
    thread_ = std::thread([this] { broker_->run(); });
  }

  void TearDown() override {
    broker_->request_stop();
    thread_.join();
  }

  virtual qg::sched::StoreSettings store_settings() { return {}; }
  virtual void adjust(qg::broker::BrokerSettings& /*settings*/) {}
  virtual const qg::Clock& clock() { return qg::SystemClock::instance(); }

  // Two workers say HELLO; worker 1 pulls once `jobs` tests of one build are queued. Returns
  // how many jobs its claim took.
  std::size_t first_claim_with_two_workers(std::size_t jobs) {
    auto client = dealer(client_endpoint_);
    std::vector<std::string> tests;
    for (std::size_t i = 0; i < jobs; ++i) tests.push_back("t" + std::to_string(i) + ".spec.ts");
    submit(client, tests);
    std::vector<zmq::socket_t> workers;
    for (const char* id : {"w1", "w2"}) {
      workers.push_back(dealer(worker_endpoint_));
      qg::proto::Hello hello;
      hello.rid = std::string("hello-") + id;
      hello.worker_id = id;
      hello.targets = {qg::proto::Target::emulator};
      request<qg::proto::HelloReply>(workers.back(), kWorkerProtocol, hello);
    }
    return request<qg::proto::Assign>(workers[0], kWorkerProtocol, pull_request(1000)).jobs.size();
  }

  // A SUB socket on the broker's events of org acme's jobs. Its subscription reaches the
  // broker asynchronously: events published before it is in are not seen.
  zmq::socket_t job_subscriber() {
    zmq::socket_t sub(context_, zmq::socket_type::sub);
    qg::set_common_options(sub);
    sub.set(zmq::sockopt::subscribe, "job.acme.");
    sub.connect(events_out_endpoint_);
    return sub;
  }

  zmq::socket_t dealer(const std::string& endpoint) {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    qg::set_common_options(socket);
    socket.connect(endpoint);
    return socket;
  }

  static void send(zmq::socket_t& socket, const std::vector<std::string>& frames) {
    ASSERT_TRUE(qg::send_multipart(socket, frames));
  }

  // Next message on `socket` within `timeout`, or empty frames.
  static std::vector<std::string> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout = 3000ms) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if ((item.revents & ZMQ_POLLIN) == 0) return {};
    auto message = qg::recv_multipart(socket, 16, 16 << 20);
    return message ? message->frames : std::vector<std::string>{};
  }

  template <class Reply, class Request>
  Reply request(zmq::socket_t& socket, std::string_view protocol, const Request& req) {
    send(socket, qg::proto::frames_of(protocol, req));
    auto frames = receive(socket);
    EXPECT_EQ(frames.size(), 3u);
    if (frames.size() != 3) return {};
    EXPECT_EQ(frames[1], Reply::command) << "body: " << qg::proto::to_hex(frames[2]);
    auto decoded = qg::proto::decode<Reply>(frames[2]);
    EXPECT_TRUE(decoded.ok());
    return decoded.ok() ? decoded.value() : Reply{};
  }

  qg::proto::Error expect_error(zmq::socket_t& socket, const std::vector<std::string>& frames) {
    send(socket, frames);
    auto reply = receive(socket);
    EXPECT_EQ(reply.size(), 3u);
    if (reply.size() != 3) return {};
    EXPECT_EQ(reply[1], "ERROR");
    auto decoded = qg::proto::decode<qg::proto::ErrorReply>(reply[2]);
    EXPECT_TRUE(decoded.ok());
    return decoded.ok() ? decoded->error : qg::proto::Error{};
  }

  qg::proto::SubmitReply submit(zmq::socket_t& client, std::vector<std::string> tests, std::string app = "build-1") {
    qg::proto::SubmitRequest req;
    req.rid = "r-submit";
    req.org_id = "acme";
    req.app_version_id = std::move(app);
    req.tests = std::move(tests);
    return request<qg::proto::SubmitReply>(client, kClientProtocol, req);
  }

  qg::proto::Pull pull_request(std::uint32_t wait_ms) {
    qg::proto::Pull pull;
    pull.rid = "p1";
    pull.worker_id = "w1";
    pull.targets = {qg::proto::Target::emulator};
    pull.wait_ms = wait_ms;
    return pull;
  }

  zmq::context_t context_{1};
  std::unique_ptr<qg::sched::JobStore> store_;
  std::unique_ptr<qg::broker::Broker> broker_;
  std::thread thread_;
  std::string client_endpoint_, worker_endpoint_, events_in_endpoint_, events_out_endpoint_;
};

}  // namespace qg::broker::testing

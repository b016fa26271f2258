// Broker behaviours of the bounded event plane: events over the size limit and malformed
// events are not relayed, an over-long subscription is not taken, a subscriber that stops
// reading holds no more than the high-water marks allow, and the broker keeps serving.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "broker_fixture.hpp"
#include "qg/broker/event_limits.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::proto::kEventProtocol;

std::vector<std::string> heartbeat_event(const std::string& worker_id, std::uint64_t seq, std::string device = "d") {
  qg::proto::Heartbeat hb;
  hb.worker_id = worker_id;
  hb.device_id = std::move(device);
  hb.state = "idle";
  hb.seq = seq;
  return {"hb." + worker_id, std::string(kEventProtocol), std::string(qg::proto::Heartbeat::command),
          qg::proto::encode(hb)};
}

// A socket monitor on `socket` for `events`, read by the test.
zmq::socket_t monitor(zmq::context_t& context, zmq::socket_t& socket, int events) {
  static std::atomic<int> next{0};
  const std::string endpoint = "inproc://event-limits-monitor-" + std::to_string(next++);
  EXPECT_EQ(zmq_socket_monitor(socket.handle(), endpoint.c_str(), events), 0);
  zmq::socket_t pair(context, zmq::socket_type::pair);
  qg::set_common_options(pair);
  pair.connect(endpoint);
  return pair;
}

// True when the monitor reported an event within `timeout`.
bool saw_event(zmq::socket_t& monitor_pair, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{monitor_pair.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return false;
  return qg::recv_multipart(monitor_pair, 4, 1024).has_value();
}

// A SUB on every event of the broker and a PUB into it, with the path between them proven:
// a warm-up heartbeat went through.
struct EventPath {
  zmq::socket_t sub;
  zmq::socket_t pub;
};

class EventLimitsTest : public BrokerTest {
 protected:
  EventPath connected_path(const std::string& sub_endpoint, int sub_rcvhwm = 1000) {
    EventPath path{zmq::socket_t(context_, zmq::socket_type::sub), zmq::socket_t(context_, zmq::socket_type::pub)};
    qg::set_common_options(path.sub);
    path.sub.set(zmq::sockopt::rcvhwm, sub_rcvhwm);
    path.sub.set(zmq::sockopt::subscribe, "");
    path.sub.connect(sub_endpoint);
    qg::set_common_options(path.pub);
    path.pub.connect(events_in_endpoint_);
    std::vector<std::string> got;
    for (int i = 0; i < 300 && got.empty(); ++i) {
      qg::send_multipart(path.pub, heartbeat_event("warm-up", static_cast<std::uint64_t>(i)));
      got = receive(path.sub, 10ms);
    }
    EXPECT_FALSE(got.empty()) << "no event came through";
    while (!receive(path.sub, 50ms).empty()) {
    }
    return path;
  }

  // Publishes a marker event and returns the topics received before and including it.
  std::vector<std::string> topics_until_marker(EventPath& path) {
    std::vector<std::string> topics;
    for (int i = 0; i < 100; ++i) {
      qg::send_multipart(path.pub, heartbeat_event("marker", static_cast<std::uint64_t>(i)));
      for (auto got = receive(path.sub, 20ms); !got.empty(); got = receive(path.sub, 20ms)) {
        topics.push_back(got[0]);
        if (got[0] == "hb.marker") return topics;
      }
    }
    ADD_FAILURE() << "the marker never came through";
    return topics;
  }
};

TEST(BrokerEventLimits, TheDefaultLimitHoldsTheLargestHeartbeatOfADefaultGroup) {
  const qg::broker::EventLimits defaults;
  const qg::sched::StoreSettings store;
  EXPECT_LE(qg::broker::min_event_bytes(store.group_max), defaults.max_event_bytes);
  // A longer group needs more: the broker raises the limit for it at start.
  EXPECT_GT(qg::broker::min_event_bytes(1000), defaults.max_event_bytes);
  // The longest legitimate subscription, "job.<org_id>.<job_id>", fits.
  EXPECT_LE(4u + 64u + 1u + 128u, defaults.max_subscription_bytes);
}

TEST_F(EventLimitsTest, AFrameOverTheEventLimitClosesItsPublisherAndIsNotRelayed) {
  auto path = connected_path(events_out_endpoint_);
  zmq::socket_t big(context_, zmq::socket_type::pub);
  qg::set_common_options(big);
  auto closed = monitor(context_, big, ZMQ_EVENT_DISCONNECTED);
  big.connect(events_in_endpoint_);
  const auto oversize = heartbeat_event("big", 1, std::string(qg::broker::EventLimits{}.max_event_bytes, 'x'));
  bool disconnected = false;
  for (int i = 0; i < 300 && !disconnected; ++i) {
    qg::send_multipart(big, oversize);
    disconnected = saw_event(closed, 10ms);
  }
  EXPECT_TRUE(disconnected) << "the broker kept the connection of a publisher sending oversize frames";
  for (const auto& topic : topics_until_marker(path)) EXPECT_NE(topic, "hb.big");
  // Publishers within the limit are still served, the one closed included once it reconnects.
  std::vector<std::string> got;
  for (int i = 0; i < 300 && (got.empty() || got[0] != "hb.small"); ++i) {
    qg::send_multipart(big, heartbeat_event("small", static_cast<std::uint64_t>(i)));
    got = receive(path.sub, 10ms);
  }
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0], "hb.small");
}

TEST_F(EventLimitsTest, AnEventOverTheLimitInTotalIsDroppedAndCounted) {
  auto path = connected_path(events_out_endpoint_);
  const auto before = broker_->counters().events_dropped.load();
  // Every frame under the limit, all four together over it.
  const std::size_t quarter = qg::broker::EventLimits{}.max_event_bytes / 4 + 1;
  std::string topic = "hb.total";
  topic.resize(quarter, 'x');
  const std::string filler(quarter, 'x');
  ASSERT_TRUE(qg::send_multipart(path.pub, {topic, filler, filler, filler}));
  for (const auto& got : topics_until_marker(path)) EXPECT_NE(got, topic);
  EXPECT_EQ(broker_->counters().events_dropped.load(), before + 1);
}

TEST_F(EventLimitsTest, MalformedAndMistitledEventsAreDroppedAndCountedNotRelayed) {
  auto path = connected_path(events_out_endpoint_);
  const auto before = broker_->counters().events_dropped.load();
  const std::string hb = qg::proto::encode([] {
    qg::proto::Heartbeat h;
    h.worker_id = "w9";
    h.state = "idle";
    return h;
  }());
  qg::proto::JobEvent job;
  job.job_id = "J1";
  job.org_id = "acme";
  qg::proto::JobEvent dotted = job;
  dotted.org_id = "acme.eu";  // would reach subscribers of "job.acme."
  const std::vector<std::vector<std::string>> bad = {
      {"hb.w9", "QGX1", "HEARTBEAT", hb},                                            // another protocol
      {"hb.w9", std::string(kEventProtocol), "FROB", hb},                            // unknown command
      {"hb.w9", std::string(kEventProtocol), "HEARTBEAT", "\xc1"},                   // not msgpack
      {"hb.w9", std::string(kEventProtocol), "HEARTBEAT", "\xdd\xff\xff\xff\xff"},   // 4 G items claimed
      {"hb.other", std::string(kEventProtocol), "HEARTBEAT", hb},                    // topic of another worker
      {"job.other.J1", std::string(kEventProtocol), "JOB", qg::proto::encode(job)},  // another org's topic
      {"job.acme.eu.J1", std::string(kEventProtocol), "JOB", qg::proto::encode(dotted)},
      {"job.acme.J1", std::string(kEventProtocol), "WORKER", qg::proto::encode(job)},  // body of another kind
      {"hb.w9", std::string(kEventProtocol), "HEARTBEAT"},                             // three frames
      {"hb.w9", std::string(kEventProtocol), "HEARTBEAT", hb, "extra"},                // five
  };
  for (const auto& frames : bad) ASSERT_TRUE(qg::send_multipart(path.pub, frames));
  // A well-formed one among them is relayed.
  ASSERT_TRUE(
      qg::send_multipart(path.pub, {"job.acme.J1", std::string(kEventProtocol), "JOB", qg::proto::encode(job)}));
  const auto topics = topics_until_marker(path);
  EXPECT_EQ(topics, (std::vector<std::string>{"job.acme.J1", "hb.marker"}));
  EXPECT_EQ(broker_->counters().events_dropped.load(), before + bad.size());
}

TEST_F(EventLimitsTest, AnOverLongSubscriptionClosesItsSubscriberAndSubscribesNothing) {
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  qg::set_common_options(sub);
  auto closed = monitor(context_, sub, ZMQ_EVENT_DISCONNECTED);
  sub.set(zmq::sockopt::subscribe, "job.acme." + std::string(qg::broker::EventLimits{}.max_subscription_bytes, 'x'));
  sub.connect(events_out_endpoint_);
  EXPECT_TRUE(saw_event(closed, 3000ms)) << "the broker kept a subscriber with an over-long subscription";
  // Nobody subscribes as far as the broker knows: it builds no events.
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts"});
  EXPECT_EQ(broker_->counters().events_published, 0u);
  // A subscription within the limit still works.
  auto good = job_subscriber();
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    submit(client, {"a.spec.ts"}, "build-" + std::to_string(i));
    got = receive(good, 10ms);
  }
  EXPECT_FALSE(got.empty());
}

// The broker's XPUB on inproc, so that no kernel socket buffer holds events beyond the queues
// the high-water marks bound: a stalled inproc subscriber holds at most SNDHWM + its RCVHWM.
class SmallEventQueueTest : public EventLimitsTest {
 protected:
  static constexpr int kHwm = 20;
  void adjust(qg::broker::BrokerSettings& settings) override {
    static std::atomic<int> next{0};
    inproc_events_out_ = "inproc://small-event-queue-" + std::to_string(next++);
    settings.events_out_endpoint = inproc_events_out_;
    settings.events.hwm = kHwm;
  }
  std::string inproc_events_out_;
};

TEST_F(SmallEventQueueTest, ASubscriberThatStopsReadingHoldsNoMoreThanTheHighWaterMarks) {
  auto path = connected_path(inproc_events_out_, 10);
  const int sub_hwm = path.sub.get(zmq::sockopt::rcvhwm);
  const auto forwarded = broker_->counters().events_forwarded.load();
  constexpr int kPublished = 500;
  for (int i = 0; i < kPublished; ++i) {
    ASSERT_TRUE(qg::send_multipart(path.pub, heartbeat_event("flood", static_cast<std::uint64_t>(i))));
  }
  // The broker has relayed every one of them to the stalled subscriber's queue...
  ASSERT_TRUE(qg::testing::wait_until(
      [&] { return broker_->counters().events_forwarded.load() >= forwarded + kPublished; }, 10s));
  // ... which held no more than the two high-water marks allow; the rest were dropped.
  int held = 0;
  while (!receive(path.sub, 50ms).empty()) ++held;
  EXPECT_GT(held, 0);
  EXPECT_LE(held, kHwm + sub_hwm);
}

}  // namespace

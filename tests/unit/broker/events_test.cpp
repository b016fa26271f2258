// Broker behaviours of the event stream: events relayed from the XSUB to subscribers, the
// broker's own job events sent only while someone subscribes, and in the order of the
// store's changes.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

TEST_F(BrokerTest, EventsPublishedByWorkersReachSubscribers) {
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  qg::set_common_options(sub);
  sub.set(zmq::sockopt::subscribe, "hb.");
  sub.connect(events_out_endpoint_);
  zmq::socket_t pub(context_, zmq::socket_type::pub);
  qg::set_common_options(pub);
  pub.connect(events_in_endpoint_);

  qg::proto::Heartbeat hb;
  hb.worker_id = "w9";
  hb.state = "busy";
  hb.lease_id = "lease-of-w9";
  // PUB drops while connecting, so publish until one arrives (bounded by the deadline).
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    hb.seq = static_cast<std::uint64_t>(i);
    qg::send_multipart(pub, {"hb.w9", std::string(qg::proto::kEventProtocol), "HEARTBEAT", qg::proto::encode(hb)});
    got = receive(sub, 10ms);
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "hb.w9");
  auto decoded = qg::proto::decode<qg::proto::Heartbeat>(got[3]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->worker_id, "w9");
  EXPECT_EQ(decoded->state, "busy");
  EXPECT_EQ(decoded->lease_id, "");  // leases stay between workers and brokers
}

TEST_F(BrokerTest, RelayedWorkerEventsCarryNoLeaseId) {
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  qg::set_common_options(sub);
  sub.set(zmq::sockopt::subscribe, "worker.");
  sub.connect(events_out_endpoint_);
  zmq::socket_t pub(context_, zmq::socket_type::pub);
  qg::set_common_options(pub);
  pub.connect(events_in_endpoint_);
  qg::proto::WorkerEvent lost;
  lost.source = "scheduler-1";
  lost.worker_id = "w9";
  lost.state = "lost";
  lost.lease_id = "lease-of-w9";
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    lost.seq = static_cast<std::uint64_t>(i + 1);
    qg::send_multipart(pub, {"worker.w9", std::string(qg::proto::kEventProtocol), "WORKER", qg::proto::encode(lost)});
    got = receive(sub, 10ms);
  }
  ASSERT_EQ(got.size(), 4u);
  auto decoded = qg::proto::decode<qg::proto::WorkerEvent>(got[3]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->state, "lost");
  EXPECT_EQ(decoded->lease_id, "");
}

TEST_F(BrokerTest, NoEventIsSentWhileNobodySubscribes) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts", "b.spec.ts"});
  auto worker = dealer(worker_endpoint_);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(1000));
  ASSERT_EQ(assign.jobs.size(), 2u);
  EXPECT_EQ(broker_->counters().jobs_submitted, 2u);
  EXPECT_EQ(broker_->counters().events_published, 0u);
}

TEST_F(BrokerTest, JobEventsReachASubscriberOnceItHasSubscribed) {
  auto sub = job_subscriber();
  auto client = dealer(client_endpoint_);
  // The subscription reaches the broker asynchronously: submit until a queued event arrives
  // (bounded by the number of tries).
  std::vector<std::string> got;
  std::set<std::string> submitted;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    for (const auto& id : submit(client, {"a.spec.ts"}, "build-" + std::to_string(i)).job_ids) submitted.insert(id);
    got = receive(sub, 10ms);
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].rfind("job.acme.", 0), 0u);
  EXPECT_EQ(got[2], "JOB");
  auto event = qg::proto::decode<qg::proto::JobEvent>(got[3]);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->status, qg::proto::JobStatus::queued);
  EXPECT_TRUE(submitted.contains(event->job_id));
  EXPECT_GE(broker_->counters().events_published, 1u);
}

// A subscriber that is connected but hears nothing must not keep the broker's loop busy: its
// rounds (poll_once calls that found traffic or work) stay few while nothing happens.
TEST_F(BrokerTest, AnIdleBrokerWithASubscriberWaitsInsteadOfSpinning) {
  auto sub = job_subscriber();
  auto client = dealer(client_endpoint_);
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    submit(client, {"a.spec.ts"}, "build-" + std::to_string(i));
    got = receive(sub, 10ms);
  }
  ASSERT_EQ(got.size(), 4u);  // subscribed: the broker knows of the subscription
  while (!receive(sub, 50ms).empty()) {
  }
  const auto before = broker_->counters().loop_rounds.load();
  std::this_thread::sleep_for(300ms);  // the quiet being measured, not a synchronisation
  const auto rounds = broker_->counters().loop_rounds.load() - before;
  EXPECT_LT(rounds, 100u) << "a busy loop runs thousands of rounds in 300 ms";
}

// A dashboard shows a job from its events alone: they name its test, target and priority.
TEST_F(BrokerTest, JobEventsNameTheTestTargetAndPriority) {
  auto sub = job_subscriber();
  auto client = dealer(client_endpoint_);
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    qg::proto::SubmitRequest req;
    req.rid = "r" + std::to_string(i);
    req.org_id = "acme";
    req.app_version_id = "build-" + std::to_string(i);
    req.target = qg::proto::Target::device;
    req.priority = qg::proto::Priority::high;
    req.tests = {"tests/login.spec.ts"};
    request<qg::proto::SubmitReply>(client, kClientProtocol, req);
    got = receive(sub, 10ms);
  }
  ASSERT_EQ(got.size(), 4u);
  auto event = qg::proto::decode<qg::proto::JobEvent>(got[3]);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->test_path, "tests/login.spec.ts");
  EXPECT_EQ(event->target, qg::proto::Target::device);
  EXPECT_EQ(event->priority, qg::proto::Priority::high);
}

TEST_F(BrokerTest, AHeldPullGetsANewBuildInTheSubmitsStoreCallAndItsEventsStayInOrder) {
  auto sub = job_subscriber();
  auto client = dealer(client_endpoint_);
  // Until the subscription is in, submit for another target than the pull's, so that nothing
  // the pull could take is queued when it comes.
  std::vector<std::string> got;
  for (int i = 0; i < 300 && got.empty(); ++i) {
    qg::proto::SubmitRequest warm;
    warm.rid = "warm";
    warm.org_id = "acme";
    warm.app_version_id = "warm-" + std::to_string(i);
    warm.target = qg::proto::Target::device;
    warm.tests = {"w.spec.ts"};
    request<qg::proto::SubmitReply>(client, kClientProtocol, warm);
    got = receive(sub, 10ms);
  }
  ASSERT_FALSE(got.empty()) << "the subscription never came in";

  // The pull is held once the broker has read it: the round that reads it finds nothing.
  auto worker = dealer(worker_endpoint_);
  const auto read_before = broker_->counters().worker_messages.load();
  send(worker, qg::proto::frames_of(kWorkerProtocol, pull_request(20000)));
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (broker_->counters().worker_messages.load() == read_before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_GT(broker_->counters().worker_messages.load(), read_before);

  auto submitted = submit(client, {"a.spec.ts"}, "build-new");
  ASSERT_EQ(submitted.job_ids.size(), 1u);
  auto reply = receive(worker, 2000ms);
  ASSERT_EQ(reply.size(), 3u);
  ASSERT_EQ(reply[1], "ASSIGN");
  auto assign = qg::proto::decode<qg::proto::Assign>(reply[2]);
  ASSERT_TRUE(assign.ok());
  ASSERT_EQ(assign->jobs.size(), 1u);
  EXPECT_EQ(assign->jobs[0].job_id, submitted.job_ids[0]);

  // The job's events: queued, then assigned (the worker's group goes out before the
  // submitter's reply, the events do not).
  std::vector<qg::proto::JobStatus> statuses;
  while (statuses.size() < 2) {
    auto frames = receive(sub);
    ASSERT_EQ(frames.size(), 4u) << "missing events of the job";
    auto event = qg::proto::decode<qg::proto::JobEvent>(frames[3]);
    ASSERT_TRUE(event.ok());
    if (event->job_id == submitted.job_ids[0]) statuses.push_back(event->status);
  }
  EXPECT_EQ(statuses, (std::vector{qg::proto::JobStatus::queued, qg::proto::JobStatus::assigned}));
}

}  // namespace

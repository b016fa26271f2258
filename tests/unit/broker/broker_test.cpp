// Broker behaviours, driven by fake clients and workers that send hand-built frames over
// real ZeroMQ sockets to a Broker running on the embedded memory store.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
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
  hb.state = "idle";
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

// Broker behaviours on the worker side by connection: a worker message is served only from a
// connection whose key is that worker's and that holds the worker id; a report only from the
// lease's own worker. A second connection claiming a live worker id is refused; one claiming
// it after the holder's connection closed or went silent takes over. Each attack is refused or
// harmless, and the worker it aimed at keeps working. Peers get their roles from where they
// connect (identity_fixture.hpp); 127.0.0.1 is a local peer, as without keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "identity_fixture.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::IdentityBrokerTest;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;
namespace proto = qg::proto;

constexpr const char* kWorker1 = "127.0.0.5";
constexpr const char* kWorker2 = "127.0.0.6";
constexpr const char* kAcme = "127.0.0.2";
constexpr const char* kLocal = "127.0.0.1";

class WorkerBinding : public IdentityBrokerTest {
 protected:
  proto::Hello hello_of(const std::string& worker_id) {
    proto::Hello hello;
    hello.rid = "h-" + worker_id;
    hello.worker_id = worker_id;
    hello.targets = {proto::Target::emulator};
    return hello;
  }
  proto::Pull pull_of(const std::string& worker_id, std::uint32_t wait_ms) {
    auto pull = pull_request(wait_ms);
    pull.worker_id = worker_id;
    return pull;
  }
  proto::Report report_of(const std::string& worker_id, const proto::Assign& assign, std::size_t i) {
    proto::Report report;
    report.rid = "rep-" + std::to_string(i);
    report.worker_id = worker_id;
    report.lease_id = assign.lease_id;
    report.job_id = assign.jobs.at(i).job_id;
    report.attempt = assign.jobs.at(i).attempt;
    report.status = proto::JobStatus::passed;
    return report;
  }
  // Submits `tests` for acme; the job ids.
  std::vector<std::string> submit_tests(std::vector<std::string> tests) {
    auto client = client_as(kAcme);
    proto::SubmitRequest req;
    req.rid = "s";
    req.org_id = "acme";
    req.app_version_id = "b1";
    req.tests = std::move(tests);
    return request<proto::SubmitReply>(client, kClientProtocol, req).job_ids;
  }
  proto::JobStatus status_of(const std::string& id) {
    auto client = client_as(kAcme);
    proto::StatusRequest req;
    req.rid = "st";
    req.job_ids = {id};
    auto reply = request<proto::StatusReply>(client, kClientProtocol, req);
    return reply.jobs.empty() ? proto::JobStatus::dead : reply.jobs[0].status;
  }
  // A worker of `worker_id` from `source` that said HELLO and was admitted.
  zmq::socket_t registered(const char* source, const std::string& worker_id) {
    auto worker = worker_as(source);
    EXPECT_EQ(request<proto::HelloReply>(worker, kWorkerProtocol, hello_of(worker_id)).rid, "h-" + worker_id);
    return worker;
  }
  // HELLO from `worker` until admitted or `timeout`; true when admitted.
  bool hello_until_admitted(zmq::socket_t& worker, const std::string& worker_id, std::chrono::milliseconds timeout) {
    return qg::testing::wait_until(
        [&] {
          send(worker, proto::frames_of(kWorkerProtocol, hello_of(worker_id)));
          auto reply = receive(worker, 500ms);
          return reply.size() == 3 && reply[1] == proto::HelloReply::command;
        },
        timeout, 50ms);
  }
};

TEST_F(WorkerBinding, AnotherWorkersKeyCannotPullOrReportForIt) {
  const auto ids = submit_tests({"a.spec.ts", "b.spec.ts"});
  auto intruder = registered(kWorker2, "w2");
  for (const auto& frames :
       {proto::frames_of(kWorkerProtocol, hello_of("w1")), proto::frames_of(kWorkerProtocol, pull_of("w1", 0))}) {
    auto error = expect_error(intruder, frames);
    EXPECT_EQ(error.code, proto::errc::forbidden);
    EXPECT_EQ(error.field, "worker_id");
  }
  auto worker = registered(kWorker1, "w1");
  auto assign = request<proto::Assign>(worker, kWorkerProtocol, pull_of("w1", 1000));
  ASSERT_EQ(assign.jobs.size(), 2u);

  // A forged pass in w1's name is refused; in w2's own name, naming w1's lease, it is fenced.
  EXPECT_EQ(expect_error(intruder, proto::frames_of(kWorkerProtocol, report_of("w1", assign, 0))).code,
            proto::errc::forbidden);
  auto fenced = request<proto::Confirm>(intruder, kWorkerProtocol, report_of("w2", assign, 0));
  EXPECT_FALSE(fenced.accepted);
  EXPECT_EQ(fenced.reason, "lost_lease");
  proto::Progress progress{"w2", assign.lease_id, assign.jobs[0].job_id, assign.jobs[0].attempt,
                           proto::JobStatus::running};
  send(intruder, proto::frames_of(kWorkerProtocol, progress));
  EXPECT_EQ(status_of(assign.jobs[0].job_id), proto::JobStatus::assigned);

  // The worker holding the lease finishes its jobs.
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(request<proto::Confirm>(worker, kWorkerProtocol, report_of("w1", assign, i)).accepted);
  }
  EXPECT_EQ(status_of(ids[0]), proto::JobStatus::passed);
}

TEST_F(WorkerBinding, AnOrgKeyOnTheWorkerPortIsRefused) {
  auto intruder = worker_as(kAcme);
  auto error = expect_error(intruder, proto::frames_of(kWorkerProtocol, hello_of("w1")));
  EXPECT_EQ(error.code, proto::errc::forbidden);
  registered(kWorker1, "w1");
}

TEST_F(WorkerBinding, ReleaseAndByeNamingAnotherWorkerAreRefused) {
  submit_tests({"a.spec.ts", "b.spec.ts"});
  auto worker = registered(kWorker1, "w1");
  auto assign = request<proto::Assign>(worker, kWorkerProtocol, pull_of("w1", 1000));
  ASSERT_EQ(assign.jobs.size(), 2u);
  auto intruder = registered(kWorker2, "w2");
  proto::Release release;
  release.rid = "rel";
  release.worker_id = "w1";
  release.lease_id = assign.lease_id;
  release.job_ids = {assign.jobs[1].job_id};
  EXPECT_EQ(expect_error(intruder, proto::frames_of(kWorkerProtocol, release)).code, proto::errc::forbidden);
  release.worker_id = "w2";  // its own name, w1's lease: the store's lease check hands nothing back
  EXPECT_EQ(request<proto::ReleaseReply>(intruder, kWorkerProtocol, release).released, 0u);
  proto::Bye bye;
  bye.rid = "bye";
  bye.worker_id = "w1";
  EXPECT_EQ(expect_error(intruder, proto::frames_of(kWorkerProtocol, bye)).code, proto::errc::forbidden);

  // w1 is still bound: its reports are accepted and a cancel reaches it.
  EXPECT_TRUE(request<proto::Confirm>(worker, kWorkerProtocol, report_of("w1", assign, 0)).accepted);
  auto client = client_as(kAcme);
  proto::CancelRequest cancel;
  cancel.rid = "c";
  cancel.job_id = assign.jobs[1].job_id;
  request<proto::CancelReply>(client, kClientProtocol, cancel);
  auto frames = receive(worker);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1], proto::CancelJob::command);
}

// Without keys (local peers), heartbeats naming a worker from another connection used to
// rebind its routing: a third party received the broker's CANCEL and the job ran on.
TEST_F(WorkerBinding, HeartbeatsFromAnotherConnectionDoNotTakeAWorkersRouting) {
  submit_tests({"a.spec.ts"});
  auto worker = registered(kLocal, "w1");
  auto assign = request<proto::Assign>(worker, kWorkerProtocol, pull_of("w1", 1000));
  ASSERT_EQ(assign.jobs.size(), 1u);
  auto impostor = worker_as(kLocal);
  proto::Heartbeat hb;
  hb.worker_id = "w1";
  hb.state = "busy";
  hb.lease_id = assign.lease_id;
  auto error = expect_error(impostor, proto::frames_of(kWorkerProtocol, hb));
  EXPECT_EQ(error.code, proto::errc::conflict);
  EXPECT_EQ(error.field, "worker_id");

  auto client = client_as(kAcme);
  proto::CancelRequest cancel;
  cancel.rid = "c";
  cancel.job_id = assign.jobs[0].job_id;
  request<proto::CancelReply>(client, kClientProtocol, cancel);
  // The holder was told (ERROR, empty rid) that another connection claims its id; then the
  // CANCEL reaches it, and only it.
  auto frames = receive(worker);
  if (frames.size() == 3 && frames[1] == proto::ErrorReply::command) frames = receive(worker);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1], proto::CancelJob::command);
  EXPECT_TRUE(receive(impostor, 200ms).empty());
}

TEST_F(WorkerBinding, ASecondConnectionClaimingALiveWorkerIdIsRefused) {
  auto worker = registered(kLocal, "w1");
  auto second = worker_as(kLocal);
  auto error = expect_error(second, proto::frames_of(kWorkerProtocol, hello_of("w1")));
  EXPECT_EQ(error.code, proto::errc::conflict);
  EXPECT_EQ(error.field, "worker_id");
  // The holder is told that another connection claims its id, and keeps working.
  auto told = receive(worker);
  ASSERT_EQ(told.size(), 3u);
  EXPECT_EQ(told[1], proto::ErrorReply::command);
  auto nowork = request<proto::NoWork>(worker, kWorkerProtocol, pull_of("w1", 0));
  EXPECT_EQ(nowork.rid, "p1");
}

// The lockout: a DEALER that took a device's worker id (and its routing id) first kept the
// real worker out, long after it left. Now the real worker is admitted as soon as the
// impostor's connection closes (well before the 3 heartbeats of silence that also free it).
TEST_F(WorkerBinding, AWorkerIsAdmittedOnceTheConnectionHoldingItsIdCloses) {
  zmq::socket_t impostor(context_, zmq::socket_type::dealer);
  qg::set_common_options(impostor);
  impostor.set(zmq::sockopt::routing_id, "w1");
  impostor.connect(worker_endpoint_);
  ASSERT_EQ(request<proto::HelloReply>(impostor, kWorkerProtocol, hello_of("w1")).rid, "h-w1");

  auto worker = worker_as(kLocal);
  EXPECT_EQ(expect_error(worker, proto::frames_of(kWorkerProtocol, hello_of("w1"))).code, proto::errc::conflict);
  impostor.close();
  const auto closed = std::chrono::steady_clock::now();
  ASSERT_TRUE(hello_until_admitted(worker, "w1", 5000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - closed, 2500ms);
  submit_tests({"a.spec.ts"});
  EXPECT_EQ(request<proto::Assign>(worker, kWorkerProtocol, pull_of("w1", 1000)).jobs.size(), 1u);
}

TEST_F(WorkerBinding, AWorkerIsAdmittedOnceTheConnectionHoldingItsIdFallsSilent) {
  auto stale = registered(kLocal, "w1");
  auto worker = worker_as(kLocal);
  EXPECT_EQ(expect_error(worker, proto::frames_of(kWorkerProtocol, hello_of("w1"))).code, proto::errc::conflict);
  // The stale connection stays open but sends nothing: after 3 heartbeat intervals it is
  // taken for dead.
  ASSERT_TRUE(hello_until_admitted(worker, "w1", 8000ms));
  submit_tests({"a.spec.ts"});
  EXPECT_EQ(request<proto::Assign>(worker, kWorkerProtocol, pull_of("w1", 1000)).jobs.size(), 1u);
  // The old connection is now the second one.
  for (auto frames = receive(stale, 100ms); !frames.empty(); frames = receive(stale, 100ms)) {
  }
  EXPECT_EQ(expect_error(stale, proto::frames_of(kWorkerProtocol, pull_of("w1", 0))).code, proto::errc::conflict);
}

}  // namespace

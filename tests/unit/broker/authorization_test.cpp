// Broker behaviours on the client side by role: an org key submits for, sees and touches its
// own org only (another org's jobs read as missing), an admin key and a local peer see all,
// and no client is ever shown a lease id. Each attack is refused or harmless, and the
// legitimate client it aimed at keeps working. Peers get their roles from where they connect
// (identity_fixture.hpp).
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

constexpr const char* kAcme = "127.0.0.2";
constexpr const char* kGlobex = "127.0.0.3";
constexpr const char* kAdmin = "127.0.0.4";
constexpr const char* kWorker1 = "127.0.0.5";
constexpr const char* kLocal = "127.0.0.1";

class Authorization : public IdentityBrokerTest {
 protected:
  proto::SubmitRequest submission(const std::string& org, const std::string& app, std::vector<std::string> tests) {
    proto::SubmitRequest req;
    req.rid = "s-" + org;
    req.org_id = org;
    req.app_version_id = app;
    req.tests = std::move(tests);
    return req;
  }
  std::vector<std::string> submit_as(zmq::socket_t& client, const std::string& org, const std::string& app,
                                     std::vector<std::string> tests) {
    return request<proto::SubmitReply>(client, kClientProtocol, submission(org, app, std::move(tests))).job_ids;
  }
  proto::StatusReply status(zmq::socket_t& client, std::vector<std::string> ids) {
    proto::StatusRequest req;
    req.rid = "st";
    req.job_ids = std::move(ids);
    return request<proto::StatusReply>(client, kClientProtocol, req);
  }
  proto::Job job(const std::string& id) {
    auto admin = client_as(kAdmin);
    auto reply = status(admin, {id});
    EXPECT_EQ(reply.jobs.size(), 1u);
    return reply.jobs.empty() ? proto::Job{} : reply.jobs[0];
  }
  // A worker (key w1) that claims the next group; returns the ASSIGN.
  proto::Assign claim(zmq::socket_t& worker) {
    proto::Pull pull = pull_request(1000);
    return request<proto::Assign>(worker, kWorkerProtocol, pull);
  }
};

TEST_F(Authorization, AnOrgKeySubmitsForItsOwnOrgOnly) {
  auto acme = client_as(kAcme);
  auto error = expect_error(acme, proto::frames_of(kClientProtocol, submission("globex", "b1", {"x.spec.ts"})));
  EXPECT_EQ(error.code, proto::errc::forbidden);
  EXPECT_EQ(error.field, "org_id");
  // Nothing was written for globex, and acme's own submit goes through.
  auto admin = client_as(kAdmin);
  proto::ListRequest list;
  list.rid = "l";
  list.org_id = "globex";
  EXPECT_TRUE(request<proto::ListReply>(admin, kClientProtocol, list).jobs.empty());
  EXPECT_EQ(submit_as(acme, "acme", "b1", {"x.spec.ts"}).size(), 1u);
  EXPECT_GE(zap_requests.load(), 2);
}

TEST_F(Authorization, AnOrgKeySeesOnlyItsOrgInStatusAndList) {
  auto acme = client_as(kAcme);
  auto globex = client_as(kGlobex);
  const auto mine = submit_as(acme, "acme", "b1", {"a.spec.ts"});
  const auto theirs = submit_as(globex, "globex", "g1", {"secret.spec.ts"});
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_EQ(theirs.size(), 1u);

  // Another org's job answers exactly as an unknown id.
  auto got = status(acme, {mine[0], theirs[0], "no-such-job"});
  ASSERT_EQ(got.jobs.size(), 1u);
  EXPECT_EQ(got.jobs[0].id, mine[0]);
  EXPECT_EQ(got.missing, (std::vector<std::string>{theirs[0], "no-such-job"}));

  proto::ListRequest list;
  list.rid = "l";
  auto listed = request<proto::ListReply>(acme, kClientProtocol, list);
  ASSERT_EQ(listed.jobs.size(), 1u);
  EXPECT_EQ(listed.jobs[0].org_id, "acme");
  list.org_id = "globex";
  auto error = expect_error(acme, proto::frames_of(kClientProtocol, list));
  EXPECT_EQ(error.code, proto::errc::forbidden);
  EXPECT_EQ(error.field, "org_id");

  // The owner and an admin still see the job.
  EXPECT_EQ(status(globex, {theirs[0]}).jobs.size(), 1u);
  list.org_id.clear();
  EXPECT_EQ(request<proto::ListReply>(globex, kClientProtocol, list).jobs.size(), 1u);
  auto admin = client_as(kAdmin);
  EXPECT_EQ(request<proto::ListReply>(admin, kClientProtocol, list).jobs.size(), 2u);
}

TEST_F(Authorization, AnOrgKeyCannotCancelOrRetryAnotherOrgsJobs) {
  auto acme = client_as(kAcme);
  auto globex = client_as(kGlobex);
  const auto theirs = submit_as(globex, "globex", "g1", {"a.spec.ts", "b.spec.ts"});
  const auto mine = submit_as(acme, "acme", "b1", {"a.spec.ts"});
  ASSERT_EQ(theirs.size(), 2u);

  proto::CancelRequest one;
  one.rid = "c1";
  one.job_id = theirs[0];
  auto reply = request<proto::CancelReply>(acme, kClientProtocol, one);
  ASSERT_EQ(reply.results.size(), 1u);
  EXPECT_EQ(reply.results[0].outcome, "not_found");
  proto::CancelRequest build;
  build.rid = "c2";
  build.org_id = "globex";
  build.app_version_id = "g1";
  EXPECT_TRUE(request<proto::CancelReply>(acme, kClientProtocol, build).results.empty());
  EXPECT_EQ(job(theirs[0]).status, proto::JobStatus::queued);
  EXPECT_EQ(job(theirs[1]).status, proto::JobStatus::queued);

  // RETRY of another org's job is NOT_FOUND, as for an unknown id; of one's own live job, CONFLICT.
  proto::RetryRequest retry;
  retry.rid = "r";
  retry.job_id = theirs[0];
  EXPECT_EQ(expect_error(acme, proto::frames_of(kClientProtocol, retry)).code, proto::errc::not_found);
  retry.job_id = mine[0];
  EXPECT_EQ(expect_error(acme, proto::frames_of(kClientProtocol, retry)).code, proto::errc::conflict);

  // The owner cancels its own build.
  build.rid = "c3";
  EXPECT_EQ(request<proto::CancelReply>(globex, kClientProtocol, build).results.size(), 2u);
  EXPECT_EQ(job(theirs[0]).status, proto::JobStatus::cancelled);
}

TEST_F(Authorization, QueueAndStatsShowAnOrgKeyItsOwnOrgOnly) {
  auto acme = client_as(kAcme);
  auto globex = client_as(kGlobex);
  submit_as(acme, "acme", "b1", {"a.spec.ts"});
  submit_as(globex, "globex", "g1", {"a.spec.ts", "b.spec.ts"});

  proto::QueueRequest queue;
  queue.rid = "q";
  auto seen = request<proto::QueueReply>(acme, kClientProtocol, queue);
  ASSERT_EQ(seen.groups.size(), 1u);
  EXPECT_EQ(seen.groups[0].org_id, "acme");
  EXPECT_TRUE(seen.by_status.empty());
  EXPECT_TRUE(seen.by_priority.empty());
  auto admin = client_as(kAdmin);
  auto all = request<proto::QueueReply>(admin, kClientProtocol, queue);
  EXPECT_EQ(all.groups.size(), 2u);
  EXPECT_EQ(all.by_status["queued"], 3u);

  proto::StatsRequest stats;
  stats.rid = "s";
  auto own = request<proto::StatsReply>(acme, kClientProtocol, stats);
  EXPECT_EQ(own.by_org, (std::map<std::string, std::uint64_t>{{"acme", 1}}));
  EXPECT_TRUE(own.by_status.empty());
  auto every = request<proto::StatsReply>(admin, kClientProtocol, stats);
  EXPECT_EQ(every.by_org, (std::map<std::string, std::uint64_t>{{"acme", 1}, {"globex", 2}}));
  EXPECT_EQ(every.by_status["queued"], 3u);
  // Farm figures (an hour and a day record per queued org and target): an org key's its own.
  ASSERT_EQ(own.farm.size(), 2u);
  for (const auto& f : own.farm) EXPECT_EQ(f.org_id, "acme");
  ASSERT_EQ(every.farm.size(), 4u);
  EXPECT_EQ(every.farm[2].org_id, "globex");
}

TEST_F(Authorization, WorkersShowAnOrgKeyNoOtherOrgsBuildOrGroup) {
  auto globex = client_as(kGlobex);
  submit_as(globex, "globex", "g1", {"a.spec.ts"});
  auto worker = worker_as(kWorker1);
  proto::Hello hello;
  hello.rid = "h";
  hello.worker_id = "w1";
  hello.targets = {proto::Target::emulator};
  hello.installed = {"globex/g0", "acme/b0"};
  request<proto::HelloReply>(worker, kWorkerProtocol, hello);
  auto pull = pull_request(1000);
  pull.installed = hello.installed;
  auto assign = request<proto::Assign>(worker, kWorkerProtocol, pull);
  ASSERT_EQ(assign.jobs.size(), 1u);
  proto::Heartbeat hb;
  hb.worker_id = "w1";
  hb.state = "busy";
  hb.lease_id = assign.lease_id;
  hb.group_key = assign.group_key;
  send(worker, proto::frames_of(kWorkerProtocol, hb));

  proto::WorkersRequest workers;
  workers.rid = "w";
  auto acme = client_as(kAcme);
  auto admin = client_as(kAdmin);
  ASSERT_TRUE(qg::testing::wait_until(
      [&] {
        auto all = request<proto::WorkersReply>(admin, kClientProtocol, workers);
        return all.workers.size() == 1 && all.workers[0].group_key == assign.group_key;
      },
      3000ms, 20ms));
  auto all = request<proto::WorkersReply>(admin, kClientProtocol, workers);
  EXPECT_EQ(all.workers[0].installed.size(), 2u);
  EXPECT_TRUE(all.workers[0].lease_id.empty());
  auto seen = request<proto::WorkersReply>(acme, kClientProtocol, workers);
  ASSERT_EQ(seen.workers.size(), 1u);
  EXPECT_EQ(seen.workers[0].worker_id, "w1");
  EXPECT_EQ(seen.workers[0].state, "busy");
  EXPECT_TRUE(seen.workers[0].group_key.empty());
  EXPECT_TRUE(seen.workers[0].lease_id.empty());
  EXPECT_EQ(seen.workers[0].installed, std::vector<std::string>{"acme/b0"});

  // Ending a quarantine gives a device back to every org: an admin's call, refused to an org.
  proto::WorkersRequest unquarantine;
  unquarantine.rid = "u";
  unquarantine.unquarantine = "w1";
  auto refused = expect_error(acme, proto::frames_of(kClientProtocol, unquarantine));
  EXPECT_EQ(refused.code, proto::errc::forbidden);
  EXPECT_EQ(refused.field, "unquarantine");
  auto answered = request<proto::WorkersReply>(admin, kClientProtocol, unquarantine);
  EXPECT_FALSE(answered.unquarantined);  // it was not quarantined
  EXPECT_EQ(answered.workers.size(), 1u);
}

TEST_F(Authorization, NoClientIsShownALeaseId) {
  auto worker = worker_as(kWorker1);
  for (const char* source : {kLocal, kAdmin, kAcme}) {
    auto client = client_as(source);
    const auto ids = submit_as(client, "acme", std::string("b-") + source, {"a.spec.ts"});
    ASSERT_EQ(ids.size(), 1u);
    auto assign = claim(worker);
    ASSERT_FALSE(assign.lease_id.empty());
    auto got = status(client, ids);
    ASSERT_EQ(got.jobs.size(), 1u) << source;
    EXPECT_EQ(got.jobs[0].status, proto::JobStatus::assigned);
    EXPECT_EQ(got.jobs[0].worker_id, "w1");
    EXPECT_TRUE(got.jobs[0].lease_id.empty()) << source;
    proto::ListRequest list;
    list.rid = "l";
    for (const auto& j : request<proto::ListReply>(client, kClientProtocol, list).jobs) {
      EXPECT_TRUE(j.lease_id.empty()) << source;
    }
    // The worker still finishes the job with the lease it was given.
    proto::Report report;
    report.rid = "rep";
    report.worker_id = "w1";
    report.lease_id = assign.lease_id;
    report.job_id = assign.jobs[0].job_id;
    report.attempt = assign.jobs[0].attempt;
    report.status = proto::JobStatus::passed;
    EXPECT_TRUE(request<proto::Confirm>(worker, kWorkerProtocol, report).accepted);
  }
}

TEST_F(Authorization, AWorkerOrSchedulerKeyOnTheClientPortMayAskHealthOnly) {
  for (const char* source : {kWorker1, "127.0.0.7"}) {
    auto intruder = client_as(source);
    auto error = expect_error(intruder, proto::frames_of(kClientProtocol, submission("acme", "b1", {"a.spec.ts"})));
    EXPECT_EQ(error.code, proto::errc::forbidden);
    proto::ListRequest list;
    list.rid = "l";
    EXPECT_EQ(expect_error(intruder, proto::frames_of(kClientProtocol, list)).code, proto::errc::forbidden);
    proto::HealthRequest health;
    health.rid = "h";
    EXPECT_TRUE(request<proto::HealthReply>(intruder, kClientProtocol, health).ok);
  }
}

}  // namespace

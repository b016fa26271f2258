// qg-worker's protocol behaviour against a hand-driven fake broker (ROUTER + event SUB).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "worker_fixture.hpp"

namespace qg::worker {
namespace {

using namespace std::chrono_literals;
using proto::JobStatus;
using test::assign;
using test::WorkerTest;

TEST_F(WorkerTest, RunsAGroupInstallingOnceAndReportsEachResult) {
  start();
  auto pull = broker.handshake();
  EXPECT_EQ(pull.worker_id, "w1");
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts", "tests/fail.spec.ts", "tests/c.spec.ts"}));
  auto reports = broker.collect_reports(3);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::passed);
  EXPECT_EQ(reports["Jv11"].status, JobStatus::failed);
  EXPECT_EQ(reports["Jv11"].exit_code, 3);
  EXPECT_EQ(reports["Jv11"].log_tail, "running tests/fail.spec.ts\n");
  EXPECT_EQ(reports["Jv12"].status, JobStatus::passed);
  EXPECT_EQ(reports["Jv10"].lease_id, "L-v1");

  // The same build again: no second install, and the next PULL announces the build.
  auto pull2 = broker.expect_decoded<proto::Pull>();
  ASSERT_TRUE(pull2.has_value());
  EXPECT_EQ(pull2->installed, std::vector<std::string>{"acme/v1"});
  broker.reply(assign(*pull2, "v1", {"tests/d.spec.ts"}));
  EXPECT_EQ(broker.collect_reports(1).size(), 1u);
  EXPECT_EQ(stop_and_join(), 0);
  EXPECT_EQ(worker->counters().installs_run, 1u);
  EXPECT_EQ(worker->counters().installs_skipped, 1u);
  auto installs = qg::testing::run_command({"cat", dir.path() + "/installs.log"}, 5s).output;
  EXPECT_EQ(installs, "installing v1\n");
}

TEST_F(WorkerTest, PublishesHeartbeatsAndJobEvents) {
  start();
  auto pull = broker.handshake();
  EXPECT_TRUE(broker.expect("HEARTBEAT", 2s).has_value());
  // PUB drops what it sends before the connection is up: wait for a published heartbeat first.
  std::vector<std::pair<std::string, std::string>> events;
  auto has = [&](const std::string& topic) {
    for (auto& e : broker.drain_events()) events.push_back(e);
    return std::any_of(events.begin(), events.end(), [&](auto& e) { return e.first == topic; });
  };
  ASSERT_TRUE(qg::testing::wait_until([&] { return has("hb.w1"); }, 5s));
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts"}));
  broker.collect_reports(1);
  EXPECT_TRUE(qg::testing::wait_until([&] { return has("job.acme.Jv10"); }, 5s));
  EXPECT_TRUE(
      std::any_of(events.begin(), events.end(), [](auto& e) { return e.first == "hb.w1" && e.second == "HEARTBEAT"; }));
  EXPECT_TRUE(std::any_of(events.begin(), events.end(),
                          [](auto& e) { return e.first == "job.acme.Jv10" && e.second == "JOB"; }));
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, ResendsAReportUntilConfirmed) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts"}));
  auto first = broker.expect_decoded<proto::Report>();
  ASSERT_TRUE(first.has_value());
  auto again = broker.expect_decoded<proto::Report>(3s);  // not confirmed: it comes again
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->job_id, first->job_id);
  proto::Confirm c;
  c.rid = again->rid;
  c.job_id = again->job_id;
  c.attempt = again->attempt;
  c.accepted = false;
  c.reason = "stale_attempt";
  broker.reply(c);
  EXPECT_EQ(stop_and_join(), 0);
  EXPECT_EQ(worker->counters().reports_rejected, 1u);
}

TEST_F(WorkerTest, CancelKillsTheRunningTestAndTheGroupGoesOn) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/hang.spec.ts", "tests/b.spec.ts"}));
  auto progress = broker.expect_decoded<proto::Progress>();
  while (progress && progress->status != JobStatus::running) progress = broker.expect_decoded<proto::Progress>();
  ASSERT_TRUE(progress.has_value());
  auto start_ms = steady_ms();
  proto::CancelJob cancel;
  cancel.job_id = "Jv10";
  cancel.attempt = 1;
  broker.reply(cancel);
  auto reports = broker.collect_reports(2);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::cancelled);
  EXPECT_EQ(reports["Jv11"].status, JobStatus::passed);
  EXPECT_LT(steady_ms() - start_ms, 3000);
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, StartsTheNextTestAsSoonAsOneEndsWithoutWaitingForConfirms) {
  // A poll step as long as the whole deadline: only an exit seen as an event can finish the
  // group in time. Reports are left unconfirmed until all are in.
  settings.tick = 10s;
  settings.report_resend = 10s;
  start();
  auto pull = broker.handshake();
  std::vector<std::string> tests(20, "tests/quick.spec.ts");
  broker.reply(assign(pull, "v1", tests));
  std::set<std::string> reported;
  auto deadline = steady_ms() + 8000;
  while (reported.size() < tests.size() && steady_ms() < deadline) {
    auto r = broker.expect_decoded<proto::Report>(
        std::chrono::milliseconds(std::max<std::int64_t>(deadline - steady_ms(), 1)));
    if (!r) break;
    reported.insert(r->job_id);
  }
  EXPECT_EQ(reported.size(), tests.size());
}

TEST_F(WorkerTest, HangingTestTimesOut) {
  settings.job_timeout = 300ms;
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/hang.spec.ts"}));
  auto reports = broker.collect_reports(1);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::timed_out);
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, FailedInstallIsAnErrorForEveryJobWithTheInstallLog) {
  settings.install_cmd = "echo cannot install {app_version_id}; exit 1";
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "broken", {"tests/a.spec.ts", "tests/b.spec.ts"}));
  auto reports = broker.collect_reports(2);
  ASSERT_EQ(reports.size(), 2u);
  for (auto& [id, r] : reports) {
    EXPECT_EQ(r.status, JobStatus::error) << id;
    EXPECT_EQ(r.log_tail, "cannot install broken\n");
    EXPECT_NE(r.error.find("install failed"), std::string::npos);
  }
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, DrainFinishesTheRunningTestAndReleasesTheRest) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/slow.spec.ts", "tests/b.spec.ts", "tests/c.spec.ts"}));
  auto progress = broker.expect_decoded<proto::Progress>();
  while (progress && progress->status != JobStatus::running) progress = broker.expect_decoded<proto::Progress>();
  ASSERT_TRUE(progress.has_value());
  worker->request_stop();
  auto release = broker.expect_decoded<proto::Release>(2s);
  ASSERT_TRUE(release.has_value());
  EXPECT_EQ(release->lease_id, "L-v1");
  EXPECT_EQ(release->job_ids, (std::vector<std::string>{"Jv11", "Jv12"}));
  proto::ReleaseReply rr;
  rr.rid = release->rid;
  rr.released = 2;
  broker.reply(rr);
  auto reports = broker.collect_reports(1);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::passed);
  auto bye = broker.expect_decoded<proto::Bye>();
  ASSERT_TRUE(bye.has_value());
  proto::ByeReply br;
  br.rid = bye->rid;
  broker.reply(br);
  thread.join();
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(broker.seen("REPORT"), 1);
}

TEST_F(WorkerTest, SaysHelloAgainWhenThePullIsNeverAnswered) {
  start();
  broker.handshake();
  // Never answer the pull (a broker that restarted has forgotten it).
  auto hello = broker.expect_decoded<proto::Hello>(3s);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->worker_id, "w1");
}

TEST_F(WorkerTest, SecondStopKillsTheRunningTestAndLeavesAtOnce) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/hang.spec.ts"}));
  auto progress = broker.expect_decoded<proto::Progress>();
  while (progress && progress->status != JobStatus::running) progress = broker.expect_decoded<proto::Progress>();
  ASSERT_TRUE(progress.has_value());
  auto start_ms = steady_ms();
  worker->request_stop();
  worker->request_stop();
  thread.join();
  EXPECT_EQ(exit_code, 130);
  EXPECT_LT(steady_ms() - start_ms, 3000);
  auto release = broker.expect_decoded<proto::Release>(2s);
  ASSERT_TRUE(release.has_value());
  EXPECT_EQ(release->job_ids, std::vector<std::string>{"Jv10"});
}

}  // namespace
}  // namespace qg::worker

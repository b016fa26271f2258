// qg-worker's protocol behaviour against a hand-driven fake broker (ROUTER + event SUB).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "qg/common/clock.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"
#include "qg/worker/worker.hpp"

namespace qg::worker {
namespace {

using namespace std::chrono_literals;
using proto::JobStatus;

struct Received {
  std::string command;
  std::string body;
};

class FakeBroker {
 public:
  explicit FakeBroker(zmq::context_t& context)
      : router_(context, zmq::socket_type::router), events_(context, zmq::socket_type::sub) {
    set_common_options(router_);
    set_common_options(events_);
    router_.bind("tcp://127.0.0.1:*");
    events_.bind("tcp://127.0.0.1:*");
    events_.set(zmq::sockopt::subscribe, "");
  }
  std::string endpoint() { return "tcp://127.0.0.1:" + std::to_string(bound_port(router_)); }
  std::string events_endpoint() { return "tcp://127.0.0.1:" + std::to_string(bound_port(events_)); }

  // The next message with `command` within `timeout`; others are recorded and skipped.
  std::optional<Received> expect(const std::string& command, std::chrono::milliseconds timeout = 5s) {
    auto deadline = steady_ms() + timeout.count();
    while (steady_ms() < deadline) {
      zmq::pollitem_t items[] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, 20ms);
      while (auto m = recv_multipart(router_, 8, 8 << 20)) {
        if (m->frames.size() != 4) continue;
        peer_ = m->frames[0];
        seen_[m->frames[2]]++;
        if (m->frames[2] == command) return Received{m->frames[2], m->frames[3]};
      }
    }
    return std::nullopt;
  }
  template <class T>
  std::optional<T> expect_decoded(std::chrono::milliseconds timeout = 5s) {
    auto r = expect(std::string(T::command), timeout);
    if (!r) return std::nullopt;
    auto d = proto::decode<T>(r->body);
    EXPECT_TRUE(d.ok()) << d.error().message;
    if (!d) return std::nullopt;
    return d.value();
  }
  template <class T>
  void reply(const T& message) {
    auto frames = proto::frames_of(proto::kWorkerProtocol, message);
    frames.insert(frames.begin(), peer_);
    ASSERT_TRUE(send_multipart(router_, frames));
  }
  // HELLO -> reply, then the first PULL.
  proto::Pull handshake() {
    auto hello = expect_decoded<proto::Hello>();
    EXPECT_TRUE(hello.has_value());
    proto::HelloReply r;
    r.rid = hello->rid;
    r.heartbeat_ms = 100;
    reply(r);
    auto pull = expect_decoded<proto::Pull>();
    EXPECT_TRUE(pull.has_value());
    return *pull;
  }
  // Reports until `n` distinct jobs reported; each confirmed.
  std::map<std::string, proto::Report> collect_reports(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::map<std::string, proto::Report> reports;
    auto deadline = steady_ms() + timeout.count();
    while (reports.size() < n && steady_ms() < deadline) {
      auto r = expect_decoded<proto::Report>(std::chrono::milliseconds(deadline - steady_ms()));
      if (!r) break;
      reports[r->job_id] = *r;
      proto::Confirm c;
      c.rid = r->rid;
      c.job_id = r->job_id;
      c.attempt = r->attempt;
      c.accepted = true;
      reply(c);
    }
    return reports;
  }
  std::vector<std::pair<std::string, std::string>> drain_events() {
    std::vector<std::pair<std::string, std::string>> out;
    while (auto m = recv_multipart(events_, 8, 8 << 20)) {
      if (m->frames.size() == 4) out.emplace_back(m->frames[0], m->frames[2]);
    }
    return out;
  }
  int seen(const std::string& command) const {
    auto it = seen_.find(command);
    return it == seen_.end() ? 0 : it->second;
  }

 private:
  zmq::socket_t router_;
  zmq::socket_t events_;
  std::string peer_;
  std::map<std::string, int> seen_;
};

proto::Assign assign(const proto::Pull& pull, const std::string& app, const std::vector<std::string>& tests) {
  proto::Assign a;
  a.rid = pull.rid;
  a.lease_id = "L-" + app;
  a.org_id = "acme";
  a.app_version_id = app;
  a.group_key = "acme/" + app + "/emulator";
  for (std::size_t i = 0; i < tests.size(); ++i) {
    a.jobs.push_back({"J" + app + std::to_string(i), tests[i], 1, proto::Priority::medium});
  }
  return a;
}

struct WorkerTest : ::testing::Test {
  zmq::context_t context{1};
  FakeBroker broker{context};
  qg::testing::TempDir dir;
  Settings settings;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  int exit_code = -1;

  WorkerTest() {
    settings.broker = broker.endpoint();
    settings.events = broker.events_endpoint();
    settings.worker_id = "w1";
    settings.device_id = "dev1";
    settings.workdir = dir.path();
    settings.install_cmd = "echo installing {app_version_id} >> " + dir.path() + "/installs.log";
    settings.run_cmd =
        "echo running {test_path}; case {test_path} in *fail*) exit 3;; *slow*) sleep 1;; *hang*) sleep 100;; esac";
    settings.heartbeat = 100ms;
    settings.pull_wait = 300ms;
    settings.reply_timeout = 500ms;
    settings.report_resend = 200ms;
    settings.kill_grace = 200ms;
    settings.drain_timeout = 3s;
  }
  void start() {
    worker = std::make_unique<Worker>(settings, context, null_logger());
    thread = std::thread([this] { exit_code = worker->run(); });
  }
  int stop_and_join() {
    if (thread.joinable()) {
      worker->request_stop();
      if (auto bye = broker.expect_decoded<proto::Bye>(5s)) {
        proto::ByeReply r;
        r.rid = bye->rid;
        broker.reply(r);
      }
      thread.join();
    }
    return exit_code;
  }
  ~WorkerTest() override {
    if (thread.joinable()) {
      worker->request_stop();
      worker->request_stop();
      thread.join();
    }
  }
};

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

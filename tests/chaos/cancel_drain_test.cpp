// Cancel and drain: a cancelled running job's process group is killed within a second and
// the rest of its group goes on; SIGTERM drains a worker (current test finishes, the rest is
// handed back at once) and stops broker and scheduler cleanly.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <fstream>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using proto::JobStatus;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::describe;
using qg::testing::process_gone;
using qg::testing::wait_until;
using qg::testing::with_lease;
using qg::testing::WorkerOptions;

// Tests whose path contains "hang" start a grandchild (`sleep 60`), write its pid to
// <dir>/pid-<job_id> and wait for it; the others pass at once.
WorkerOptions hanging_worker(const Cluster& cluster, std::string id) {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.extra_args = qg::testing::fast_worker_args();
  options.run_cmd = "case {test_path} in *hang*) sleep 60 & echo $! > " + cluster.dir() + "/pid-{job_id}.tmp; mv " +
                    cluster.dir() + "/pid-{job_id}.tmp " + cluster.dir() + "/pid-{job_id}; wait;; *) exit 0;; esac";
  return options;
}

int pid_of(const Cluster& cluster, const std::string& job_id) {
  std::ifstream in(cluster.dir() + "/pid-" + job_id);
  int pid = 0;
  in >> pid;
  return pid;
}

TEST(Cancel, ARunningJobsProcessGroupIsKilledWithinASecondAndTheRestOfTheGroupContinues) {
  Cluster cluster(with_lease(3000));
  Api api(cluster.client_endpoint());
  cluster.add_worker(hanging_worker(cluster, "w1"));
  auto ids = api.submit("acme", "build-C", {"t/hang.spec.ts", "t/b.spec.ts", "t/c.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(wait_until([&] { return pid_of(cluster, ids[0]) > 0; }, 30s, 10ms)) << cluster.log("w1");
  const int pid = pid_of(cluster, ids[0]);
  ASSERT_FALSE(process_gone(pid));

  const auto start = std::chrono::steady_clock::now();
  auto cancelled = cluster.qgjob({"cancel", "--job-id", ids[0]});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.output << cancelled.error;
  ASSERT_TRUE(wait_until([&] { return process_gone(pid); }, 5s, 5ms));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took, 1000ms) << "the test's process outlived the cancel by " << took.count() << " ms";

  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 30s, 20ms)) << describe(api.status(ids));
  auto jobs = api.status(ids);
  EXPECT_EQ(jobs[0].status, JobStatus::cancelled) << describe(jobs);
  EXPECT_EQ(jobs[1].status, JobStatus::passed) << describe(jobs);
  EXPECT_EQ(jobs[2].status, JobStatus::passed) << describe(jobs);
}

TEST(Cancel, CancellingABuildEndsItsRunningAndQueuedJobsCancelledAndLeavesOtherBuildsAlone) {
  Cluster cluster(with_lease(3000));
  Api api(cluster.client_endpoint());
  cluster.add_worker(hanging_worker(cluster, "w1"));
  auto ids = api.submit("acme", "build-X", {"t/hang.spec.ts", "t/b.spec.ts", "t/c.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(wait_until([&] { return pid_of(cluster, ids[0]) > 0; }, 30s, 10ms)) << cluster.log("w1");
  auto other = api.submit("acme", "build-Y", {"t/a.spec.ts"}, "k2");
  ASSERT_EQ(other.size(), 1u);

  auto cancelled = cluster.qgjob({"cancel", "--org-id", "acme", "--app-version-id", "build-X"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.output << cancelled.error;
  ASSERT_TRUE(wait_until([&] { return process_gone(pid_of(cluster, ids[0])); }, 5s, 5ms));
  ASSERT_TRUE(wait_until([&] { return api.all_final(ids) && api.all_final(other); }, 30s, 20ms))
      << describe(api.status(ids));
  for (const auto& j : api.status(ids)) EXPECT_EQ(j.status, JobStatus::cancelled) << describe({j});
  EXPECT_EQ(api.status(other).at(0).status, JobStatus::passed);
}

TEST(Drain, SigtermMakesAWorkerFinishItsTestHandBackTheRestAtOnceAndExitZero) {
  Cluster cluster(with_lease(30000));  // a handed-back job must not wait for this
  Api api(cluster.client_endpoint());
  WorkerOptions first;
  first.worker_id = "w1";
  first.extra_args = qg::testing::fast_worker_args();
  first.env = {{"FAKE_APPWRIGHT_SLEEP", "1"}};
  cluster.add_worker(first);
  auto ids = api.submit("acme", "build-D", {"t/a.spec.ts", "t/b.spec.ts", "t/c.spec.ts", "t/d.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 4u);
  std::vector<proto::Job> jobs;
  ASSERT_TRUE(wait_until(
      [&] {
        jobs = api.status(ids);
        return jobs[0].status == JobStatus::running;
      },
      30s, 10ms))
      << describe(jobs);
  WorkerOptions second = first;
  second.worker_id = "w2";
  second.env = {{"FAKE_APPWRIGHT_SLEEP", "0"}};
  cluster.add_worker(second);

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(cluster.worker(0).pid(), SIGTERM), 0);  // the worker only, not its test
  // The unstarted jobs are claimed by w2 long before w1's lease (30 s) could expire.
  ASSERT_TRUE(wait_until(
      [&] {
        jobs = api.status({ids[1], ids[2], ids[3]});
        return std::all_of(jobs.begin(), jobs.end(), [](const proto::Job& j) { return j.worker_id == "w2"; });
      },
      10s, 10ms))
      << describe(jobs) << cluster.log("w1");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(cluster.worker(0).wait(15s), 0) << cluster.log("w1");

  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 30s, 20ms)) << describe(api.status(ids));
  jobs = api.status(ids);
  EXPECT_EQ(jobs[0].status, JobStatus::passed) << describe(jobs);
  EXPECT_EQ(jobs[0].worker_id, "w1") << describe(jobs);
  EXPECT_EQ(jobs[0].attempt, 1u) << describe(jobs);
  for (std::size_t i = 1; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i].status, JobStatus::passed) << describe(jobs);
    EXPECT_EQ(jobs[i].worker_id, "w2") << describe(jobs);
  }
}

TEST(Drain, SigtermStopsBrokerAndSchedulerPromptlyWithExitZero) {
  Cluster cluster(with_lease(3000));
  // Stopping a running scheduler: the cluster waits for the broker only, so first its log's
  // line saying it has reached Redis and is scheduling.
  ASSERT_TRUE(
      wait_until([&] { return cluster.log("scheduler-0").find(" scheduling ") != std::string::npos; }, 10s, 10ms))
      << cluster.log("scheduler-0");
  const auto start = std::chrono::steady_clock::now();
  cluster.scheduler(0).signal(SIGTERM);
  cluster.broker(0).signal(SIGTERM);
  EXPECT_EQ(cluster.scheduler(0).wait(5s), 0) << cluster.log("scheduler-0");
  EXPECT_EQ(cluster.broker(0).wait(5s), 0) << cluster.log("broker-0");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// A broker or scheduler started against a Redis that is not there waits for it, retrying; a
// stop then ends it at once with exit 0, not by SIGTERM's default action.
TEST(Drain, SigtermStopsABrokerOrSchedulerStillWaitingForRedisWithExitZero) {
  const auto endpoint = [](int port) { return "tcp://127.0.0.1:" + std::to_string(port); };
  const std::string absent_redis = "redis://127.0.0.1:" + std::to_string(qg::testing::free_port());
  const std::vector<std::vector<std::string>> commands = {
      {qg::testing::bin_dir() + "/qg-broker", "--redis-url", absent_redis, "--client-endpoint",
       endpoint(qg::testing::free_port()), "--worker-endpoint", endpoint(qg::testing::free_port()), "--events-in",
       endpoint(qg::testing::free_port()), "--events-out", endpoint(qg::testing::free_port()), "--log-level", "debug"},
      {qg::testing::bin_dir() + "/qg-scheduler", "--redis-url", absent_redis, "--events", "", "--log-level", "debug"}};
  for (const auto& argv : commands) {
    SCOPED_TRACE(argv[0]);
    qg::testing::TempDir dir;
    const std::string log_path = dir.path() + "/process.log";
    qg::testing::ChildProcess process(argv, log_path);
    const auto log = [&] {
      std::ifstream in(log_path);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    ASSERT_TRUE(wait_until([&] { return log().find("cannot reach Redis") != std::string::npos; }, 10s, 10ms)) << log();
    const auto start = std::chrono::steady_clock::now();
    process.signal(SIGTERM);
    EXPECT_EQ(process.wait(5s), 0) << log();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_NE(log().find("stopped before Redis"), std::string::npos) << log();
  }
}

}  // namespace

// CI aborts: `qgjob submit --wait` and `qgjob wait` cancel the jobs they were waiting for when
// they get SIGINT or SIGTERM or reach their --timeout (exit 130, 143 or 2), so an aborted run
// does not keep a device busy; --keep-on-exit leaves the jobs running. Real processes: a
// broker on the memory store and a worker whose test blocks (`sleep 30`).
#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "cluster.hpp"
#include "qg/cli/json.hpp"

namespace {

using namespace std::chrono_literals;
using qg::cli::Json;
using qg::testing::ChildProcess;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

ClusterOptions memory_store() {
  ClusterOptions options;
  options.redis = false;
  return options;
}

// A broker on the memory store and one worker, w1, whose every test blocks for 30 s.
class CiAbort : public ::testing::Test {
 protected:
  CiAbort() : cluster_(memory_store()) {
    WorkerOptions worker;
    worker.worker_id = "w1";
    worker.run_cmd = "sleep 30";
    cluster_.add_worker(worker);
  }

  // `qgjob <args>` started in the background, its output in <dir>/<name>.log.
  std::unique_ptr<ChildProcess> start_qgjob(const std::string& name, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {qg::testing::bin_dir() + "/qgjob", "--broker", cluster_.client_endpoint(),
                                     "--events", cluster_.events_out_endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<ChildProcess>(argv, cluster_.dir() + "/" + name + ".log");
  }

  Json json_of(const std::vector<std::string>& args) {
    auto result = cluster_.qgjob(args);
    if (result.exit_code != 0) return Json::object();
    return Json::parse(result.output, nullptr, false);
  }

  // job id -> status of every job of org acme.
  std::map<std::string, std::string> statuses() {
    std::map<std::string, std::string> out;
    auto doc = json_of({"list", "--org-id", "acme", "--json"});
    if (!doc.contains("jobs")) return out;
    for (const auto& j : doc["jobs"]) out[j["id"].get<std::string>()] = j["status"].get<std::string>();
    return out;
  }

  // job id -> status, read with `qgjob status --json`.
  std::map<std::string, std::string> status_of(const std::map<std::string, std::string>& jobs) {
    std::vector<std::string> args = {"status", "--json"};
    for (const auto& [id, status] : jobs) args.insert(args.end(), {"--job-id", id});
    std::map<std::string, std::string> out;
    auto doc = json_of(args);
    if (!doc.contains("jobs")) return out;
    for (const auto& j : doc["jobs"]) out[j["id"].get<std::string>()] = j["status"].get<std::string>();
    return out;
  }

  static std::size_t count(const std::map<std::string, std::string>& jobs, const std::string& status) {
    std::size_t n = 0;
    for (const auto& [id, s] : jobs) n += s == status ? 1 : 0;
    return n;
  }

  // Waits until org acme has `total` jobs, one of them running on w1.
  void wait_for_one_running(std::size_t total) {
    std::map<std::string, std::string> jobs;
    ASSERT_TRUE(wait_until(
        [&] {
          jobs = statuses();
          return jobs.size() == total && count(jobs, "running") == 1;
        },
        30s, 20ms))
        << cluster_.log("w1");
  }

  void expect_all_cancelled_and_worker_free(const std::string& log_name) {
    std::map<std::string, std::string> jobs;
    EXPECT_TRUE(wait_until(
        [&] {
          jobs = status_of(statuses());
          return !jobs.empty() && count(jobs, "cancelled") == jobs.size();
        },
        15s, 20ms))
        << cluster_.log(log_name) << cluster_.log("w1");
    EXPECT_TRUE(wait_until(
        [&] {
          auto doc = json_of({"workers", "--json"});
          if (!doc.contains("workers")) return false;
          for (const auto& w : doc["workers"]) {
            if (w["worker_id"] == "w1") return w["state"] == "idle";
          }
          return false;
        },
        15s, 20ms))
        << cluster_.log("w1");
    const auto log = cluster_.log(log_name);
    EXPECT_NE(log.find("cancelling " + std::to_string(jobs.size()) + " unfinished job(s)"), std::string::npos) << log;
  }

  std::vector<std::string> submit_args(std::vector<std::string> extra) {
    std::vector<std::string> args = {"submit", "--org-id",    "acme",   "--app-version-id", "b1",
                                     "--test", "t/a.spec.ts", "--test", "t/b.spec.ts"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  Cluster cluster_;
};

TEST_F(CiAbort, SigintToSubmitWaitCancelsItsJobsAndExits130) {
  auto waiter = start_qgjob("qgjob", submit_args({"--wait"}));
  wait_for_one_running(2);
  ::kill(waiter->pid(), SIGINT);  // once: a second signal would end it at once
  EXPECT_EQ(waiter->wait(20s), 130) << cluster_.log("qgjob");
  expect_all_cancelled_and_worker_free("qgjob");
}

TEST_F(CiAbort, SubmitWaitReachingItsTimeoutCancelsItsJobsAndExits2) {
  auto waiter = start_qgjob("qgjob", submit_args({"--wait", "--timeout", "3"}));
  wait_for_one_running(2);
  EXPECT_EQ(waiter->wait(20s), 2) << cluster_.log("qgjob");
  expect_all_cancelled_and_worker_free("qgjob");
}

TEST_F(CiAbort, SigtermToWaitCancelsItsJobsAndExits143) {
  auto submitted = cluster_.qgjob(submit_args({}));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.error;
  wait_for_one_running(2);
  std::vector<std::string> args = {"wait"};
  for (const auto& [id, status] : statuses()) args.insert(args.end(), {"--job-id", id});
  auto waiter = start_qgjob("wait", args);
  // Once it printed its progress line it has read the jobs and waits on them.
  ASSERT_TRUE(wait_until([&] { return cluster_.log("wait").find("waiting for") != std::string::npos; }, 10s, 10ms))
      << cluster_.log("wait");
  ::kill(waiter->pid(), SIGTERM);  // once: a second signal would end it at once
  EXPECT_EQ(waiter->wait(20s), 143) << cluster_.log("wait");
  expect_all_cancelled_and_worker_free("wait");
}

// The broker stops answering while qgjob cancels: a second signal ends qgjob at once.
TEST_F(CiAbort, ASecondSignalExitsAtOnce) {
  auto waiter = start_qgjob("qgjob", submit_args({"--wait", "--request-timeout", "20"}));
  wait_for_one_running(2);
  cluster_.broker().signal(SIGSTOP);
  ::kill(waiter->pid(), SIGINT);
  ASSERT_TRUE(wait_until([&] { return cluster_.log("qgjob").find("cancelling") != std::string::npos; }, 10s, 10ms))
      << cluster_.log("qgjob");
  const auto start = std::chrono::steady_clock::now();
  ::kill(waiter->pid(), SIGINT);
  EXPECT_EQ(waiter->wait(5s), 130) << cluster_.log("qgjob");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  cluster_.broker().signal(SIGCONT);
}

TEST_F(CiAbort, KeepOnExitLeavesTheJobsRunning) {
  auto waiter = start_qgjob("qgjob", submit_args({"--wait", "--keep-on-exit"}));
  wait_for_one_running(2);
  ::kill(waiter->pid(), SIGINT);  // once: a second signal would end it at once
  EXPECT_EQ(waiter->wait(20s), 130) << cluster_.log("qgjob");
  auto jobs = status_of(statuses());
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(count(jobs, "running"), 1u) << cluster_.log("qgjob");
  for (const auto& [id, status] : jobs) {
    auto parsed = qg::proto::parse_status(status);
    ASSERT_TRUE(parsed.has_value()) << status;
    EXPECT_FALSE(qg::proto::is_final(*parsed)) << id << " " << status;
  }
  EXPECT_EQ(cluster_.log("qgjob").find("cancelling"), std::string::npos) << cluster_.log("qgjob");
}

}  // namespace

// Restarts (promise 1): killing and restarting the broker, a scheduler or Redis (AOF) while
// jobs flow loses no acknowledged job, and every process reconnects by itself.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <regex>
#include <set>

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
using qg::testing::wait_until;
using qg::testing::with_lease;
using qg::testing::WorkerOptions;

WorkerOptions worker(std::string id, const std::string& test_seconds = "0.1") {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.extra_args = qg::testing::fast_worker_args();
  options.env = {{"FAKE_APPWRIGHT_SLEEP", test_seconds}};
  return options;
}

std::vector<std::string> tests_named(const std::string& prefix, int n) {
  std::vector<std::string> tests;
  for (int i = 0; i < n; ++i) tests.push_back("t/" + prefix + "-" + std::to_string(i) + ".spec.ts");
  return tests;
}

// Submits until acknowledged (same idempotency key each time); the acknowledged ids.
std::vector<std::string> submit_until_acknowledged(Api& api, const std::string& app, int n, const std::string& key) {
  std::vector<std::string> ids;
  wait_until(
      [&] {
        ids = api.submit("acme", app, tests_named(app, n), key, 0, 1s);
        return !ids.empty();
      },
      30s, 50ms);
  return ids;
}

void expect_all_passed(Api& api, const std::vector<std::string>& ids, const std::string& context) {
  std::optional<std::vector<proto::Job>> jobs;
  ASSERT_TRUE(wait_until(
      [&] {
        jobs = api.try_status(ids);
        return jobs &&
               std::all_of(jobs->begin(), jobs->end(), [](const proto::Job& j) { return proto::is_final(j.status); });
      },
      90s, 100ms))
      << (jobs ? describe(*jobs) : "status unavailable") << context;
  EXPECT_EQ(jobs->size(), ids.size());
  EXPECT_EQ(qg::testing::count_status(*jobs, JobStatus::passed), ids.size()) << describe(*jobs);
}

TEST(Restart, KillingAndRestartingTheBrokerLosesNoAcknowledgedJobAndWorkersReconnect) {
  Cluster cluster(with_lease(3000));
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1"));
  cluster.add_worker(worker("w2"));
  std::vector<std::string> acknowledged;
  for (int batch = 0; batch < 6; ++batch) {
    if (batch == 3) cluster.restart_broker(0);
    auto ids = submit_until_acknowledged(api, "build-B" + std::to_string(batch), 8, "key-" + std::to_string(batch));
    ASSERT_EQ(ids.size(), 8u);
    acknowledged.insert(acknowledged.end(), ids.begin(), ids.end());
  }
  expect_all_passed(api, acknowledged, cluster.log("broker-0") + cluster.log("w1"));
}

TEST(Restart, ASchedulerKilledAndReplacedTakesOverLeaseExpiry) {
  Cluster cluster(with_lease(1000));
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1", "30"));
  auto ids = api.submit("acme", "build-S", {"t/a.spec.ts", "t/b.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(wait_until([&] { return api.status(ids)[0].status == JobStatus::running; }, 30s, 20ms));
  cluster.scheduler(0).signal(SIGKILL);
  cluster.scheduler(0).wait(5s);
  cluster.worker(0).signal(SIGKILL);
  cluster.add_scheduler();
  cluster.add_worker(worker("w2"));
  expect_all_passed(api, ids, cluster.log("scheduler-1"));
  for (const auto& j : api.status(ids)) EXPECT_EQ(j.attempt, 2u) << describe({j});
}

// Redis killed -9 and started again, the brokers and schedulers reaching it over TCP or on
// its Unix socket (where a write to the dead server's socket raises SIGPIPE at once).
void redis_restarted_with_aof_loses_no_acknowledged_job(bool over_socket) {
  // appendfsync always: Redis is killed -9, and only then does it promise to keep every
  // write it acknowledged (see RedisServer).
  auto options = with_lease(3000, true);
  options.appendfsync = "always";
  options.redis_socket = over_socket;
  Cluster cluster(options);
  Api api(cluster.client_endpoint());
  cluster.add_worker(worker("w1"));
  cluster.add_worker(worker("w2"));
  std::vector<std::string> acknowledged = submit_until_acknowledged(api, "build-R0", 20, "k0");
  ASSERT_EQ(acknowledged.size(), 20u);

  cluster.redis()->kill();
  ASSERT_TRUE(wait_until(
      [&] {
        auto h = api.health();
        return h && !h->store_reachable && !h->ok;
      },
      10s, 50ms));
  auto health = cluster.qgjob({"health"});
  EXPECT_NE(health.exit_code, 0) << health.output << health.error;
  // A submit while Redis is down is refused (not acknowledged), never accepted into memory.
  EXPECT_TRUE(api.submit("acme", "build-Rx", {"t/x.spec.ts"}, "kx", 0, 2s).empty());
  // `qgjob submit` keeps trying (same idempotency key) until Redis is back.
  auto cli_submit = std::async(std::launch::async, [&] {
    return cluster.qgjob({"--request-timeout", "1", "submit", "--org-id", "acme", "--app-version-id", "build-Rc",
                          "--test", "t/a.spec.ts", "--timeout", "30"},
                         60s);
  });
  const auto down_until = std::chrono::steady_clock::now() + 1500ms;  // Redis stays away a while
  wait_until([&] { return std::chrono::steady_clock::now() >= down_until; }, 5s, 50ms);

  cluster.redis()->start();
  ASSERT_TRUE(wait_until(
      [&] {
        auto h = api.health();
        return h && h->ok;
      },
      20s, 50ms))
      << cluster.log("broker-0");
  EXPECT_EQ(cluster.qgjob({"health"}).exit_code, 0);
  auto cli_result = cli_submit.get();
  ASSERT_EQ(cli_result.exit_code, 0) << cli_result.output << cli_result.error;
  EXPECT_NE(cli_result.error.find("cannot reach its store"), std::string::npos) << cli_result.error;
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::smatch cli_id;
  ASSERT_TRUE(std::regex_search(cli_result.output, cli_id, id_pattern)) << cli_result.output;
  acknowledged.push_back(cli_id.str());
  // Scripts were forgotten with the restart: submits and claims must reload them.
  auto more = submit_until_acknowledged(api, "build-R1", 20, "k1");
  ASSERT_EQ(more.size(), 20u);
  acknowledged.insert(acknowledged.end(), more.begin(), more.end());
  expect_all_passed(api, acknowledged, cluster.log("broker-0") + cluster.log("scheduler-0"));
  EXPECT_TRUE(cluster.broker(0).running()) << cluster.log("broker-0");
  EXPECT_TRUE(cluster.scheduler(0).running()) << cluster.log("scheduler-0");
}

TEST(Restart, RedisRestartedWithAofLosesNoAcknowledgedJobAndHealthTellsWhileItIsDown) {
  redis_restarted_with_aof_loses_no_acknowledged_job(false);
}

TEST(Restart, RedisOnItsUnixSocketRestartedWithAofLosesNoAcknowledgedJobAndNoProcessDies) {
  redis_restarted_with_aof_loses_no_acknowledged_job(true);
}

TEST(Restart, ASubmitIssuedWhileTheBrokerIsDownSucceedsExactlyOnceWhenItReturns) {
  Cluster cluster(with_lease(3000));
  Api api(cluster.client_endpoint());
  cluster.kill_broker(0);
  auto submitted = std::async(std::launch::async, [&] {
    return cluster.qgjob({"--request-timeout", "1", "submit", "--org-id", "acme", "--app-version-id", "build-Q",
                          "--test", "t/a.spec.ts", "--test", "t/b.spec.ts", "--timeout", "30"},
                         60s);
  });
  // The broker stays away for a few of the client's resend intervals.
  const auto down_until = std::chrono::steady_clock::now() + 2500ms;
  wait_until([&] { return std::chrono::steady_clock::now() >= down_until; }, 5s, 50ms);
  cluster.start_broker_again(0);
  auto result = submitted.get();
  ASSERT_EQ(result.exit_code, 0) << result.output << result.error;
  EXPECT_NE(result.error.find("sending it again"), std::string::npos) << result.error;

  auto listed = cluster.qgjob({"--json", "list", "--app-version-id", "build-Q"});
  ASSERT_EQ(listed.exit_code, 0) << listed.error;
  static const std::regex id_field("\"id\"\\s*:\\s*\"([0-9A-Z]{26})\"");
  std::set<std::string> ids;
  for (auto it = std::sregex_iterator(listed.output.begin(), listed.output.end(), id_field);
       it != std::sregex_iterator(); ++it) {
    ids.insert((*it)[1].str());
  }
  EXPECT_EQ(ids.size(), 2u) << listed.output;
}

}  // namespace

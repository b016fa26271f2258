// Retry policy: infrastructure failures are retried with exponential back-off up to
// max_attempts and then dead-lettered (revivable with `qgjob retry`); test failures are
// retried only when the job asks for it, and a pass after a failure is flaky.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

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
using qg::testing::WorkerOptions;

std::vector<std::string> job_ids_in(const std::string& text) {
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id_pattern); it != std::sregex_iterator(); ++it) {
    if (std::find(ids.begin(), ids.end(), it->str()) == ids.end()) ids.push_back(it->str());
  }
  return ids;
}

ClusterOptions backoff_options() {
  ClusterOptions options;
  std::vector<std::string> args = {"--lease-ms", "5000", "--backoff-base-ms", "300", "--backoff-factor", "2",
                                   "--backoff-cap-ms", "5000", "--backoff-jitter", "0", "--max-attempts", "3",
                                   // One worker fails every install here: it is the retries under test, not
                                   // its health (tests/chaos/health_test.cpp).
                                   "--quarantine-after", "0"};
  options.broker_args = args;
  options.scheduler_args = args;
  return options;
}

WorkerOptions fast_worker(std::string id) {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.extra_args = qg::testing::fast_worker_args();
  return options;
}

std::vector<std::int64_t> read_numbers(const std::string& path) {
  std::vector<std::int64_t> out;
  std::ifstream in(path);
  for (std::int64_t n; in >> n;) out.push_back(n);
  return out;
}

TEST(RetryPolicy, AFailingInstallIsRetriedWithBackoffThenDeadLetteredAndRetryPutsAJobBack) {
  Cluster cluster(backoff_options());
  Api api(cluster.client_endpoint());
  const auto dir = cluster.dir();
  // Fails until the file `fixed` exists; records when each run started (ns).
  auto options = fast_worker("w1");
  options.install_cmd = "date +%s%N >> " + dir + "/install-times; [ -e " + dir + "/fixed ]";
  cluster.add_worker(options);
  auto ids = api.submit("acme", "build-I", {"t/a.spec.ts", "t/b.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 2u);

  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 60s, 50ms)) << describe(api.status(ids));
  for (const auto& j : api.status(ids)) {
    EXPECT_EQ(j.status, JobStatus::dead) << describe({j}) << cluster.log("w1");
    EXPECT_EQ(j.attempt, 3u) << describe({j});
    EXPECT_NE(j.last_error.find("install failed"), std::string::npos) << describe({j});
  }
  // Back-off: the second run waited at least the base (300 ms), the third at least twice that.
  auto times = read_numbers(dir + "/install-times");
  ASSERT_GE(times.size(), 3u);
  EXPECT_GE((times[1] - times[0]) / 1'000'000, 300) << "first back-off too short";
  EXPECT_GE((times.back() - times[0]) / 1'000'000, 900) << "back-off did not grow";

  auto dead = cluster.qgjob({"list", "--status", "dead"});
  ASSERT_EQ(dead.exit_code, 0) << dead.error;
  for (const auto& id : ids) EXPECT_NE(dead.output.find(id), std::string::npos) << dead.output;
  EXPECT_NE(dead.output.find("install failed"), std::string::npos) << dead.output;
  auto dead_json = cluster.qgjob({"--json", "list", "--status", "dead"});
  EXPECT_NE(dead_json.output.find("install failed"), std::string::npos) << dead_json.output;

  std::ofstream(dir + "/fixed") << "1\n";
  auto retried = cluster.qgjob({"retry", "--job-id", ids[0]});
  ASSERT_EQ(retried.exit_code, 0) << retried.output << retried.error;
  ASSERT_TRUE(wait_until([&] { return api.all_final({ids[0]}); }, 30s, 50ms)) << describe(api.status(ids));
  auto jobs = api.status(ids);
  EXPECT_EQ(jobs[0].status, JobStatus::passed) << describe(jobs);
  EXPECT_EQ(jobs[0].attempt, 4u) << describe(jobs);
  EXPECT_EQ(jobs[1].status, JobStatus::dead) << describe(jobs);
  // A job that is not dead cannot be retried.
  auto again = cluster.qgjob({"retry", "--job-id", ids[0]});
  EXPECT_NE(again.exit_code, 0) << again.output;
}

TEST(RetryPolicy, ATestThatFailsOnceThenPassesWithRetriesOneEndsPassedAndFlaky) {
  Cluster cluster(backoff_options());
  Api api(cluster.client_endpoint());
  auto options = fast_worker("w1");
  // Fails the first time a job runs, passes the second.
  options.run_cmd = "if [ -e " + cluster.dir() + "/ran-{job_id} ]; then exit 0; fi; touch " + cluster.dir() +
                    "/ran-{job_id}; echo first run fails; exit 1";
  cluster.add_worker(options);
  auto submitted = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "build-R", "--test", "t/a.spec.ts", "--retries", "1"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.error;
  auto ids = job_ids_in(submitted.output);
  ASSERT_EQ(ids.size(), 1u) << submitted.output;
  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 30s, 50ms)) << describe(api.status(ids));
  auto jobs = api.status(ids);
  EXPECT_EQ(jobs[0].status, JobStatus::passed) << describe(jobs);
  EXPECT_TRUE(jobs[0].flaky) << describe(jobs);
  EXPECT_EQ(jobs[0].attempt, 2u) << describe(jobs);
  auto status = cluster.qgjob({"--json", "status", "--job-id", ids[0]});
  EXPECT_NE(status.output.find("\"flaky\":true"), std::string::npos) << status.output;
}

TEST(RetryPolicy, ATestFailureIsNotRetriedUnlessTheJobAsksForIt) {
  Cluster cluster(backoff_options());
  Api api(cluster.client_endpoint());
  cluster.add_worker(fast_worker("w1"));
  auto ids = api.submit("acme", "build-N", {"t/fail-payment.spec.ts"}, "k1");
  ASSERT_EQ(ids.size(), 1u);
  ASSERT_TRUE(wait_until([&] { return api.all_final(ids); }, 30s, 50ms)) << describe(api.status(ids));
  auto jobs = api.status(ids);
  EXPECT_EQ(jobs[0].status, JobStatus::failed) << describe(jobs);
  EXPECT_EQ(jobs[0].attempt, 1u) << describe(jobs);
  EXPECT_FALSE(jobs[0].flaky);
}

}  // namespace

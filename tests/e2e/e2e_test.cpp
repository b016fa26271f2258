// End-to-end behaviours of the real binaries: qg-broker and qg-scheduler on a real Redis,
// qg-worker processes running the stand-in AppWright runner, and the qgjob CLI.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cluster.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::WorkerOptions;

WorkerOptions worker_named(std::string id, int job_timeout_s = 30) {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.job_timeout_s = job_timeout_s;
  return options;
}

std::vector<std::string> job_ids_in(const std::string& text) {
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id_pattern); it != std::sregex_iterator(); ++it) {
    if (std::find(ids.begin(), ids.end(), it->str()) == ids.end()) ids.push_back(it->str());
  }
  return ids;
}

std::vector<std::string> submit(Cluster& cluster, const std::string& app, const std::vector<std::string>& tests,
                                std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"submit", "--org-id", "acme", "--app-version-id", app};
  for (const auto& t : tests) args.insert(args.end(), {"--test", t});
  args.insert(args.end(), extra.begin(), extra.end());
  auto result = cluster.qgjob(args);
  EXPECT_EQ(result.exit_code, 0) << result.output << result.error;
  auto ids = job_ids_in(result.output);
  EXPECT_EQ(ids.size(), tests.size()) << result.output;
  return ids;
}

std::vector<std::string> wait_args(const std::vector<std::string>& ids, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"wait"};
  for (const auto& id : ids) args.insert(args.end(), {"--job-id", id});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(EndToEnd, FourTestsOfTwoBuildsRunAsTwoGroupsWithTwoInstalls) {
  Cluster cluster;
  cluster.add_worker(worker_named("w1"));
  cluster.add_worker(worker_named("w2"));
  auto a = submit(cluster, "build-A", {"tests/login.spec.ts", "tests/cart.spec.ts", "tests/search.spec.ts"});
  auto b = submit(cluster, "build-B", {"tests/login.spec.ts"});
  std::vector<std::string> all = a;
  all.insert(all.end(), b.begin(), b.end());

  auto waited = cluster.qgjob(wait_args(all, {"--timeout", "60"}), 90s);
  EXPECT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("w1") << cluster.log("w2");

  auto installs = cluster.installs();
  EXPECT_EQ(installs.size(), 2u) << "installs: " << installs.size();
  std::set<std::string> builds;
  for (const auto& line : installs) builds.insert(line.substr(0, line.find(' ')));
  EXPECT_EQ(builds, (std::set<std::string>{"build-A", "build-B"}));

  // The three jobs of build A ran on one worker: one group.
  std::vector<std::string> status_args = {"status", "--json"};
  for (const auto& id : a) status_args.insert(status_args.end(), {"--job-id", id});
  auto status = cluster.qgjob(status_args);
  ASSERT_EQ(status.exit_code, 0) << status.error;
  std::set<std::string> workers;
  static const std::regex worker_field("\"worker_id\"\\s*:\\s*\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(status.output.begin(), status.output.end(), worker_field);
       it != std::sregex_iterator(); ++it) {
    workers.insert((*it)[1].str());
  }
  EXPECT_EQ(workers.size(), 1u) << status.output;
  EXPECT_NE(status.output.find("\"passed\""), std::string::npos) << status.output;
}

TEST(EndToEnd, AFailingTestMakesWaitExitOneAndLandsInJUnit) {
  Cluster cluster;
  cluster.add_worker(worker_named("w1"));
  auto ids = submit(cluster, "build-F", {"tests/ok.spec.ts", "tests/fail-payment.spec.ts"});
  const auto junit = cluster.dir() + "/report.xml";
  auto waited = cluster.qgjob(wait_args(ids, {"--timeout", "60", "--junit", junit}), 90s);
  EXPECT_EQ(waited.exit_code, 1) << waited.output << waited.error;
  EXPECT_FALSE(waited.error.empty());
  auto xml = read_file(junit);
  EXPECT_NE(xml.find("<testsuite"), std::string::npos) << xml;
  EXPECT_NE(xml.find("tests/fail-payment.spec.ts"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure"), std::string::npos) << xml;
}

TEST(EndToEnd, AHangingTestIsKilledAndEndsTimedOut) {
  Cluster cluster;
  cluster.add_worker(worker_named("w1", 2));
  auto ids = submit(cluster, "build-H", {"tests/hang-forever.spec.ts"});
  auto waited = cluster.qgjob(wait_args(ids, {"--timeout", "60"}), 90s);
  EXPECT_EQ(waited.exit_code, 1) << waited.output << waited.error;
  auto status = cluster.qgjob({"status", "--json", "--job-id", ids.at(0)});
  EXPECT_NE(status.output.find("timed_out"), std::string::npos) << status.output;
}

TEST(EndToEnd, WaitGivesUpWithExitTwoWhenNoWorkerTakesTheJob) {
  Cluster cluster;
  auto ids = submit(cluster, "build-W", {"tests/a.spec.ts"});
  auto waited = cluster.qgjob(wait_args(ids, {"--timeout", "1"}), 30s);
  EXPECT_EQ(waited.exit_code, 2) << waited.output << waited.error;
  EXPECT_LT(waited.elapsed, 10s);
  EXPECT_FALSE(waited.error.empty());
}

TEST(EndToEnd, NoBrokerMeansExitThreeWithAClearMessageWithinTheTimeout) {
  const auto port = qg::testing::free_port();
  auto result = qg::testing::run_command(
      {qg::testing::bin_dir() + "/qgjob", "--broker", "tcp://127.0.0.1:" + std::to_string(port), "--request-timeout",
       "1", "status", "--job-id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
      30s);
  EXPECT_EQ(result.exit_code, 3) << result.output << result.error;
  EXPECT_LT(result.elapsed, 5s);
  EXPECT_NE(result.error.find("broker"), std::string::npos) << result.error;
}

}  // namespace

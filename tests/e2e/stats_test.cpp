// End-to-end: jobs run by a real qg-worker show in `qgjob stats` (STATS' farm figures, written
// by the Redis store as the reports arrive): final statuses, durations, the install the
// worker reported, and tests per install.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cluster.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::WorkerOptions;

TEST(EndToEndStats, JobsRunByAWorkerShowInQgjobStatsPerOrgAndTarget) {
  Cluster cluster;
  WorkerOptions worker;
  worker.worker_id = "w1";
  // An install that takes a measurable while, so that its p50 is not 0.
  worker.install_cmd = "sleep 0.2";
  cluster.add_worker(worker);
  auto submitted =
      cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "build-S", "--test", "tests/ok.spec.ts",
                     "--test", "tests/two.spec.ts", "--test", "tests/fail-payment.spec.ts"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << submitted.error;
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> wait = {"wait", "--timeout", "60"};
  for (auto it = std::sregex_iterator(submitted.output.begin(), submitted.output.end(), id_pattern);
       it != std::sregex_iterator(); ++it) {
    wait.insert(wait.end(), {"--job-id", it->str()});
  }
  ASSERT_EQ(wait.size(), 9u) << submitted.output;
  auto waited = cluster.qgjob(wait, 90s);
  EXPECT_EQ(waited.exit_code, 1) << waited.output << waited.error << cluster.log("w1");  // one test fails

  auto stats = cluster.qgjob({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.error;
  const auto doc = nlohmann::json::parse(stats.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << stats.output;
  ASSERT_TRUE(doc.contains("farm")) << stats.output;
  int seen = 0;
  for (const auto& f : doc["farm"]) {
    if (f["org_id"] != "acme" || f["target"] != "emulator") continue;
    ++seen;
    EXPECT_EQ(f["finished"], 3) << f.dump();
    EXPECT_EQ(f["by_status"]["passed"], 2) << f.dump();
    EXPECT_EQ(f["by_status"]["failed"], 1) << f.dump();
    EXPECT_NEAR(f["success_rate"].get<double>(), 2.0 / 3.0, 1e-9) << f.dump();
    EXPECT_EQ(f["tests_run"], 3) << f.dump();
    EXPECT_EQ(f["installs"], 1) << f.dump();
    EXPECT_DOUBLE_EQ(f["tests_per_install"].get<double>(), 3.0) << f.dump();
    EXPECT_GE(f["install_p50_ms"].get<std::int64_t>(), 150) << f.dump();  // the 0.2 s install, within a bin
    EXPECT_EQ(f["oldest_queued_ms"], 0) << f.dump();
  }
  EXPECT_EQ(seen, 2) << "an hour and a day record: " << stats.output;

  auto table = cluster.qgjob({"stats"});
  ASSERT_EQ(table.exit_code, 0) << table.error;
  EXPECT_NE(table.output.find("TESTS/INSTALL"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("passed 2"), std::string::npos) << table.output;
}

}  // namespace

// End-to-end: queue places and ETAs from the timing history a real worker's reports fill, as
// STATUS answers them (`qgjob status --json`), `qgjob status` prints them and `qgjob wait`
// puts them on its first line. Real redis-server, qg-broker, qg-scheduler, qg-worker and
// qgjob processes; tests are `sleep`s of the time their path ends with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cluster.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::WorkerOptions;

std::vector<std::string> job_ids_in(const std::string& text) {
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id_pattern); it != std::sregex_iterator(); ++it) {
    out.push_back(it->str());
  }
  return out;
}

std::vector<std::string> with_ids(std::vector<std::string> args, const std::vector<std::string>& ids) {
  for (const auto& id : ids) args.insert(args.end(), {"--job-id", id});
  return args;
}

TEST(EndToEndEta, StatusAndWaitTellQueuePlaceAndExpectedFinishFromTheHistory) {
  ClusterOptions options;
  // One job a claim, so that a build's jobs wait in the queue behind the one running.
  options.broker_args = {"--group-max", "1"};
  options.scheduler_args = {"--group-max", "1"};
  Cluster cluster(options);
  WorkerOptions worker;
  worker.worker_id = "w1";
  worker.install_cmd = "sleep 0.1";
  worker.run_cmd = "d={test_path}; exec sleep ${d##*/}";
  cluster.add_worker(worker);

  // A first run fills the history: two 0.3 s tests.
  auto first = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "t/x/0.3", "--test",
                              "t/z/0.3", "--wait", "--timeout", "60"},
                             90s);
  ASSERT_EQ(first.exit_code, 0) << first.output << first.error << cluster.log("w1");

  // Build b2's three 2 s tests go first; build b3's two waits behind them.
  auto b2 = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b2", "--test", "t/y/2", "--test",
                           "t/y2/2", "--test", "t/y3/2"});
  ASSERT_EQ(b2.exit_code, 0) << b2.output << b2.error;
  auto b3 =
      cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b3", "--test", "t/x/0.3", "--test", "t/z/0.3"});
  ASSERT_EQ(b3.exit_code, 0) << b3.output << b3.error;
  const auto ids = job_ids_in(b3.output);
  ASSERT_EQ(ids.size(), 2u) << b3.output;

  auto status = cluster.qgjob(with_ids({"status", "--json"}, ids));
  ASSERT_EQ(status.exit_code, 0) << status.output << status.error;
  const auto doc = nlohmann::json::parse(status.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << status.output;
  ASSERT_EQ(doc["etas"].size(), 2u) << status.output;
  const auto& e0 = doc["etas"][0];
  const auto& e1 = doc["etas"][1];
  EXPECT_EQ(e0["job_id"], ids[0]);
  // At least b2's two jobs not yet claimed are ahead (three when the worker has not claimed).
  EXPECT_GE(e0["queued_ahead"].get<std::int64_t>(), 2) << status.output;
  EXPECT_EQ(e1["queued_ahead"].get<std::int64_t>(), e0["queued_ahead"].get<std::int64_t>() + 1) << status.output;
  ASSERT_TRUE(e0.contains("eta_ms") && e1.contains("eta_ms"))
      << status.output << cluster.qgjob({"workers", "--json"}).output << cluster.log("broker-0");
  // b2's unseen 2 s tests count at the org's median (about 0.3 s), each; the second job of b3
  // comes one test (its org's mean) after the first.
  const auto eta0 = e0["eta_ms"].get<std::int64_t>(), eta1 = e1["eta_ms"].get<std::int64_t>();
  EXPECT_GE(eta0, 600) << status.output;  // two tests ahead and its own, at least 0.2 s each
  EXPECT_LE(eta0, 20'000) << status.output;
  EXPECT_GT(eta1, eta0) << status.output;
  EXPECT_EQ(doc["eta_ms"].get<std::int64_t>(), eta1) << status.output;
  EXPECT_EQ(doc["queued_ahead"], e0["queued_ahead"]) << status.output;

  auto table = cluster.qgjob(with_ids({"status"}, ids));
  ASSERT_EQ(table.exit_code, 0) << table.output << table.error;
  EXPECT_NE(table.output.find(ids[0] + ": "), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("queued ahead, about "), std::string::npos) << table.output;

  // wait's first line: its jobs, then the place and the estimate (b2 still has queued jobs).
  auto waited = cluster.qgjob(with_ids({"wait", "--timeout", "60"}, ids), 90s);
  EXPECT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("w1");
  static const std::regex progress("waiting for 2 of 2 job\\(s\\): 2 queued; [0-9]+ queued ahead, about [^\\n]+\\n");
  EXPECT_TRUE(std::regex_search(waited.output, progress)) << waited.output;

  // Final jobs carry no estimate.
  auto done = cluster.qgjob(with_ids({"status", "--json"}, ids));
  ASSERT_EQ(done.exit_code, 0) << done.error;
  const auto after = nlohmann::json::parse(done.output, nullptr, false);
  ASSERT_FALSE(after.is_discarded()) << done.output;
  EXPECT_TRUE(after["etas"].empty()) << done.output;
  EXPECT_FALSE(after.contains("eta_ms")) << done.output;
}

}  // namespace

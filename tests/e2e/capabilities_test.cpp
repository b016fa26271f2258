// Capabilities with real processes on a real Redis: two qg-workers with different --labels;
// jobs submitted with --require run only on the worker whose labels hold every requirement,
// jobs without run anywhere, and a group whose requirements no live worker holds is queued
// with a warning and marked by `qgjob queue`. Bad --require values are refused before sending.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "cluster.hpp"
#include "qg/cli/json.hpp"

namespace {

using namespace std::chrono_literals;
using qg::cli::Json;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

WorkerOptions labelled(std::string id, std::string labels) {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.extra_args = {"--labels", std::move(labels)};
  return options;
}

Json json_of(Cluster& cluster, const std::vector<std::string>& args) {
  auto result = cluster.qgjob(args);
  if (result.exit_code != 0) return Json::object();
  return Json::parse(result.output, nullptr, false);
}

std::vector<std::string> job_ids_in(const std::string& text) {
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id_pattern); it != std::sregex_iterator(); ++it) {
    ids.push_back(it->str());
  }
  return ids;
}

bool both_idle(Cluster& cluster) {
  auto doc = json_of(cluster, {"workers", "--json"});
  if (!doc.contains("workers")) return false;
  int idle = 0;
  for (const auto& w : doc["workers"]) idle += w["state"] == "idle" ? 1 : 0;
  return idle == 2;
}

std::vector<std::string> submit(Cluster& cluster, const std::string& build, int tests,
                                const std::vector<std::string>& extra, std::string* warning = nullptr) {
  std::vector<std::string> args = {"submit", "--org-id", "acme", "--app-version-id", build};
  for (int i = 0; i < tests; ++i) {
    args.push_back("--test");
    args.push_back("t/" + build + "-" + std::to_string(i) + ".spec.ts");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  auto result = cluster.qgjob(args);
  EXPECT_EQ(result.exit_code, 0) << result.error;
  if (warning) *warning = result.error;
  return job_ids_in(result.output);
}

TEST(Capabilities, JobsWithRequirementsRunOnlyOnTheWorkerWhoseLabelsHoldThem) {
  ClusterOptions options;
  options.broker_args = {"--heartbeat-ms", "200"};
  Cluster cluster(options);
  cluster.add_worker(labelled("w-pixel7", "os=android14,model=pixel7,rack=3"));
  cluster.add_worker(labelled("w-old", "os=android13,model=pixel7"));
  ASSERT_TRUE(wait_until([&] { return both_idle(cluster); }, 20s, 50ms)) << cluster.log("w-pixel7");

  // Several submissions of the build with the requirements, and plain work for both workers.
  std::string warning;
  std::vector<std::string> needy;
  for (int k = 0; k < 3; ++k) {
    auto ids = submit(cluster, "build-C" + std::to_string(k), 3,
                      {"--require", "os=android14", "--require", "model=pixel7"}, &warning);
    EXPECT_EQ(warning.find("warning"), std::string::npos) << warning;
    needy.insert(needy.end(), ids.begin(), ids.end());
  }
  ASSERT_EQ(needy.size(), 9u);
  auto plain = submit(cluster, "build-P", 6, {});
  ASSERT_EQ(plain.size(), 6u);

  std::vector<std::string> wait_args = {"wait", "--timeout", "60"};
  for (const auto& id : needy) wait_args.insert(wait_args.end(), {"--job-id", id});
  for (const auto& id : plain) wait_args.insert(wait_args.end(), {"--job-id", id});
  auto waited = cluster.qgjob(wait_args, 90s);
  ASSERT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("w-pixel7") << cluster.log("w-old");

  std::vector<std::string> status_args = {"status", "--json"};
  for (const auto& id : needy) status_args.insert(status_args.end(), {"--job-id", id});
  auto status = json_of(cluster, status_args);
  ASSERT_EQ(status["jobs"].size(), 9u) << status.dump();
  for (const auto& job : status["jobs"]) {
    EXPECT_EQ(job["status"], "passed") << job.dump();
    EXPECT_EQ(job["worker_id"], "w-pixel7") << job.dump();
    EXPECT_EQ(job["requires"], (Json{{"model", "pixel7"}, {"os", "android14"}})) << job.dump();
  }
  std::vector<std::string> plain_args = {"status", "--json"};
  for (const auto& id : plain) plain_args.insert(plain_args.end(), {"--job-id", id});
  for (const auto& job : json_of(cluster, plain_args)["jobs"]) {
    EXPECT_EQ(job["status"], "passed") << job.dump();
    EXPECT_FALSE(job.contains("requires")) << job.dump();
  }
}

TEST(Capabilities, AGroupNoLiveWorkerCanServeIsQueuedWithAWarningAndMarked) {
  ClusterOptions options;
  options.broker_args = {"--heartbeat-ms", "200"};
  Cluster cluster(options);
  cluster.add_worker(labelled("w-a", "os=android14,model=pixel7"));
  cluster.add_worker(labelled("w-b", "os=android13"));
  ASSERT_TRUE(wait_until([&] { return both_idle(cluster); }, 20s, 50ms)) << cluster.log("w-a");

  std::string warning;
  auto stuck = submit(cluster, "build-X", 2, {"--require", "os=android14", "--require", "model=pixel9"}, &warning);
  ASSERT_EQ(stuck.size(), 2u);
  EXPECT_NE(warning.find("warning: no live worker serves target emulator with labels model=pixel9,os=android14"),
            std::string::npos)
      << warning;
  auto served = submit(cluster, "build-Y", 1, {"--require", "os=android13"}, &warning);
  EXPECT_EQ(warning.find("warning"), std::string::npos) << warning;

  // The servable job runs; the other stays queued (its group listed, marked, with its requirements).
  auto waited = cluster.qgjob({"wait", "--timeout", "30", "--job-id", served.at(0)}, 60s);
  EXPECT_EQ(waited.exit_code, 0) << waited.error;
  auto queue = json_of(cluster, {"queue", "--json"});
  ASSERT_TRUE(queue.contains("groups")) << queue.dump();
  ASSERT_EQ(queue["groups"].size(), 1u) << queue.dump();
  const auto& group = queue["groups"][0];
  EXPECT_EQ(group["app_version_id"], "build-X");
  EXPECT_EQ(group["depth"], 2);
  EXPECT_TRUE(group["no_live_worker"].get<bool>()) << group.dump();
  EXPECT_EQ(group["requires"], (Json{{"model", "pixel9"}, {"os", "android14"}}));
  auto table = cluster.qgjob({"queue"});
  EXPECT_NE(table.output.find("emulator model=pixel9,os=android14"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("NO LIVE WORKER"), std::string::npos) << table.output;
  auto status = json_of(cluster, {"status", "--json", "--job-id", stuck[0]});
  EXPECT_EQ(status["jobs"][0]["status"], "queued");

  // A worker with the labels joins: the group runs on it.
  cluster.add_worker(labelled("w-c", "os=android14,model=pixel9"));
  auto done = cluster.qgjob({"wait", "--timeout", "30", "--job-id", stuck[0], "--job-id", stuck[1]}, 60s);
  EXPECT_EQ(done.exit_code, 0) << done.error << cluster.log("w-c");
  status = json_of(cluster, {"status", "--json", "--job-id", stuck[0]});
  EXPECT_EQ(status["jobs"][0]["worker_id"], "w-c");
}

TEST(Capabilities, BadRequireValuesAreRefusedBeforeSending) {
  Cluster cluster;
  for (const auto& bad : {std::string("os"), std::string("=v"), std::string("a b=v"), std::string("-x=v"),
                          std::string("os=a\nb"), "model=" + std::string(65, 'v')}) {
    auto result = cluster.qgjob(
        {"submit", "--org-id", "acme", "--app-version-id", "b", "--test", "t/a.spec.ts", "--require", bad});
    EXPECT_NE(result.exit_code, 0) << bad;
    EXPECT_NE(result.error.find("--require"), std::string::npos) << result.error;
  }
  auto twice = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b", "--test", "t/a.spec.ts",
                              "--require", "os=a", "--require", "os=b"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.error.find("twice"), std::string::npos) << twice.error;
  auto queue = json_of(cluster, {"queue", "--json"});
  EXPECT_TRUE(queue["groups"].empty()) << queue.dump();
}

}  // namespace

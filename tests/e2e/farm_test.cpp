// The farm as an operator sees it, with real processes on a real Redis: a worker killed with
// kill -9 shows `lost`, then is forgotten (still listed by `workers --all`); an operator drains
// a worker remotely and forgets a lost one; `qgjob health` is not ok while no scheduler is
// alive and recovers when one starts; a submit for a target no live worker serves is queued
// with a warning, and `qgjob queue` marks its group.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "cluster.hpp"
#include "qg/cli/json.hpp"

namespace {

using namespace std::chrono_literals;
using qg::cli::Json;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

// Heartbeats every 200 ms (a worker is lost after 2 s of silence) and workers forgotten after
// `forget` of it, in the scheduler and the broker alike.
ClusterOptions fast_farm(const std::string& forget = "4s", int schedulers = 1) {
  ClusterOptions options;
  options.schedulers = schedulers;
  options.broker_args = {"--heartbeat-ms", "200", "--forget-workers-after", forget};
  options.scheduler_args = {"--forget-workers-after", forget};
  return options;
}

WorkerOptions worker_named(std::string id, std::string run_cmd = {}, std::string targets = "emulator") {
  WorkerOptions options;
  options.worker_id = std::move(id);
  options.run_cmd = std::move(run_cmd);
  options.targets = std::move(targets);
  return options;
}

Json json_of(Cluster& cluster, const std::vector<std::string>& args) {
  auto result = cluster.qgjob(args);
  if (result.exit_code != 0) return Json::object();
  return Json::parse(result.output, nullptr, false);
}

// worker id -> state, as `qgjob workers [--all] --json` shows it.
std::map<std::string, std::string> worker_states(Cluster& cluster, bool all = false) {
  std::vector<std::string> args = {"workers", "--json"};
  if (all) args.push_back("--all");
  std::map<std::string, std::string> out;
  auto doc = json_of(cluster, args);
  if (!doc.contains("workers")) return out;
  for (const auto& w : doc["workers"]) out[w["worker_id"].get<std::string>()] = w["state"].get<std::string>();
  return out;
}

bool state_is(Cluster& cluster, const std::string& id, const std::string& state, bool all = false) {
  auto states = worker_states(cluster, all);
  auto it = states.find(id);
  return it != states.end() && it->second == state;
}

std::vector<std::string> job_ids_in(const std::string& text) {
  static const std::regex id_pattern("[0-9A-HJKMNP-TV-Z]{26}");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id_pattern); it != std::sregex_iterator(); ++it) {
    ids.push_back(it->str());
  }
  return ids;
}

TEST(Farm, AWorkerKilledWithKill9GoesLostThenIsForgottenButStillKnown) {
  Cluster cluster(fast_farm("4s"));
  const auto w1 = cluster.add_worker(worker_named("w1"));
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "idle"); }, 20s, 50ms)) << cluster.log("w1");

  cluster.worker(w1).signal(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "lost"); }, 10s, 50ms));
  // Lost, not yet forgotten: listed without --all.
  EXPECT_EQ(worker_states(cluster).count("w1"), 1u);

  ASSERT_TRUE(wait_until([&] { return worker_states(cluster).count("w1") == 0; }, 15s, 100ms))
      << cluster.log("scheduler-0");
  EXPECT_TRUE(state_is(cluster, "w1", "forgotten", true));
  EXPECT_NE(cluster.log("scheduler-0").find("worker w1 forgotten"), std::string::npos);
}

TEST(Farm, AnOperatorForgetsALostWorkerButNotALiveOne) {
  Cluster cluster(fast_farm("1h"));
  const auto w1 = cluster.add_worker(worker_named("w1"));
  cluster.add_worker(worker_named("w2"));
  ASSERT_TRUE(
      wait_until([&] { return state_is(cluster, "w1", "idle") && state_is(cluster, "w2", "idle"); }, 20s, 50ms));

  auto live = cluster.qgjob({"workers", "forget", "w2"});
  EXPECT_EQ(live.exit_code, 1) << live.output << live.error;
  EXPECT_NE(live.error.find("CONFLICT"), std::string::npos) << live.error;
  EXPECT_NE(live.error.find("drain it first"), std::string::npos) << live.error;
  auto unknown = cluster.qgjob({"workers", "forget", "nobody"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.error;
  EXPECT_NE(unknown.error.find("NOT_FOUND"), std::string::npos) << unknown.error;

  cluster.worker(w1).signal(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "lost"); }, 10s, 50ms));
  auto forgotten = cluster.qgjob({"workers", "forget", "w1"});
  ASSERT_EQ(forgotten.exit_code, 0) << forgotten.output << forgotten.error;
  auto states = worker_states(cluster);
  EXPECT_EQ(states.count("w1"), 0u);
  EXPECT_EQ(states.at("w2"), "idle");
  EXPECT_TRUE(state_is(cluster, "w1", "forgotten", true));
}

TEST(Farm, AnOperatorDrainsAWorkerRemotely) {
  Cluster cluster(fast_farm("1h"));
  const auto w1 = cluster.add_worker(worker_named("w1", "sleep 2"));
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "idle"); }, 20s, 50ms)) << cluster.log("w1");
  auto submitted = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "build-D", "--test", "t/a.spec.ts",
                                  "--test", "t/b.spec.ts", "--test", "t/c.spec.ts"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.error;
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "busy"); }, 20s, 50ms)) << cluster.log("w1");

  auto drained = cluster.qgjob({"workers", "drain", "w1"});
  ASSERT_EQ(drained.exit_code, 0) << drained.output << drained.error;
  EXPECT_NE(drained.output.find("asked to drain"), std::string::npos) << drained.output;
  // It finishes its running test and leaves on its own, exit 0.
  EXPECT_EQ(cluster.worker(w1).wait(20s), 0) << cluster.log("w1");
  EXPECT_NE(cluster.log("w1").find("asks this worker to drain"), std::string::npos);
  EXPECT_TRUE(state_is(cluster, "w1", "left", true));

  // One test ran to its end; the two it had not started are queued again.
  auto listed = json_of(cluster, {"list", "--org-id", "acme", "--json"});
  ASSERT_TRUE(listed.contains("jobs"));
  std::map<std::string, int> by_status;
  for (const auto& j : listed["jobs"]) ++by_status[j["status"].get<std::string>()];
  EXPECT_EQ(by_status["passed"], 1) << listed.dump();
  EXPECT_EQ(by_status["queued"], 2) << listed.dump();

  auto again = cluster.qgjob({"workers", "drain", "w1"});
  EXPECT_EQ(again.exit_code, 1) << again.error;
  EXPECT_NE(again.error.find("NOT_FOUND"), std::string::npos) << again.error;
}

TEST(Farm, HealthFailsWhileNoSchedulerIsAliveAndRecoversWhenOneStarts) {
  Cluster cluster(fast_farm("10m", 0));
  auto down = cluster.qgjob({"health"});
  EXPECT_EQ(down.exit_code, 1) << down.output << down.error;
  EXPECT_NE(down.error.find("no qg-scheduler is alive"), std::string::npos) << down.error;
  auto down_json = json_of(cluster, {"health", "--json"});
  EXPECT_TRUE(down_json.empty());  // exit 1: no document read by json_of

  cluster.add_scheduler();
  ASSERT_TRUE(wait_until([&] { return cluster.qgjob({"health"}).exit_code == 0; }, 20s, 100ms))
      << cluster.log("scheduler-0");

  cluster.add_worker(worker_named("w1"));
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "idle"); }, 20s, 50ms));
  auto detailed = cluster.qgjob({"health", "--detailed", "--json"});
  ASSERT_EQ(detailed.exit_code, 0) << detailed.error;
  auto doc = Json::parse(detailed.output, nullptr, false);
  ASSERT_EQ(doc["schedulers"].size(), 1u) << detailed.output;
  EXPECT_EQ(doc["schedulers"][0]["id"], "sched-0");
  ASSERT_EQ(doc["brokers"].size(), 1u) << detailed.output;
  EXPECT_EQ(doc["live_workers"]["emulator"], 1) << detailed.output;
  EXPECT_GT(doc["store_used_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(doc["warnings"].empty()) << detailed.output;

  // The scheduler stops: within its announcement's lifetime health turns not ok again.
  cluster.scheduler(0).signal(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return cluster.qgjob({"health"}).exit_code == 1; }, 15s, 100ms));
}

TEST(Farm, HealthWarnsWhenRedisMemoryIsAbove80PercentOfMaxmemory) {
  ClusterOptions options = fast_farm();
  options.redis_args = {"--maxmemory", "2mb"};
  Cluster cluster(options);
  auto detailed = cluster.qgjob({"health", "--detailed"});
  // Redis's own footprint is near 1 MiB: fill it past 80 % of 2 MiB with jobs.
  for (int i = 0; i < 40 && detailed.output.find("of maxmemory") == std::string::npos; ++i) {
    std::vector<std::string> args = {"submit", "--org-id", "acme", "--app-version-id", "build-" + std::to_string(i)};
    for (int t = 0; t < 50; ++t) args.insert(args.end(), {"--test", "tests/a-long-enough-name-" + std::to_string(t)});
    (void)cluster.qgjob(args);
    detailed = cluster.qgjob({"health", "--detailed"});
  }
  EXPECT_NE(detailed.output.find("warning: Redis memory is at"), std::string::npos) << detailed.output;
  EXPECT_NE(detailed.output.find("(maxmemory)"), std::string::npos) << detailed.output;
}

TEST(Farm, ASubmitForATargetNoLiveWorkerServesIsQueuedWithAWarning) {
  Cluster cluster(fast_farm());
  cluster.add_worker(worker_named("w1", "sleep 30"));
  ASSERT_TRUE(wait_until([&] { return state_is(cluster, "w1", "idle"); }, 20s, 50ms));

  auto served = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "build-E", "--test", "t/a.spec.ts", "--target", "emulator"});
  ASSERT_EQ(served.exit_code, 0) << served.error;
  EXPECT_EQ(served.error.find("warning"), std::string::npos) << served.error;

  auto unserved = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "build-R", "--test", "t/b.spec.ts", "--target", "device"});
  ASSERT_EQ(unserved.exit_code, 0) << unserved.error;
  EXPECT_NE(unserved.error.find("warning: no live worker serves target device"), std::string::npos) << unserved.error;
  ASSERT_EQ(job_ids_in(unserved.output).size(), 1u) << unserved.output;
  auto status = json_of(cluster, {"status", "--json", "--job-id", job_ids_in(unserved.output)[0]});
  EXPECT_EQ(status["jobs"][0]["status"], "queued");

  auto as_json = cluster.qgjob({"submit", "--json", "--org-id", "acme", "--app-version-id", "build-R", "--test",
                                "t/c.spec.ts", "--target", "device"});
  EXPECT_NE(as_json.output.find("\"warning\":\"no live worker serves target device"), std::string::npos)
      << as_json.output;

  auto queue = json_of(cluster, {"queue", "--json"});
  ASSERT_TRUE(queue.contains("groups")) << queue.dump();
  bool marked = false;
  for (const auto& g : queue["groups"]) {
    if (g["target"] == "device") marked = g["no_live_worker"].get<bool>();
    if (g["target"] == "emulator") {
      EXPECT_FALSE(g["no_live_worker"].get<bool>());
    }
  }
  EXPECT_TRUE(marked) << queue.dump();
  auto table = cluster.qgjob({"queue"});
  EXPECT_NE(table.output.find("NO LIVE WORKER"), std::string::npos) << table.output;
  auto health = cluster.qgjob({"health", "--detailed"});
  EXPECT_NE(health.output.find("jobs are queued for target device, which no live worker serves"), std::string::npos)
      << health.output;
}

TEST(Farm, JobsWaitingBehindAnInstallShowAssignedOnceItFinished) {
  Cluster cluster(fast_farm());
  auto options = worker_named("w1", "sleep 3");
  options.install_cmd = "sleep 1";
  cluster.add_worker(options);
  auto submitted = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "build-I", "--test", "t/a.spec.ts",
                                  "--test", "t/b.spec.ts", "--test", "t/c.spec.ts"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.error;
  auto ids = job_ids_in(submitted.output);
  ASSERT_EQ(ids.size(), 3u);
  auto statuses = [&] {
    std::vector<std::string> out;
    auto doc = json_of(cluster, {"status", "--json", "--job-id", ids[0], "--job-id", ids[1], "--job-id", ids[2]});
    if (!doc.contains("jobs")) return out;
    for (const auto& j : doc["jobs"]) out.push_back(j["status"].get<std::string>());
    return out;
  };
  // While the install runs, all three are installing.
  ASSERT_TRUE(wait_until(
      [&] {
        return statuses() == std::vector<std::string>{"installing", "installing", "installing"};
      },
      20s, 20ms))
      << cluster.log("w1");
  // Once it finished, the first runs and the two behind it wait: assigned, not installing.
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = statuses();
        return !now.empty() && now[0] == "running";
      },
      20s, 20ms))
      << cluster.log("w1");
  EXPECT_TRUE(wait_until(
      [&] {
        return statuses() == std::vector<std::string>{"running", "assigned", "assigned"};
      },
      2s, 20ms))
      << cluster.log("w1");
}

}  // namespace

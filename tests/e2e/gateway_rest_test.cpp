// qg-gateway's REST routes against a real broker and workers (processes): submit, read, list
// with paging, cancel a job and a build, retry a dead job, the farm's routes, and what an org
// token may see and do. The error classes are in gateway_errors_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::GatewayOptions;
using qg::testing::GatewayStack;
using qg::testing::Json;
using qg::testing::kAcmeToken;
using qg::testing::kAdminToken;
using qg::testing::kGlobexToken;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

// A memory-store broker; worker "emu" passes every emulator test; "bs" fails every browserstack
// install (its jobs end dead with max_attempts 1). Nothing serves `device`: those jobs stay
// queued.
class GatewayRest : public ::testing::Test {
 protected:
  static GatewayOptions options() {
    GatewayOptions o;
    o.cluster.redis = false;
    o.gateway_args = {"--stream-keepalive", "0.2"};
    return o;
  }
  GatewayRest() : stack_(options()) {
    WorkerOptions emu;
    emu.worker_id = "emu";
    stack_.cluster().add_worker(emu);
    WorkerOptions bs;
    bs.worker_id = "bs";
    bs.targets = "browserstack";
    bs.install_cmd = "false";
    stack_.cluster().add_worker(bs);
  }

  std::vector<std::string> ids_of(const qg::testing::HttpReply& r) {
    std::vector<std::string> ids;
    for (const auto& id : r.body["job_ids"]) ids.push_back(id);
    return ids;
  }

  GatewayStack stack_;
};

TEST_F(GatewayRest, SubmitReadAndPageThroughJobs) {
  qg::testing::HttpReply first = stack_.post("/api/v1/jobs",
                                             Json{{"org_id", "acme"},
                                                  {"app_version_id", "v1"},
                                                  {"tests", {"a.js", "b.js", "c.js"}},
                                                  {"target", "device"},
                                                  {"priority", "high"}},
                                             kAdminToken, {{"Idempotency-Key", "suite-1"}});
  ASSERT_EQ(first.status, 201) << first.text;
  auto ids = ids_of(first);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_FALSE(first.body["duplicate"].get<bool>());

  // The same key again: the same jobs, nothing new queued.
  auto again = stack_.post("/api/v1/jobs",
                           Json{{"org_id", "acme"},
                                {"app_version_id", "v1"},
                                {"tests", {"a.js", "b.js", "c.js"}},
                                {"target", "device"},
                                {"priority", "high"}},
                           kAdminToken, {{"Idempotency-Key", "suite-1"}});
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_TRUE(again.body["duplicate"].get<bool>());
  EXPECT_EQ(ids_of(again), ids);

  auto job = stack_.get("/api/v1/jobs/" + ids[1]);
  ASSERT_EQ(job.status, 200) << job.text;
  EXPECT_EQ(job.body["id"], ids[1]);
  EXPECT_EQ(job.body["test_path"], "b.js");
  EXPECT_EQ(job.body["status"], "queued");
  EXPECT_EQ(job.body["priority"], "high");
  EXPECT_EQ(job.body["target"], "device");

  auto page1 = stack_.get("/api/v1/jobs?org_id=acme&app_version_id=v1&limit=2");
  ASSERT_EQ(page1.status, 200) << page1.text;
  ASSERT_EQ(page1.body["jobs"].size(), 2u);
  const std::string cursor = page1.body["next_cursor"];
  ASSERT_FALSE(cursor.empty());
  auto page2 = stack_.get("/api/v1/jobs?org_id=acme&app_version_id=v1&limit=2&cursor=" + cursor);
  ASSERT_EQ(page2.status, 200) << page2.text;
  ASSERT_EQ(page2.body["jobs"].size(), 1u);
  EXPECT_EQ(page2.body["next_cursor"], "");
  auto queued = stack_.get("/api/v1/jobs?status=queued&target=device");
  EXPECT_EQ(queued.body["jobs"].size(), 3u) << queued.text;
}

TEST_F(GatewayRest, SubmittedJobsRunToPassed) {
  auto r = stack_.submit("acme", "v2", {"ok1.js", "ok2.js"});
  ASSERT_EQ(r.status, 201) << r.text;
  for (const auto& id : ids_of(r)) EXPECT_TRUE(stack_.wait_for_status(id, "passed")) << id;
  auto passed = stack_.get("/api/v1/jobs?app_version_id=v2&status=passed");
  EXPECT_EQ(passed.body["jobs"].size(), 2u) << passed.text;
}

TEST_F(GatewayRest, CancelAJobThenTheRestOfItsBuild) {
  auto r = stack_.submit("acme", "v3", {"a.js", "b.js", "c.js"}, "device");
  ASSERT_EQ(r.status, 201) << r.text;
  auto ids = ids_of(r);
  auto one = stack_.post("/api/v1/jobs/" + ids[0] + "/cancel", Json::object());
  ASSERT_EQ(one.status, 200) << one.text;
  EXPECT_EQ(one.body["results"][0]["outcome"], "cancelled");
  auto twice = stack_.post("/api/v1/jobs/" + ids[0] + "/cancel", Json::object());
  EXPECT_EQ(twice.body["results"][0]["outcome"], "already_final") << twice.text;
  auto build = stack_.request("POST", "/api/v1/builds/acme/v3/cancel");
  ASSERT_EQ(build.status, 200) << build.text;
  EXPECT_EQ(build.body["results"].size(), 2u);
  for (const auto& id : ids) EXPECT_EQ(stack_.get("/api/v1/jobs/" + id).body["status"], "cancelled");
  auto unknown = stack_.post("/api/v1/jobs/01NOSUCHJOB/cancel", Json::object());
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.code(), "NOT_FOUND");
  EXPECT_EQ(unknown.field(), "job_id");
}

TEST_F(GatewayRest, RetryRevivesADeadJobOnly) {
  auto r = stack_.post("/api/v1/jobs", Json{{"org_id", "acme"},
                                            {"app_version_id", "v4"},
                                            {"tests", {"x.js"}},
                                            {"target", "browserstack"},
                                            {"max_attempts", 1}});
  ASSERT_EQ(r.status, 201) << r.text;
  const std::string id = r.body["job_ids"][0];
  ASSERT_TRUE(stack_.wait_for_status(id, "dead")) << stack_.get("/api/v1/jobs/" + id).text;
  auto retried = stack_.post("/api/v1/jobs/" + id + "/retry", Json::object());
  ASSERT_EQ(retried.status, 200) << retried.text;
  EXPECT_EQ(retried.body["job_id"], id);
  EXPECT_EQ(retried.body["status"], "queued");

  auto live = stack_.submit("acme", "v4", {"y.js"}, "device");
  auto conflict = stack_.post("/api/v1/jobs/" + live.body["job_ids"][0].get<std::string>() + "/retry", Json::object());
  EXPECT_EQ(conflict.status, 409) << conflict.text;
  EXPECT_EQ(conflict.code(), "CONFLICT");
  EXPECT_EQ(stack_.post("/api/v1/jobs/01NOSUCHJOB/retry", Json::object()).status, 404);
}

TEST_F(GatewayRest, FarmRoutesAnswerFromTheBroker) {
  ASSERT_EQ(stack_.submit("acme", "v5", {"a.js", "b.js"}, "device").status, 201);
  auto queue = stack_.get("/api/v1/queue?limit=10");
  ASSERT_EQ(queue.status, 200) << queue.text;
  ASSERT_GE(queue.body["groups"].size(), 1u);
  EXPECT_EQ(queue.body["groups"][0]["key"], "acme/v5/device");
  EXPECT_EQ(queue.body["groups"][0]["depth"], 2);
  EXPECT_EQ(queue.body["by_priority"]["medium"], 2);

  ASSERT_TRUE(wait_until([&] { return stack_.get("/api/v1/workers").body["workers"].size() == 2; }, 10s, 50ms));
  auto workers = stack_.get("/api/v1/workers");
  EXPECT_EQ(workers.body["workers"][0].count("lease_id"), 0u) << "no client is sent a lease id";

  auto stats = stack_.get("/api/v1/stats");
  ASSERT_EQ(stats.status, 200) << stats.text;
  EXPECT_EQ(stats.body["by_org"]["acme"], 2);
  // STATS' farm figures pass through: the queued group's (org, target), both windows.
  int queued_records = 0;
  for (const auto& f : stats.body["farm"]) {
    if (f["org_id"] == "acme" && f["target"] == "device" && f["oldest_queued_ms"].get<std::int64_t>() >= 0) {
      ++queued_records;
    }
  }
  EXPECT_EQ(queued_records, 2) << stats.text;

  auto health = stack_.get("/api/v1/health", "");
  EXPECT_EQ(health.status, 200) << health.text;
  EXPECT_TRUE(health.body["ok"].get<bool>());
  auto detailed = stack_.get("/api/v1/health/detailed");
  ASSERT_EQ(detailed.status, 200) << detailed.text;
  EXPECT_TRUE(detailed.body["brokers"][0]["reachable"].get<bool>());
  EXPECT_EQ(detailed.body["events"]["capacity"], 10000);

  auto scale = stack_.get("/api/v1/scale-recommendations");
  ASSERT_EQ(scale.status, 200) << scale.text;
  ASSERT_EQ(scale.body["targets"].size(), 3u);
  const auto& device = scale.body["targets"][1];
  EXPECT_EQ(device["target"], "device");
  EXPECT_EQ(device["queued_jobs"], 2);
  EXPECT_EQ(device["live_workers"], 0);
  EXPECT_EQ(device["change"], 1) << device["reasoning"];
  EXPECT_FALSE(device["reasoning"].get<std::string>().empty());
}

TEST_F(GatewayRest, AnOrgTokenSeesAndActsOnItsOrgOnly) {
  auto acme = stack_.submit("acme", "v6", {"a.js"}, "device", kAcmeToken);
  ASSERT_EQ(acme.status, 201) << acme.text;
  auto globex = stack_.submit("globex", "g1", {"g.js"}, "device", kGlobexToken);
  ASSERT_EQ(globex.status, 201) << globex.text;
  const std::string globex_job = globex.body["job_ids"][0];

  auto listed = stack_.get("/api/v1/jobs", kAcmeToken);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.body["jobs"].size(), 1u);
  EXPECT_EQ(listed.body["jobs"][0]["org_id"], "acme");
  EXPECT_EQ(stack_.get("/api/v1/jobs?org_id=globex", kAcmeToken).code(), "FORBIDDEN");
  EXPECT_EQ(stack_.submit("globex", "x", {"a.js"}, "device", kAcmeToken).code(), "FORBIDDEN");

  // Another org's job is answered exactly like one that does not exist, and stays untouched.
  EXPECT_EQ(stack_.get("/api/v1/jobs/" + globex_job, kAcmeToken).status, 404);
  EXPECT_EQ(stack_.post("/api/v1/jobs/" + globex_job + "/cancel", Json::object(), kAcmeToken).status, 404);
  EXPECT_EQ(stack_.post("/api/v1/jobs/" + globex_job + "/retry", Json::object(), kAcmeToken).status, 404);
  auto build = stack_.request("POST", "/api/v1/builds/globex/g1/cancel", "", kAcmeToken);
  EXPECT_EQ(build.status, 200);
  EXPECT_TRUE(build.body["results"].empty());
  EXPECT_EQ(stack_.get("/api/v1/jobs/" + globex_job).body["status"], "queued");

  auto queue = stack_.get("/api/v1/queue", kAcmeToken);
  ASSERT_EQ(queue.body["groups"].size(), 1u) << queue.text;
  EXPECT_EQ(queue.body["groups"][0]["org_id"], "acme");
  EXPECT_TRUE(queue.body["by_status"].empty());
  auto stats = stack_.get("/api/v1/stats", kAcmeToken);
  EXPECT_EQ(stats.body["by_org"].size(), 1u) << stats.text;
  ASSERT_FALSE(stats.body["farm"].empty()) << stats.text;
  for (const auto& f : stats.body["farm"]) EXPECT_EQ(f["org_id"], "acme") << stats.text;
  EXPECT_EQ(stack_.get("/api/v1/scale-recommendations", kAcmeToken).code(), "FORBIDDEN");
  EXPECT_EQ(stack_.get("/api/v1/health", "").body["queue_depth"], 0);
}

TEST_F(GatewayRest, SighupReadsTheTokensFileAgainAndTokensNeverReachTheLog) {
  const std::string fresh = "acme-rotated-9d2c71e04b";
  ASSERT_EQ(stack_.get("/api/v1/jobs", kAcmeToken).status, 200);
  std::ofstream(stack_.tokens_path()) << kAdminToken << " admin\n" << fresh << " org:acme\n";
  stack_.gateway().signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return stack_.get("/api/v1/jobs", fresh).status == 200; }, 10s, 50ms));
  EXPECT_EQ(stack_.get("/api/v1/jobs", kAcmeToken).status, 401);
  // A broken file leaves the tokens in force.
  std::ofstream(stack_.tokens_path()) << "not a tokens file\n";
  stack_.gateway().signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return stack_.gateway_log().find("not reloaded") != std::string::npos; }, 10s, 20ms));
  EXPECT_EQ(stack_.get("/api/v1/jobs", fresh).status, 200);

  const auto log = stack_.gateway_log();
  for (const auto& token : {kAdminToken, kAcmeToken, kGlobexToken, fresh}) {
    EXPECT_EQ(log.find(token), std::string::npos) << "token in the log";
  }
  EXPECT_NE(log.find("org:acme"), std::string::npos) << "requests are logged by role";
}

}  // namespace

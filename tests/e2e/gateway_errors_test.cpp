// Every error class through the real gateway and broker: the protocol's code, the HTTP status
// of docs/operations.md's table and the field, for bad bodies, missing and invalid fields, a
// body over the limit, unknown jobs, routes and methods, forbidden orgs, missing tokens, quotas
// and rates, and brokers that do not answer. Also: a gateway refuses to listen beyond loopback
// without tokens.
#include <gtest/gtest.h>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::GatewayOptions;
using qg::testing::GatewayStack;
using qg::testing::Json;
using qg::testing::kAcmeToken;
using qg::testing::kAdminToken;

class GatewayErrors : public ::testing::Test {
 protected:
  static GatewayOptions options() {
    GatewayOptions o;
    o.cluster.redis = false;
    o.cluster.broker_args = {"--org-max-queued", "capped=3", "--org-submit-rate", "rated=1:1"};
    o.gateway_args = {"--max-body-bytes", "65536"};
    return o;
  }
  GatewayErrors() : stack_(options()) {}

  void expect(const qg::testing::HttpReply& r, int status, const std::string& code, const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.text;
    EXPECT_EQ(r.code(), code) << r.text;
    EXPECT_EQ(r.field(), field) << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    EXPECT_TRUE(r.body["error"]["message"].is_string()) << r.text;
  }

  GatewayStack stack_;
};

TEST_F(GatewayErrors, BodiesAndFieldsGetTheProtocolsCodes) {
  expect(stack_.request("POST", "/api/v1/jobs", "{\"org_id\":"), 400, "BAD_BODY");
  expect(stack_.request("POST", "/api/v1/jobs", "[]"), 400, "BAD_BODY");
  expect(stack_.post("/api/v1/jobs", Json{{"org_id", "acme"}, {"app_version_id", "v1"}}), 400, "MISSING_FIELD",
         "tests");
  expect(stack_.post("/api/v1/jobs",
                     Json{{"org_id", "acme"}, {"app_version_id", "v1"}, {"tests", {"a"}}, {"priority", "urgent"}}),
         400, "INVALID_FIELD", "priority");
  expect(stack_.post("/api/v1/jobs", Json{{"org_id", "acme"}, {"app_version_id", "v1"}, {"tests", {"/etc/passwd"}}}),
         400, "INVALID_FIELD", "tests[0]");
  expect(stack_.get("/api/v1/jobs?status=exploded"), 400, "INVALID_FIELD", "status");
  expect(stack_.get("/api/v1/jobs?limit=abc"), 400, "INVALID_FIELD", "limit");
  expect(stack_.get("/api/v1/jobs?limit=5000"), 400, "INVALID_FIELD", "limit");
  expect(stack_.get("/api/v1/jobs/-rf"), 400, "INVALID_FIELD", "job_id");
  expect(stack_.request("POST", "/api/v1/jobs", std::string(100000, ' ')), 413, "TOO_LARGE");
}

TEST_F(GatewayErrors, UnknownThingsAndMissingRightsGetTheirCodes) {
  expect(stack_.get("/api/v1/jobs/01NOSUCHJOB"), 404, "NOT_FOUND", "job_id");
  expect(stack_.get("/api/v1/nothing-here"), 404, "UNKNOWN_COMMAND");
  expect(stack_.get("/no-such-page.html"), 404, "UNKNOWN_COMMAND");  // / itself is the dashboard
  auto wrong_method = stack_.request("DELETE", "/api/v1/jobs");
  expect(wrong_method, 405, "UNKNOWN_COMMAND");
  EXPECT_NE(wrong_method.headers.find("Allow"), wrong_method.headers.end());
  expect(stack_.get("/api/v1/jobs", ""), 401, "UNAUTHORIZED");
  expect(stack_.get("/api/v1/jobs", "not-a-known-token-at-all"), 401, "UNAUTHORIZED");
  expect(stack_.submit("globex", "v1", {"a.js"}, "emulator", kAcmeToken), 403, "FORBIDDEN", "org_id");
}

TEST_F(GatewayErrors, QuotaAndRateRefusalsCarryTheirFigures) {
  ASSERT_EQ(stack_.submit("capped", "v1", {"a.js", "b.js", "c.js"}, "device").status, 201);
  auto quota = stack_.submit("capped", "v1", {"d.js"}, "device");
  expect(quota, 429, "QUOTA_EXCEEDED");
  EXPECT_EQ(quota.body["error"]["limit"], 3);
  EXPECT_NE(quota.headers.find("Retry-After"), quota.headers.end());

  ASSERT_EQ(stack_.submit("rated", "v1", {"a.js"}, "device").status, 201);
  auto rate = stack_.submit("rated", "v1", {"b.js"}, "device");
  expect(rate, 429, "RATE_LIMITED");
  EXPECT_TRUE(rate.body["error"].contains("retry_after_ms"));
}

TEST(GatewayErrorsNoBroker, AnAbsentBrokerIsUnavailableAndHealthSays503) {
  qg::testing::TempDir dir;
  std::unique_ptr<qg::testing::ChildProcess> gateway;
  const auto dead = "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port());
  const int port = qg::testing::start_gateway(
      gateway, {"--broker", dead + "," + dead, "--events", dead, "--request-timeout", "0.3"}, dir.path() + "/gw.log");
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  auto jobs = client.Get("/api/v1/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 503);
  EXPECT_EQ(Json::parse(jobs->body)["error"]["code"], "UNAVAILABLE");
  auto health = client.Get("/api/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_FALSE(Json::parse(health->body)["ok"].get<bool>());
}

TEST(GatewayErrorsNoBroker, TheNextBrokerAnswersWhenTheFirstDoesNot) {
  qg::testing::ClusterOptions memory;
  memory.redis = false;
  qg::testing::Cluster cluster(memory);
  std::unique_ptr<qg::testing::ChildProcess> gateway;
  const auto dead = "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port());
  const int port = qg::testing::start_gateway(gateway,
                                              {"--broker", dead + "," + cluster.client_endpoint(), "--events",
                                               cluster.events_out_endpoint(), "--request-timeout", "0.3"},
                                              cluster.dir() + "/gateway.log");
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  auto submitted =
      client.Post("/api/v1/jobs", R"({"org_id":"acme","app_version_id":"v1","tests":["a.js"]})", "application/json");
  ASSERT_TRUE(submitted);
  EXPECT_EQ(submitted->status, 201) << submitted->body;
  // The broker that answered is asked first from then on: the dead one is not tried again.
  // (Each detailed health asks both brokers, so it counts one unanswered request itself.)
  auto unanswered = [&] {
    return Json::parse(client.Get("/api/v1/health/detailed")->body)["gateway"]["broker_unreachable"].get<int>();
  };
  const int before = unanswered();
  auto listed = client.Get("/api/v1/jobs");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_EQ(Json::parse(listed->body)["jobs"].size(), 1u);
  EXPECT_EQ(unanswered(), before + 1);
  auto detailed = Json::parse(client.Get("/api/v1/health/detailed")->body);
  EXPECT_FALSE(detailed["brokers"][0]["reachable"].get<bool>());
  EXPECT_TRUE(detailed["brokers"][1]["reachable"].get<bool>());
  EXPECT_TRUE(detailed["ok"].get<bool>());
}

TEST(GatewayErrorsNoBroker, ListeningBeyondLoopbackNeedsATokensFile) {
  auto refused = qg::testing::run_command({qg::testing::bin_dir() + "/qg-gateway", "--listen", "0.0.0.0:0"}, 10s);
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_NE(refused.error.find("--tokens-file"), std::string::npos) << refused.error;
}

}  // namespace

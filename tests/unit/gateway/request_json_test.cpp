// JSON and query strings into protocol requests: the protocol's codes and field names for
// every kind of bad input, and the Idempotency-Key header.
#include <gtest/gtest.h>

#include "request_json.hpp"

namespace {

using qg::gateway::ApiError;
using qg::gateway::Json;
using qg::gateway::parse_object;
using qg::gateway::submit_from_json;

// The error code and field `body` is refused with ("" when it is accepted).
std::pair<std::string, std::string> refusal(const std::string& body, const std::string& header = "") {
  try {
    submit_from_json(parse_object(body), header);
    return {"", ""};
  } catch (const ApiError& e) {
    return {e.error().code, e.error().field};
  }
}

TEST(GatewayRequests, AGoodSubmitBecomesTheProtocolRequest) {
  auto r = submit_from_json(parse_object(R"({"org_id":"acme","app_version_id":"v1","tests":["a.js","b.js"],
      "priority":"high","target":"device","retries":2,"max_attempts":4,"unknown":true})"),
                            "");
  EXPECT_EQ(r.org_id, "acme");
  EXPECT_EQ(r.tests.size(), 2u);
  EXPECT_EQ(r.priority, qg::proto::Priority::high);
  EXPECT_EQ(r.target, qg::proto::Target::device);
  EXPECT_EQ(r.retries, 2u);
  EXPECT_EQ(r.max_attempts, 4u);
}

TEST(GatewayRequests, RequiresPassesThroughAndHostileRequirementsNameTheField) {
  const std::string base = R"({"org_id":"acme","app_version_id":"v1","tests":["a.js"],)";
  auto r = submit_from_json(parse_object(base + R"("requires":{"os":"android14","model":"Pixel 7"}})"), "");
  ASSERT_TRUE(r.requirements);
  EXPECT_EQ(*r.requirements, (std::map<std::string, std::string>{{"model", "Pixel 7"}, {"os", "android14"}}));
  EXPECT_FALSE(submit_from_json(parse_object(base + R"("requires":{}})"), "").requirements);
  EXPECT_FALSE(submit_from_json(parse_object(base + R"("requires":null})"), "").requirements);
  EXPECT_EQ(refusal(base + R"("requires":["os=a"]})"),
            (std::pair<std::string, std::string>{"INVALID_FIELD", "requires"}));
  EXPECT_EQ(refusal(base + R"("requires":{"os":14}})"),
            (std::pair<std::string, std::string>{"INVALID_FIELD", "requires.os"}));
  EXPECT_EQ(refusal(base + R"("requires":{"a b":"x"}})"),
            (std::pair<std::string, std::string>{"INVALID_FIELD", "requires.a b"}));
  EXPECT_EQ(refusal(base + R"("requires":{"os":"a\nb"}})"),
            (std::pair<std::string, std::string>{"INVALID_FIELD", "requires.os"}));
  std::string many = base + R"("requires":{)";
  for (int i = 0; i < 9; ++i) many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":\"v\"";
  EXPECT_EQ(refusal(many + "}}"), (std::pair<std::string, std::string>{"TOO_LARGE", "requires"}));
}

TEST(GatewayRequests, BadBodiesAreBadBody) {
  for (const std::string& body :
       std::vector<std::string>{"", "{", "[1]", "\"x\"", "nul", std::string(40, '[') + std::string(40, ']')}) {
    EXPECT_EQ(refusal(body).first, "BAD_BODY") << body;
  }
}

TEST(GatewayRequests, FieldErrorsNameTheField) {
  const std::string base = R"("org_id":"acme","app_version_id":"v1")";
  EXPECT_EQ(refusal(R"({"app_version_id":"v1","tests":["a"]})"),
            std::make_pair(std::string("MISSING_FIELD"), std::string("org_id")));
  EXPECT_EQ(refusal("{" + base + "}"), std::make_pair(std::string("MISSING_FIELD"), std::string("tests")));
  EXPECT_EQ(refusal("{" + base + R"(,"tests":"a"})").second, "tests");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":[1]})").second, "tests");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":[]})").first, "INVALID_FIELD");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["../etc"]})"),
            std::make_pair(std::string("INVALID_FIELD"), std::string("tests[0]")));
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["a"],"priority":"urgent"})").second, "priority");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["a"],"target":1})").second, "target");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["a"],"retries":-1})").second, "retries");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["a"],"retries":11})").second, "retries");
  EXPECT_EQ(refusal("{" + base + R"(,"tests":["a"],"retries":1e20})").second, "retries");
  EXPECT_EQ(refusal(R"({"org_id":"a.b","app_version_id":"v1","tests":["a"]})").second, "org_id");
  EXPECT_EQ(refusal(R"({"org_id":"acme","app_version_id":"-v","tests":["a"]})").second, "app_version_id");
}

TEST(GatewayRequests, TheIdempotencyKeyHeaderIsTheKeyAndMustAgreeWithTheBody) {
  const std::string body = R"({"org_id":"acme","app_version_id":"v1","tests":["a"],"idempotency_key":"k1"})";
  EXPECT_EQ(submit_from_json(parse_object(body), "").idempotency_key, "k1");
  EXPECT_EQ(submit_from_json(parse_object(body), "k1").idempotency_key, "k1");
  EXPECT_EQ(refusal(body, "k2").second, "idempotency_key");
  EXPECT_EQ(refusal(R"({"org_id":"acme","app_version_id":"v1","tests":["a"]})", "-bad").second, "idempotency_key");
}

TEST(GatewayRequests, JobIdsInPathsFollowTheProtocolsRules) {
  EXPECT_EQ(qg::gateway::job_id_from_path("01ABC"), "01ABC");
  for (const std::string& bad : std::vector<std::string>{"..", "-x", std::string(200, 'a'), std::string("a b")}) {
    EXPECT_THROW(qg::gateway::job_id_from_path(bad), ApiError) << bad;
  }
}

}  // namespace

// The OpenAPI document at /api/v1/openapi.json: every route the gateway serves is in it, and
// every route in it answers (with its own reply or a structured error, never "no such route").
#include <gtest/gtest.h>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::EventStream;
using qg::testing::GatewayOptions;
using qg::testing::GatewayStack;
using qg::testing::Json;

TEST(GatewayOpenApi, EveryRouteIsDocumentedAndEveryDocumentedRouteAnswers) {
  GatewayOptions o;
  o.cluster.redis = false;
  o.gateway_args = {"--stream-keepalive", "0.2"};
  GatewayStack stack(o);
  auto doc = stack.get("/api/v1/openapi.json", "");
  ASSERT_EQ(doc.status, 200) << doc.text;
  EXPECT_EQ(doc.body["openapi"].get<std::string>().substr(0, 2), "3.");
  const auto& paths = doc.body["paths"];

  const std::vector<std::pair<std::string, std::string>> served = {
      {"post", "/api/v1/jobs"},
      {"get", "/api/v1/jobs"},
      {"get", "/api/v1/jobs/{job_id}"},
      {"post", "/api/v1/jobs/{job_id}/cancel"},
      {"post", "/api/v1/builds/{org_id}/{app_version_id}/cancel"},
      {"post", "/api/v1/jobs/{job_id}/retry"},
      {"get", "/api/v1/queue"},
      {"get", "/api/v1/workers"},
      {"get", "/api/v1/stats"},
      {"get", "/api/v1/health"},
      {"get", "/api/v1/health/detailed"},
      {"get", "/api/v1/scale-recommendations"},
      {"get", "/api/v1/events"},
      {"get", "/api/v1/openapi.json"},
      {"get", "/metrics"},
  };
  std::size_t documented = 0;
  for (const auto& [method, path] : served) {
    EXPECT_TRUE(paths.contains(path) && paths[path].contains(method)) << method << " " << path;
  }

  const std::string job = stack.submit("acme", "v1", {"a.js"}, "device").body["job_ids"][0];
  for (const auto& [path, operations] : paths.items()) {
    for (const auto& [method, operation] : operations.items()) {
      ++documented;
      EXPECT_TRUE(operation.contains("responses")) << path;
      std::string concrete = path;
      for (const auto& [name, value] :
           {std::pair<std::string, std::string>{"{job_id}", job}, {"{org_id}", "acme"}, {"{app_version_id}", "v1"}}) {
        if (auto at = concrete.find(name); at != std::string::npos) concrete.replace(at, name.size(), value);
      }
      if (path == "/api/v1/events") {
        EventStream stream(stack.port(), "", qg::testing::kAdminToken);
        EXPECT_TRUE(stream.wait_for(": open")) << stream.text();
        EXPECT_EQ(stream.status(), 200);
        continue;
      }
      const std::string body = method == "post" && path == "/api/v1/jobs"
                                   ? R"({"org_id":"acme","app_version_id":"v2","tests":["b.js"],"target":"device"})"
                                   : "{}";
      std::string upper = method;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      auto r = stack.request(upper, concrete, method == "post" ? body : "");
      EXPECT_NE(r.status, 0) << method << " " << concrete;
      EXPECT_NE(r.code(), "UNKNOWN_COMMAND") << method << " " << concrete << " " << r.text;
      EXPECT_LT(r.status, 500) << method << " " << concrete << " " << r.text;
    }
  }
  EXPECT_EQ(documented, served.size()) << "a documented route the list above does not know";
}

}  // namespace

#pragma once
// The route table, by role: jobs (submit, read, list, cancel, retry), the farm (queue, workers,
// stats, health, scale recommendations), live events, and the OpenAPI document made from the
// table itself, so that every route is in it by construction.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "api.hpp"
#include "auth.hpp"
#include "broker_pool.hpp"
#include "event_buffer.hpp"
#include "event_feed.hpp"
#include "metrics.hpp"
#include "qg/gateway/gateway.hpp"

namespace qg::gateway {

// What the handlers use; owned by the gateway, alive while it serves.
struct Services {
  const GatewaySettings& settings;
  BrokerPool& brokers;
  EventBuffer& events;
  EventFeed& feed;
  Authenticator& auth;
  GatewayMetrics& metrics;
  std::shared_ptr<spdlog::logger> logger;
  std::string run_id;  // event ids are "<run_id>-<n>": ids of another run are recognised
  std::int64_t started_ms = 0;
  std::atomic<std::uint64_t> generated_keys{0};  // idempotency keys made for submits that had none
};

inline constexpr const char* kApiPrefix = "/api/v1";

void add_job_routes(std::vector<Route>& routes, Services& s);
void add_farm_routes(std::vector<Route>& routes, Services& s);
void add_event_routes(std::vector<Route>& routes, Services& s);
// GET /metrics (Prometheus text), outside /api/v1 where scrapers look for it.
void add_metrics_route(std::vector<Route>& routes, Services& s);
// GET /api/v1/openapi.json, serving openapi_document(routes) as the table is when called.
void add_openapi_route(std::vector<Route>& routes);

// The OpenAPI 3 document of `routes`.
Json openapi_document(const std::vector<Route>& routes);

// Pieces of OpenAPI operation objects, for the route files.
Json operation(const std::string& summary, const std::string& description, Json parameters,
               const std::string& reply_schema, int ok_status = 200);
Json path_param(const std::string& name, const std::string& description);
Json query_param(const std::string& name, const std::string& description, const std::string& type = "string");

// Throws FORBIDDEN naming org_id when an org caller names another org (as LIST does on the broker).
void require_org(const Caller& caller, const std::string& org_id);
// Throws FORBIDDEN unless the caller sees every org (admin or local).
void require_every_org(const Caller& caller, const std::string& what);

}  // namespace qg::gateway

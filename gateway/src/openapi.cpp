// The OpenAPI 3 document, made from the route table (routes.hpp) and the schemas below.
#include "routes.hpp"

namespace qg::gateway {

namespace {

Json ref(const std::string& name) { return Json{{"$ref", "#/components/schemas/" + name}}; }

Json object_of(std::initializer_list<std::pair<const char*, Json>> props, std::vector<std::string> required = {}) {
  Json o = Json{{"type", "object"}, {"properties", Json::object()}};
  for (const auto& [k, v] : props) o["properties"][k] = v;
  if (!required.empty()) o["required"] = required;
  return o;
}

Json str() { return Json{{"type", "string"}}; }
Json integer() { return Json{{"type", "integer"}}; }
Json boolean() { return Json{{"type", "boolean"}}; }
Json counts() { return Json{{"type", "object"}, {"additionalProperties", integer()}}; }
Json array_of(Json item) { return Json{{"type", "array"}, {"items", std::move(item)}}; }

Json schemas() {
  Json s = Json::object();
  s["Error"] = object_of(
      {{"error", object_of({{"code", str()}, {"message", str()}, {"field", str()}, {"retry_after_ms", integer()}},
                           {"code", "message", "field"})}},
      {"error"});
  s["Job"] = object_of({{"id", str()},
                        {"org_id", str()},
                        {"app_version_id", str()},
                        {"test_path", str()},
                        {"priority", str()},
                        {"target", str()},
                        {"status", str()},
                        {"attempt", integer()},
                        {"max_attempts", integer()},
                        {"retries", integer()},
                        {"created_at_ms", integer()},
                        {"updated_at_ms", integer()},
                        {"submission_id", str()},
                        {"worker_id", str()},
                        {"exit_code", integer()},
                        {"duration_ms", integer()},
                        {"last_error", str()},
                        {"log_tail", str()},
                        {"flaky", boolean()},
                        {"requires", Json{{"type", "object"}, {"additionalProperties", str()}}}});
  s["SubmitRequest"] =
      object_of({{"org_id", str()},
                 {"app_version_id", str()},
                 {"tests", array_of(str())},
                 {"priority", Json{{"type", "string"}, {"enum", {"low", "medium", "high"}}}},
                 {"target", Json{{"type", "string"}, {"enum", {"emulator", "device", "browserstack"}}}},
                 {"retries", integer()},
                 {"max_attempts", integer()},
                 {"idempotency_key", str()},
                 {"requires", Json{{"type", "object"}, {"additionalProperties", str()}}}},
                {"org_id", "app_version_id", "tests"});
  s["SubmitReply"] = object_of({{"submission_id", str()}, {"job_ids", array_of(str())}, {"duplicate", boolean()}});
  s["JobPage"] = object_of({{"jobs", array_of(ref("Job"))}, {"next_cursor", str()}});
  s["CancelReply"] =
      object_of({{"results", array_of(object_of({{"job_id", str()}, {"outcome", str()}, {"status", str()}}))}});
  s["RetryReply"] = object_of({{"job_id", str()}, {"status", str()}});
  s["Queue"] = object_of({{"groups", array_of(Json{{"type", "object"}})},
                          {"by_status", counts()},
                          {"by_priority", counts()},
                          {"next_cursor", str()}});
  s["Workers"] = object_of({{"workers", array_of(Json{{"type", "object"}})}});
  const Json number{{"type", "number"}};
  s["FarmStat"] = object_of({{"org_id", str()},
                             {"target", Json{{"type", "string"}, {"enum", {"emulator", "device", "browserstack"}}}},
                             {"window", Json{{"type", "string"}, {"enum", {"hour", "day"}}}},
                             {"by_status", counts()},
                             {"finished", integer()},
                             {"success_rate", number},
                             {"test_p50_ms", integer()},
                             {"test_p95_ms", integer()},
                             {"tests_run", integer()},
                             {"installs", integer()},
                             {"install_p50_ms", integer()},
                             {"tests_per_install", number},
                             {"oldest_queued_ms", integer()}});
  s["Stats"] = object_of({{"by_status", counts()},
                          {"by_org", counts()},
                          {"jobs_per_sec", number},
                          {"rejected_requests", integer()},
                          {"farm", array_of(ref("FarmStat"))}});
  s["Health"] = object_of({{"ok", boolean()}, {"store", str()}, {"queue_depth", integer()}, {"detail", str()}});
  s["DetailedHealth"] = object_of({{"ok", boolean()},
                                   {"brokers", array_of(Json{{"type", "object"}})},
                                   {"events", Json{{"type", "object"}}},
                                   {"gateway", Json{{"type", "object"}}}});
  s["ScaleRecommendations"] = object_of(
      {{"drain_target_ms", integer()}, {"queue_complete", boolean()}, {"targets", array_of(Json{{"type", "object"}})}});
  s["OpenApi"] = Json{{"type", "object"}};
  return s;
}

}  // namespace

Json path_param(const std::string& name, const std::string& description) {
  return Json{{"name", name}, {"in", "path"}, {"required", true}, {"description", description}, {"schema", str()}};
}

Json query_param(const std::string& name, const std::string& description, const std::string& type) {
  return Json{
      {"name", name}, {"in", "query"}, {"required", false}, {"description", description}, {"schema", {{"type", type}}}};
}

Json operation(const std::string& summary, const std::string& description, Json parameters,
               const std::string& reply_schema, int ok_status) {
  Json op = Json{{"summary", summary}, {"description", description}, {"parameters", std::move(parameters)}};
  Json ok = Json{{"description", "served"}};
  if (!reply_schema.empty()) ok["content"] = {{"application/json", {{"schema", ref(reply_schema)}}}};
  op["responses"][std::to_string(ok_status)] = ok;
  op["responses"]["default"] = {{"description", "an error (see the table of codes in docs/operations.md)"},
                                {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
  return op;
}

Json openapi_document(const std::vector<Route>& routes) {
  Json paths = Json::object();
  for (const auto& r : routes) {
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    Json op = r.operation;
    if (!r.needs_token) op["security"] = Json::array();
    paths[r.openapi_path][method] = op;
  }
  return Json{{"openapi", "3.0.3"},
              {"info",
               {{"title", "qgjob gateway"},
                {"version", "1"},
                {"description",
                 "REST and Server-Sent Events over the qgjob protocol. Field names and error codes "
                 "are the protocol's (docs/protocol.md)."}}},
              {"servers", Json::array({Json{{"url", "/"}}})},
              {"security", Json::array({Json{{"bearer", Json::array()}}})},
              {"paths", paths},
              {"components",
               {{"schemas", schemas()}, {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

void add_openapi_route(std::vector<Route>& routes) {
  const std::string path = std::string(kApiPrefix) + "/openapi.json";
  // The table is complete by the time anyone asks; the document is made from it then.
  routes.push_back({"GET", path, std::regex(path), false,
                    [&routes](Call& c) { write_json(c.res, openapi_document(routes)); },
                    operation("This document", "The OpenAPI 3 description of every route. No token needed.",
                              Json::array(), "OpenApi")});
}

}  // namespace qg::gateway

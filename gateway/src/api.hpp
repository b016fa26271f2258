#pragma once
// What every route shares: the caller, the error a handler throws, the JSON it answers with,
// and the route table row (which also feeds the OpenAPI document).
//
// Errors use the protocol's codes (docs/protocol.md section 9) and an HTTP status per code
// (http_status_for); the body is {"error":{"code","message","field"}} plus, for a refused
// submit, the protocol's figures (retry_after_ms, queued, limit, rate, burst).

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "auth.hpp"
#include "qg/proto/expected.hpp"

namespace qg::gateway {

using Json = nlohmann::ordered_json;

// Codes of the HTTP surface that the protocol has no need for.
namespace http_errc {
inline constexpr const char* unauthorized = "UNAUTHORIZED";  // no or unknown bearer token
}

// Thrown by a handler; the dispatcher answers with it.
class ApiError : public std::exception {
 public:
  explicit ApiError(proto::Error error) : error_(std::move(error)) {}
  ApiError(std::string code, std::string message, std::string field = "")
      : error_{std::move(code), std::move(message), std::move(field)} {}
  const proto::Error& error() const { return error_; }
  const char* what() const noexcept override { return error_.message.c_str(); }

 private:
  proto::Error error_;
};

// The HTTP status for a protocol (or http_errc) error code; 500 for an unknown one.
int http_status_for(const std::string& code);

// Writes the error body and status (and Retry-After when the error carries retry_after_ms).
void write_error(httplib::Response& res, const proto::Error& error);
// Writes `doc` as the JSON body with `status`.
void write_json(httplib::Response& res, const Json& doc, int status = 200);
// Invalid UTF-8 replaced, never throws.
std::string dump(const Json& doc);

// One request as a handler sees it.
struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  const std::smatch& match;  // the path's captures (path parameters)
  const Caller& caller;
};

// A row of the route table. `pattern` is matched against the whole path; `openapi_path` is
// the same path in OpenAPI's template form; `operation` is the OpenAPI operation object
// (summary, parameters, responses), without which no route is added.
struct Route {
  std::string method;  // "GET", "POST"
  std::string openapi_path;
  std::regex pattern;
  bool needs_token = true;  // false: answered without a token (load-balancer health)
  std::function<void(Call&)> handle;
  Json operation;
};

}  // namespace qg::gateway

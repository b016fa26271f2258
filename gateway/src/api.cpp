// Errors and JSON bodies shared by the routes; the contract is in api.hpp.
#include "api.hpp"

#include <map>

#include "qg/proto/messages.hpp"

namespace qg::gateway {

int http_status_for(const std::string& code) {
  namespace e = proto::errc;
  static const std::map<std::string, int, std::less<>> table = {
      {std::string(e::bad_frames), 400},    {std::string(e::bad_protocol), 400}, {std::string(e::unknown_command), 404},
      {std::string(e::too_large), 413},     {std::string(e::bad_body), 400},     {std::string(e::missing_field), 400},
      {std::string(e::invalid_field), 400}, {std::string(e::not_found), 404},    {std::string(e::conflict), 409},
      {std::string(e::forbidden), 403},     {std::string(e::unavailable), 503},  {std::string(e::quota_exceeded), 429},
      {std::string(e::rate_limited), 429},  {std::string(e::internal), 500},     {http_errc::unauthorized, 401},
  };
  auto it = table.find(code);
  return it == table.end() ? 500 : it->second;
}

std::string dump(const Json& doc) { return doc.dump(-1, ' ', false, Json::error_handler_t::replace); }

void write_json(httplib::Response& res, const Json& doc, int status) {
  res.status = status;
  res.set_content(dump(doc), "application/json");
}

void write_error(httplib::Response& res, const proto::Error& error) {
  Json e = Json{{"code", error.code}, {"message", error.message}, {"field", error.field}};
  if (error.retry_after_ms) {
    e["retry_after_ms"] = *error.retry_after_ms;
    res.set_header("Retry-After", std::to_string((*error.retry_after_ms + 999) / 1000));
  }
  if (error.queued) e["queued"] = *error.queued;
  if (error.limit) e["limit"] = *error.limit;
  if (error.rate) e["rate"] = *error.rate;
  if (error.burst) e["burst"] = *error.burst;
  if (error.code == http_errc::unauthorized) res.set_header("WWW-Authenticate", "Bearer");
  write_json(res, Json{{"error", e}}, http_status_for(error.code));
}

}  // namespace qg::gateway

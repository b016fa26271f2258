// HTTP input into protocol requests; the contract is in request_json.hpp.
#include "request_json.hpp"

#include <charconv>
#include <limits>

#include "qg/proto/field_rules.hpp"

namespace qg::gateway {

namespace {

namespace errc = proto::errc;

[[noreturn]] void invalid(const std::string& field, const std::string& message) {
  throw ApiError(std::string(errc::invalid_field), message, field);
}

// Deepest nesting of arrays and objects, strings skipped; stops counting past `limit`.
std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string string_field(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) invalid(key, std::string(key) + " must be a string");
  return it->get<std::string>();
}

std::uint32_t uint_field(const Json& body, const char* key, std::uint32_t fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    invalid(key,
            std::string(key) + " must be an integer 0.." + std::to_string(std::numeric_limits<std::uint32_t>::max()));
  }
  return static_cast<std::uint32_t>(it->get<std::uint64_t>());
}

std::uint32_t uint_param(const httplib::Request& req, const char* key, std::uint32_t fallback) {
  if (!req.has_param(key)) return fallback;
  auto text = req.get_param_value(key);
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    invalid(key, std::string(key) + " must be an integer");
  }
  return value;
}

}  // namespace

Json parse_object(std::string_view body) {
  if (body.empty()) throw ApiError(std::string(errc::bad_body), "the body is empty: a JSON object is expected");
  if (nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    throw ApiError(std::string(errc::bad_body), "the JSON nests deeper than " + std::to_string(kMaxJsonDepth));
  }
  auto doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded()) throw ApiError(std::string(errc::bad_body), "the body is not valid JSON");
  if (!doc.is_object()) throw ApiError(std::string(errc::bad_body), "the body must be a JSON object");
  return doc;
}

proto::SubmitRequest submit_from_json(const Json& body, std::string_view idempotency_header) {
  proto::SubmitRequest r;
  // Required fields absent: the protocol's MISSING_FIELD, in its table order.
  for (const char* key : {"org_id", "app_version_id", "tests"}) {
    if (!body.contains(key) || body.at(key).is_null()) {
      throw ApiError(std::string(errc::missing_field), std::string(key) + " is required", key);
    }
  }
  r.org_id = string_field(body, "org_id");
  r.app_version_id = string_field(body, "app_version_id");
  const auto& tests = body.at("tests");
  if (!tests.is_array()) invalid("tests", "tests must be an array of test paths");
  if (tests.size() > proto::Limits{}.max_array_items) {
    throw ApiError(std::string(errc::too_large), "at most 10000 tests per submit", "tests");
  }
  for (const auto& t : tests) {
    if (!t.is_string()) invalid("tests", "every test must be a string");
    r.tests.push_back(t.get<std::string>());
  }
  if (auto p = string_field(body, "priority"); !p.empty()) {
    auto parsed = proto::parse_priority(p);
    if (!parsed) invalid("priority", "priority must be low, medium or high");
    r.priority = *parsed;
  }
  if (auto t = string_field(body, "target"); !t.empty()) {
    auto parsed = proto::parse_target(t);
    if (!parsed) invalid("target", "target must be emulator, device or browserstack");
    r.target = *parsed;
  }
  r.retries = uint_field(body, "retries", 0);
  r.max_attempts = uint_field(body, "max_attempts", 0);
  r.idempotency_key = string_field(body, "idempotency_key");
  if (auto it = body.find("requires"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) invalid("requires", "requires must be an object of label names to values");
    if (it->size() > proto::kMaxRequirements) {
      throw ApiError(std::string(errc::too_large),
                     "more than " + std::to_string(proto::kMaxRequirements) + " requirements", "requires");
    }
    std::map<std::string, std::string> requirements;
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) invalid("requires." + key.substr(0, 64), "every requirement's value must be a string");
      requirements.emplace(key, value.get<std::string>());
    }
    if (!requirements.empty()) r.requirements = std::move(requirements);  // {}: none, as absent
  }
  if (!idempotency_header.empty()) {
    if (!r.idempotency_key.empty() && r.idempotency_key != idempotency_header) {
      invalid("idempotency_key", "the Idempotency-Key header and the body's idempotency_key differ");
    }
    r.idempotency_key = std::string(idempotency_header);
  }
  validate(r);
  return r;
}

proto::ListRequest list_from_query(const httplib::Request& req) {
  proto::ListRequest r;
  r.org_id = req.get_param_value("org_id");
  r.app_version_id = req.get_param_value("app_version_id");
  if (req.has_param("status")) {
    r.status = proto::parse_status(req.get_param_value("status"));
    if (!r.status) invalid("status", "unknown status '" + req.get_param_value("status") + "'");
  }
  if (req.has_param("target")) {
    r.target = proto::parse_target(req.get_param_value("target"));
    if (!r.target) invalid("target", "target must be emulator, device or browserstack");
  }
  r.cursor = req.get_param_value("cursor");
  r.limit = uint_param(req, "limit", 50);
  validate(r);
  return r;
}

proto::QueueRequest queue_from_query(const httplib::Request& req) {
  proto::QueueRequest r;
  r.cursor = req.get_param_value("cursor");
  r.limit = uint_param(req, "limit", 50);
  validate(r);
  return r;
}

std::string job_id_from_path(const std::string& segment) {
  if (auto bad = proto::check_id(segment, "job_id")) throw ApiError(*bad);
  return segment;
}

}  // namespace qg::gateway

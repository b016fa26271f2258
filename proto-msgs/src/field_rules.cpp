// The value rules of ids and paths (contract in qg/proto/field_rules.hpp). Lengths over a limit
// are TOO_LARGE; empty values, bad characters and the shapes refused below are INVALID_FIELD;
// both name the field.

#include "qg/proto/field_rules.hpp"

#include <string>

#include "qg/proto/messages.hpp"

namespace qg::proto {
namespace {

using Result = std::optional<Error>;

Error invalid(std::string_view field, std::string message) {
  return Error{std::string(errc::invalid_field), std::move(message), std::string(field)};
}
Error too_large(std::string_view field, std::size_t max_bytes) {
  return Error{std::string(errc::too_large), "longer than " + std::to_string(max_bytes) + " bytes", std::string(field)};
}

bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
// app_version_id: [A-Za-z0-9._-]
bool is_name_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }
// org_id: [A-Za-z0-9_-]
bool is_org_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }
// worker, job and lease ids: [A-Za-z0-9._:-]
bool is_id_char(char c) { return is_name_char(c) || c == ':'; }

// The two shapes no id may have, whatever its character set: an option ("-x") and a path
// segment that leaves or names its directory ("." and "..").
Result check_shape(std::string_view value, std::string_view field) {
  if (!value.empty() && value.front() == '-') return invalid(field, "must not start with '-'");
  if (value == "." || value == "..") return invalid(field, "must not be \".\" or \"..\"");
  return std::nullopt;
}

Result check_no_control(std::string_view value, std::string_view field) {
  for (const char c : value) {
    if (is_control_byte(c)) return invalid(field, "must not contain control characters (bytes 0x00-0x1f, 0x7f)");
  }
  return std::nullopt;
}

Result check_token(std::string_view value, std::string_view field, std::size_t max_bytes, bool (*allowed)(char),
                   std::string_view charset) {
  if (value.empty()) return invalid(field, "must not be empty");
  if (value.size() > max_bytes) return too_large(field, max_bytes);
  for (const char c : value) {
    if (!allowed(c)) return invalid(field, "may contain only " + std::string(charset));
  }
  return check_shape(value, field);
}

}  // namespace

std::optional<Error> check_org_id(std::string_view value, std::string_view field) {
  return check_token(value, field, kMaxOrgIdBytes, is_org_char, "A-Z a-z 0-9 _ -");
}

std::optional<Error> check_app_version_id(std::string_view value, std::string_view field) {
  return check_token(value, field, kMaxAppVersionIdBytes, is_name_char, "A-Z a-z 0-9 . _ -");
}

std::optional<Error> check_id(std::string_view value, std::string_view field) {
  return check_token(value, field, kMaxIdBytes, is_id_char, "A-Z a-z 0-9 . _ : -");
}

std::optional<Error> check_test_path(std::string_view path, std::string_view field) {
  if (path.empty()) return invalid(field, "must not be empty");
  if (path.size() > kMaxTestPathBytes) return too_large(field, kMaxTestPathBytes);
  if (auto e = check_no_control(path, field)) return e;
  if (path.front() == '/' || path.front() == '\\') return invalid(field, "must be a relative path");
  if (path.front() == '-') return invalid(field, "must not start with '-'");
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return invalid(field, "must not contain a \"..\" segment");
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<Error> check_device_id(std::string_view value, std::string_view field) {
  if (auto e = check_no_control(value, field)) return e;
  return check_shape(value, field);
}

std::optional<Error> check_idempotency_key(std::string_view value, std::string_view field) {
  if (value.size() > kMaxIdempotencyKeyBytes) return too_large(field, kMaxIdempotencyKeyBytes);
  return check_shape(value, field);
}

std::optional<Error> check_requirements(const std::map<std::string, std::string>& requirements,
                                        std::string_view field) {
  if (requirements.size() > kMaxRequirements) {
    return Error{std::string(errc::too_large), "more than " + std::to_string(kMaxRequirements) + " requirements",
                 std::string(field)};
  }
  for (const auto& [key, value] : requirements) {
    const std::string at = std::string(field) + "." + (key.size() <= kMaxRequirementKeyBytes ? key : "<key>");
    if (auto e = check_token(key, at, kMaxRequirementKeyBytes, is_name_char, "A-Z a-z 0-9 . _ - in a key")) return e;
    if (value.size() > kMaxRequirementValueBytes) return too_large(at, kMaxRequirementValueBytes);
    if (auto e = check_no_control(value, at)) return e;
  }
  return std::nullopt;
}

bool labels_satisfy(const std::map<std::string, std::string>& labels,
                    const std::map<std::string, std::string>& requirements) {
  for (const auto& [key, value] : requirements) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace qg::proto

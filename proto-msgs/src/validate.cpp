// Value rules of requests (the ranges written beside the fields in messages.hpp and listed
// in docs/protocol.md). Lengths over a limit are TOO_LARGE; empty values, bad characters,
// numbers out of range and wrong enum values are INVALID_FIELD; both name the field.

#include "validate.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace qg::proto::detail {
namespace {

using Result = std::optional<Error>;

constexpr std::size_t kMaxIdempotencyKeyBytes = 256;

Error invalid(std::string field, std::string message) {
  return Error{std::string(errc::invalid_field), std::move(message), std::move(field)};
}
Error too_large(std::string field, std::string message) {
  return Error{std::string(errc::too_large), std::move(message), std::move(field)};
}
Error missing(std::string field, std::string message) {
  return Error{std::string(errc::missing_field), std::move(message), std::move(field)};
}

bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
// app_version_id: [A-Za-z0-9._-]
bool is_name_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }
// org_id: [A-Za-z0-9_-]. No '.', because the org is a segment of the event topic
// "job.<org_id>.<job_id>": with a '.' in org ids, the prefix "job.acme." would match "acme.eu".
bool is_org_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }
// worker, job and lease ids: [A-Za-z0-9._:-]
bool is_id_char(char c) { return is_name_char(c) || c == ':'; }

Result check_token(std::string_view value, const std::string& field, std::size_t max_bytes, bool (*allowed)(char),
                   std::string_view charset) {
  if (value.empty()) return invalid(field, "must not be empty");
  if (value.size() > max_bytes) return too_large(field, "longer than " + std::to_string(max_bytes) + " bytes");
  for (const char c : value) {
    if (!allowed(c)) return invalid(field, "may contain only " + std::string(charset));
  }
  return std::nullopt;
}

Result check_org_id(std::string_view value, const std::string& field = "org_id") {
  return check_token(value, field, kMaxOrgIdBytes, is_org_char, "A-Z a-z 0-9 _ -");
}
Result check_app_version_id(std::string_view value, const std::string& field = "app_version_id") {
  return check_token(value, field, kMaxAppVersionIdBytes, is_name_char, "A-Z a-z 0-9 . _ -");
}
Result check_id(std::string_view value, const std::string& field) {
  return check_token(value, field, kMaxIdBytes, is_id_char, "A-Z a-z 0-9 . _ : -");
}

Result check_rid(const std::string& rid) {
  if (rid.size() > kMaxRidBytes) return too_large("rid", "longer than " + std::to_string(kMaxRidBytes) + " bytes");
  return std::nullopt;
}

std::string element(std::string_view field, std::size_t index) {
  return std::string(field) + "[" + std::to_string(index) + "]";
}

Result check_count(std::size_t count, std::string_view field, std::size_t min, std::size_t max) {
  if (count < min) return invalid(std::string(field), "needs at least " + std::to_string(min) + " entries");
  if (count > max) return too_large(std::string(field), "more than " + std::to_string(max) + " entries");
  return std::nullopt;
}

Result check_ids(const std::vector<std::string>& ids, std::string_view field, std::size_t min, std::size_t max) {
  if (auto e = check_count(ids.size(), field, min, max)) return e;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (auto e = check_id(ids[i], element(field, i))) return e;
  }
  return std::nullopt;
}

// A test file path relative to the test repository: no NUL, not absolute, no ".." segment,
// and not starting with '-' (it is handed to the test runner as an argument).
Result check_test_path(std::string_view path, const std::string& field) {
  if (path.empty()) return invalid(field, "must not be empty");
  if (path.size() > kMaxTestPathBytes) {
    return too_large(field, "longer than " + std::to_string(kMaxTestPathBytes) + " bytes");
  }
  if (path.find('\0') != std::string_view::npos) return invalid(field, "must not contain NUL");
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

Result check_limit(std::uint32_t& limit) {
  if (limit == 0) limit = kDefaultPageLimit;
  if (limit > kMaxPageLimit) return invalid("limit", "must be 1.." + std::to_string(kMaxPageLimit));
  return std::nullopt;
}

Result check_targets(const std::vector<Target>& targets, std::size_t min) {
  return check_count(targets.size(), "targets", min, kMaxTargets);
}

}  // namespace

std::optional<Error> validate(SubmitRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_org_id(m.org_id)) return e;
  if (auto e = check_app_version_id(m.app_version_id)) return e;
  if (auto e = check_count(m.tests.size(), "tests", 1, kMaxTests)) return e;
  for (std::size_t i = 0; i < m.tests.size(); ++i) {
    if (auto e = check_test_path(m.tests[i], element("tests", i))) return e;
  }
  if (m.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return too_large("idempotency_key", "longer than " + std::to_string(kMaxIdempotencyKeyBytes) + " bytes");
  }
  if (m.retries > kMaxRetries) return invalid("retries", "must be 0.." + std::to_string(kMaxRetries));
  if (m.max_attempts > kMaxAttempts) {
    return invalid("max_attempts", "must be 0.." + std::to_string(kMaxAttempts) + " (0 = broker default)");
  }
  return std::nullopt;
}

std::optional<Error> validate(StatusRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_ids(m.job_ids, "job_ids", 1, kMaxJobIds);
}

std::optional<Error> validate(ListRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (!m.org_id.empty()) {
    if (auto e = check_org_id(m.org_id)) return e;
  }
  if (!m.app_version_id.empty()) {
    if (auto e = check_app_version_id(m.app_version_id)) return e;
  }
  return check_limit(m.limit);
}

std::optional<Error> validate(CancelRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (!m.job_id.empty()) {
    if (!m.org_id.empty() || !m.app_version_id.empty()) {
      return invalid("job_id", "give either job_id or org_id + app_version_id, not both");
    }
    return check_id(m.job_id, "job_id");
  }
  if (m.org_id.empty() && m.app_version_id.empty()) {
    return missing("job_id", "give job_id, or org_id + app_version_id");
  }
  if (m.org_id.empty()) return missing("org_id", "cancelling a build needs org_id with app_version_id");
  if (m.app_version_id.empty()) return missing("app_version_id", "cancelling a build needs app_version_id with org_id");
  if (auto e = check_org_id(m.org_id)) return e;
  return check_app_version_id(m.app_version_id);
}

std::optional<Error> validate(RetryRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_id(m.job_id, "job_id");
}

std::optional<Error> validate(QueueRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_limit(m.limit);
}

std::optional<Error> validate(WorkersRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }
std::optional<Error> validate(HealthRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }
std::optional<Error> validate(StatsRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }

std::optional<Error> validate(Hello& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  return check_targets(m.targets, 1);
}

std::optional<Error> validate(Pull& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  return check_targets(m.targets, 0);
}

std::optional<Error> validate(Report& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  if (auto e = check_id(m.lease_id, "lease_id")) return e;
  if (auto e = check_id(m.job_id, "job_id")) return e;
  if (!is_final(m.status) || m.status == JobStatus::dead) {
    return invalid("status", "must be a final status: passed, failed, timed_out, error or cancelled");
  }
  return std::nullopt;
}

std::optional<Error> validate(Progress& m, const Limits& /*limits*/) {
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  if (auto e = check_id(m.lease_id, "lease_id")) return e;
  if (auto e = check_id(m.job_id, "job_id")) return e;
  if (m.status != JobStatus::assigned && m.status != JobStatus::installing && m.status != JobStatus::running) {
    return invalid("status", "must be assigned, installing or running (final results go in REPORT)");
  }
  return std::nullopt;
}

std::optional<Error> validate(Heartbeat& m, const Limits& /*limits*/) {
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  if (!m.lease_id.empty()) return check_id(m.lease_id, "lease_id");
  return std::nullopt;
}

std::optional<Error> validate(Release& m, const Limits& limits) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  if (auto e = check_id(m.lease_id, "lease_id")) return e;
  return check_ids(m.job_ids, "job_ids", 0, limits.max_array_items);
}

std::optional<Error> validate(Bye& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_id(m.worker_id, "worker_id");
}

std::optional<Error> validate(CancelJob& m, const Limits& /*limits*/) { return check_id(m.job_id, "job_id"); }

}  // namespace qg::proto::detail

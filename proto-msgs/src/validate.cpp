// Value rules of requests (the ranges written beside the fields in messages.hpp and listed
// in docs/protocol.md). Lengths over a limit are TOO_LARGE; empty values, bad characters,
// numbers out of range and wrong enum values are INVALID_FIELD; both name the field. The rules
// of single ids and paths are in field_rules.cpp; this file says which field gets which.

#include "validate.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/field_rules.hpp"

namespace qg::proto::detail {
namespace {
constexpr std::int64_t kMaxInstallMs = 86'400'000;  // REPORT install_ms: a day

using Result = std::optional<Error>;

Error invalid(std::string field, std::string message) {
  return Error{std::string(errc::invalid_field), std::move(message), std::move(field)};
}
Error too_large(std::string field, std::string message) {
  return Error{std::string(errc::too_large), std::move(message), std::move(field)};
}
Error missing(std::string field, std::string message) {
  return Error{std::string(errc::missing_field), std::move(message), std::move(field)};
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
  if (auto e = check_idempotency_key(m.idempotency_key)) return e;
  if (m.retries > kMaxRetries) return invalid("retries", "must be 0.." + std::to_string(kMaxRetries));
  if (m.max_attempts > kMaxAttempts) {
    return invalid("max_attempts", "must be 0.." + std::to_string(kMaxAttempts) + " (0 = broker default)");
  }
  if (m.requirements) {
    if (auto e = check_requirements(*m.requirements)) return e;
    if (m.requirements->empty()) m.requirements.reset();  // none: as if absent
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

std::optional<Error> validate(WorkersRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (!m.unquarantine.empty()) return check_id(m.unquarantine, "unquarantine");
  return std::nullopt;
}
std::optional<Error> validate(DrainWorkerRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_id(m.worker_id, "worker_id");
}
std::optional<Error> validate(ForgetWorkerRequest& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  return check_id(m.worker_id, "worker_id");
}
std::optional<Error> validate(HealthRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }
std::optional<Error> validate(StatsRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }
std::optional<Error> validate(EventsTopicRequest& m, const Limits& /*limits*/) { return check_rid(m.rid); }

std::optional<Error> validate(Hello& m, const Limits& /*limits*/) {
  if (auto e = check_rid(m.rid)) return e;
  if (auto e = check_id(m.worker_id, "worker_id")) return e;
  if (auto e = check_device_id(m.device_id)) return e;
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
  if (m.install_ms && (*m.install_ms < 0 || *m.install_ms > kMaxInstallMs)) {
    return invalid("install_ms", "must be 0 to 86400000 (a day)");
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
  if (auto e = check_device_id(m.device_id)) return e;
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

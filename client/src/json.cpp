// Protocol records as JSON through nlohmann::json; the contract is in qg/client/json.hpp.
#include "qg/client/json.hpp"

namespace qg::client {

namespace {

// Compact, UTF-8 kept as it is (ensure_ascii off), invalid UTF-8 replaced instead of throwing.
std::string dump_compact(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string dump_json(const Json& doc) { return dump_compact(doc); }

std::string json_escape(std::string_view text) {
  auto quoted = dump_compact(Json(std::string(text)));
  return quoted.substr(1, quoted.size() - 2);
}

Json job_json(const proto::Job& j) {
  Json o = Json::object();
  o["id"] = j.id;
  o["org_id"] = j.org_id;
  o["app_version_id"] = j.app_version_id;
  o["test_path"] = j.test_path;
  o["priority"] = proto::to_string(j.priority);
  o["target"] = proto::to_string(j.target);
  o["status"] = proto::to_string(j.status);
  o["attempt"] = j.attempt;
  o["max_attempts"] = j.max_attempts;
  o["retries"] = j.retries;
  o["created_at_ms"] = j.created_at_ms;
  o["updated_at_ms"] = j.updated_at_ms;
  o["submission_id"] = j.submission_id;
  o["worker_id"] = j.worker_id;
  o["lease_id"] = j.lease_id;
  o["exit_code"] = j.exit_code;
  o["duration_ms"] = j.duration_ms;
  o["last_error"] = j.last_error;
  o["log_tail"] = j.log_tail;
  o["flaky"] = j.flaky;
  if (j.requirements) o["requires"] = *j.requirements;
  return o;
}

Json jobs_json(const std::vector<proto::Job>& jobs) {
  Json a = Json::array();
  for (const auto& j : jobs) a.push_back(job_json(j));
  return a;
}

namespace {
// A count map as a JSON object ({} when empty, never null).
Json count_object(const std::map<std::string, std::uint64_t>& m) {
  Json o = Json::object();
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}
}  // namespace

Json farm_stat_json(const proto::FarmStat& f) {
  return Json{{"org_id", f.org_id},
              {"target", std::string(proto::to_string(f.target))},
              {"window", f.window},
              {"by_status", count_object(f.by_status)},
              {"finished", f.finished},
              {"success_rate", f.success_rate},
              {"test_p50_ms", f.test_p50_ms},
              {"test_p95_ms", f.test_p95_ms},
              {"tests_run", f.tests_run},
              {"installs", f.installs},
              {"install_p50_ms", f.install_p50_ms},
              {"tests_per_install", f.tests_per_install},
              {"oldest_queued_ms", f.oldest_queued_ms}};
}

Json stats_json(const proto::StatsReply& r) {
  Json farm = Json::array();
  for (const auto& f : r.farm) farm.push_back(farm_stat_json(f));
  return Json{{"by_status", count_object(r.by_status)},
              {"by_org", count_object(r.by_org)},
              {"jobs_per_sec", r.jobs_per_sec},
              {"rejected_requests", r.rejected_requests},
              {"farm", std::move(farm)}};
}

}  // namespace qg::client

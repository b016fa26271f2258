// Protocol replies as JSON; the contract is in reply_json.hpp.
#include "reply_json.hpp"

#include "qg/client/json.hpp"

namespace qg::gateway {

namespace {

template <class Map>
Json counts(const Map& m) {
  Json o = Json::object();
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

}  // namespace

Json to_json(const proto::Job& j) { return client::job_json(j); }

Json to_json(const proto::SubmitReply& r) {
  return Json{{"submission_id", r.submission_id}, {"job_ids", r.job_ids}, {"duplicate", r.duplicate}};
}

Json to_json(const proto::ListReply& r) {
  return Json{{"jobs", client::jobs_json(r.jobs)}, {"next_cursor", r.next_cursor}};
}

Json to_json(const proto::CancelReply& r) {
  Json results = Json::array();
  for (const auto& c : r.results) {
    results.push_back({{"job_id", c.job_id}, {"outcome", c.outcome}, {"status", proto::to_string(c.status)}});
  }
  return Json{{"results", results}};
}

Json to_json(const proto::RetryReply& r) { return Json{{"job_id", r.job_id}, {"status", proto::to_string(r.status)}}; }

Json to_json(const proto::GroupInfo& g) {
  return Json{{"key", g.key},
              {"org_id", g.org_id},
              {"app_version_id", g.app_version_id},
              {"target", proto::to_string(g.target)},
              {"depth", g.depth},
              {"highest_priority", proto::to_string(g.highest_priority)},
              {"oldest_age_ms", g.oldest_age_ms},
              {"claimable", g.claimable}};
}

Json to_json(const proto::QueueReply& r) {
  Json groups = Json::array();
  for (const auto& g : r.groups) groups.push_back(to_json(g));
  return Json{{"groups", groups},
              {"by_status", counts(r.by_status)},
              {"by_priority", counts(r.by_priority)},
              {"next_cursor", r.next_cursor}};
}

Json to_json(const proto::WorkerInfo& w) {
  Json targets = Json::array();
  for (auto t : w.targets) targets.push_back(proto::to_string(t));
  return Json{{"worker_id", w.worker_id},   {"device_id", w.device_id},      {"targets", targets},
              {"labels", counts(w.labels)}, {"installed", w.installed},      {"state", w.state},
              {"group_key", w.group_key},   {"last_seen_ms", w.last_seen_ms}};
}

Json to_json(const proto::WorkersReply& r) {
  Json workers = Json::array();
  for (const auto& w : r.workers) workers.push_back(to_json(w));
  return Json{{"workers", workers}};
}

Json to_json(const proto::HealthReply& r) {
  return Json{{"ok", r.ok},
              {"store", r.store},
              {"store_reachable", r.store_reachable},
              {"version", r.version},
              {"protocol", r.protocol},
              {"uptime_ms", r.uptime_ms},
              {"queue_depth", r.queue_depth},
              {"broker_id", r.broker_id},
              {"detail", r.detail}};
}

Json to_json(const proto::FarmStat& f) { return client::farm_stat_json(f); }

Json to_json(const proto::StatsReply& r) { return client::stats_json(r); }

}  // namespace qg::gateway

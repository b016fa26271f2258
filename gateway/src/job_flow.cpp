// Figures from the event stream; the contract is in job_flow.hpp.
#include "job_flow.hpp"

namespace qg::gateway {

namespace {

using proto::JobStatus;

double seconds_between(std::int64_t from_ms, std::int64_t to_ms) {
  return to_ms > from_ms ? static_cast<double>(to_ms - from_ms) / 1000.0 : 0.0;
}

}  // namespace

JobFlow::PerTarget& JobFlow::target(const std::string& name) { return targets_[name]; }

template <class Map>
void JobFlow::bound(Map& m) {
  if (m.size() < kMaxTracked) return;
  // No order is kept; dropping half at once keeps the cost per event constant on average.
  std::size_t drop = m.size() / 2;
  forgotten_ += drop;
  for (auto it = m.begin(); it != m.end() && drop > 0; --drop) it = m.erase(it);
}

void JobFlow::observe(const proto::JobEvent& e) {
  const std::string target_name = e.target ? std::string(proto::to_string(*e.target)) : "unknown";
  const std::string build = e.org_id + "/" + e.app_version_id;
  std::lock_guard lock(mutex_);
  switch (e.status) {
    case JobStatus::queued:
      if (e.attempt <= 1 && !queued_at_.contains(e.job_id)) {
        bound(queued_at_);
        queued_at_.emplace(e.job_id, e.at_ms);
        ++submitted_[{e.org_id, target_name}];
      }
      break;
    case JobStatus::assigned:
    case JobStatus::installing:
      if (!e.worker_id.empty()) {
        auto& s = sessions_[e.worker_id];
        if (s.build != build) s = Session{build, e.at_ms, false};
        bound(sessions_);
      }
      break;
    case JobStatus::running: {
      auto& t = target(target_name);
      ++t.tests_started;
      if (auto q = queued_at_.find(e.job_id); q != queued_at_.end()) {
        t.wait_seconds.observe(seconds_between(q->second, e.at_ms));
        queued_at_.erase(q);
      }
      bound(running_at_);
      running_at_[e.job_id] = e.at_ms;
      if (!e.worker_id.empty()) {
        auto& s = sessions_[e.worker_id];
        if (s.build != build) s = Session{build, e.at_ms, false};
        if (!s.installed) {
          s.installed = true;
          ++t.installs;
          t.install_seconds.observe(seconds_between(s.claimed_ms, e.at_ms));
        }
      }
      break;
    }
    default:
      if (!proto::is_final(e.status)) break;
      bound(final_seen_);
      if (!final_seen_.insert(e.job_id + "/" + std::to_string(e.attempt)).second) break;
      ++finished_[{e.org_id, target_name, std::string(proto::to_string(e.status))}];
      queued_at_.erase(e.job_id);
      if (auto r = running_at_.find(e.job_id); r != running_at_.end()) {
        target(target_name).test_seconds.observe(seconds_between(r->second, e.at_ms));
        running_at_.erase(r);
      }
  }
}

void JobFlow::observe(const proto::WorkerEvent& e) {
  if (e.state != "lost" && e.state != "left") return;
  std::lock_guard lock(mutex_);
  sessions_.erase(e.worker_id);  // a device that comes back installs again
}

void JobFlow::write(PromText& out) const {
  std::lock_guard lock(mutex_);
  out.family("qg_jobs_submitted_total", "counter", "Jobs submitted (first queued event), by org and target.");
  for (const auto& [k, n] : submitted_) {
    out.sample("qg_jobs_submitted_total", {{"org_id", k.first}, {"target", k.second}}, static_cast<double>(n));
  }
  out.family("qg_jobs_finished_total", "counter", "Jobs that reached a final status, by org, target and status.");
  for (const auto& [k, n] : finished_) {
    out.sample("qg_jobs_finished_total",
               {{"org_id", std::get<0>(k)}, {"target", std::get<1>(k)}, {"status", std::get<2>(k)}},
               static_cast<double>(n));
  }
  out.family("qg_test_duration_seconds", "histogram", "A test's run time (running to final event), by target.");
  for (const auto& [t, p] : targets_)
    out.histogram("qg_test_duration_seconds", {{"target", t}}, p.test_seconds.snapshot());
  out.family("qg_install_duration_seconds", "histogram",
             "A device's install of a build (claimed to its first test running), by target.");
  for (const auto& [t, p] : targets_) {
    out.histogram("qg_install_duration_seconds", {{"target", t}}, p.install_seconds.snapshot());
  }
  out.family("qg_job_wait_seconds", "histogram", "Submit to start: a job's first queued event to running, by target.");
  for (const auto& [t, p] : targets_) out.histogram("qg_job_wait_seconds", {{"target", t}}, p.wait_seconds.snapshot());
  out.family("qg_installs_total", "counter", "Builds installed on a device (one per device and build claimed).");
  for (const auto& [t, p] : targets_) out.sample("qg_installs_total", {{"target", t}}, static_cast<double>(p.installs));
  out.family("qg_tests_started_total", "counter", "Tests started; divided by qg_installs_total: tests per install.");
  for (const auto& [t, p] : targets_) {
    out.sample("qg_tests_started_total", {{"target", t}}, static_cast<double>(p.tests_started));
  }
  out.family("qg_tests_per_install", "gauge", "Tests started per install since the gateway started, by target.");
  for (const auto& [t, p] : targets_) {
    if (p.installs > 0) {
      out.sample("qg_tests_per_install", {{"target", t}},
                 static_cast<double>(p.tests_started) / static_cast<double>(p.installs));
    }
  }
  out.family("qg_gateway_flow_forgotten_total", "counter",
             "Jobs or devices whose pending event pairing was dropped to stay within bounds.");
  out.sample("qg_gateway_flow_forgotten_total", {}, static_cast<double>(forgotten_));
}

}  // namespace qg::gateway

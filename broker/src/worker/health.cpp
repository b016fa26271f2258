// Device health as the broker tells it: the store quarantines a worker whose groups keep
// failing (report.lua, memory/health.cpp) and probes it after a cooldown; the broker
// publishes each change as a WORKER event, logs it, and shows it in WORKERS.
#include <map>
#include <string>
#include <vector>

#include "qg/common/errors.hpp"
#include "routing.hpp"

namespace qg::broker {

void Broker::note_worker_health(std::int64_t now) {
  std::map<std::string, std::int64_t> now_quarantined;
  try {
    now_quarantined = store().quarantined();
  } catch (const Error& e) {
    // Told with the next failure or probe; nothing decides a job's fate here.
    log_->warn("could not read the quarantined workers: {}", e.what());
    return;
  }
  for (const auto& [worker, probe_ms] : now_quarantined) {
    if (quarantined_.contains(worker)) continue;
    log_->warn(
        "worker {} quarantined: its last groups failed with infrastructure errors; it gets no work and is "
        "probed with one job in {} s (`qgjob workers unquarantine {}` ends it now)",
        worker, std::max<std::int64_t>(0, probe_ms - now) / 1000, worker);
    publish_worker_health(worker, "quarantined", now);
  }
  for (const auto& worker : quarantined_) {
    if (now_quarantined.contains(worker)) continue;
    log_->info("worker {} healthy again: its probe ran a test", worker);
    publish_worker_health(worker, "healthy", now);
  }
  quarantined_.clear();
  for (const auto& [worker, probe_ms] : now_quarantined) quarantined_.insert(worker);
}

void Broker::publish_worker_health(const std::string& worker_id, const std::string& state, std::int64_t now) {
  if (state == "healthy") quarantined_.erase(worker_id);
  proto::WorkerEvent event;
  event.worker_id = worker_id;
  event.state = state;
  event.at_ms = now;
  events_->worker(std::move(event));
}

void Broker::show_quarantines(std::vector<proto::WorkerInfo>& workers) {
  const auto now_quarantined = store().quarantined();
  if (now_quarantined.empty()) return;
  for (auto& worker : workers) {
    if (now_quarantined.contains(worker.worker_id)) worker.state = "quarantined";
  }
}

}  // namespace qg::broker

// MemoryJobStore's device health: infrastructure failures in a row per worker, quarantine,
// probes and their end (as the Redis store's <p>whealth and <p>quar).

#include "memory_job_store.hpp"

namespace qg::sched::memory {

std::map<std::string, std::int64_t> MemoryJobStore::quarantined() {
  std::lock_guard lock(mutex_);
  return quarantine_;
}

bool MemoryJobStore::unquarantine(const std::string& worker_id) {
  std::lock_guard lock(mutex_);
  health_.erase(worker_id);
  return quarantine_.erase(worker_id) > 0;
}

void MemoryJobStore::note_report_health(const std::string& worker_id, const std::string& lease_id, JobStatus status,
                                        std::int64_t now_ms) {
  if (settings_.quarantine_after == 0) return;
  if (status == JobStatus::error) {
    auto& h = health_[worker_id];
    if (h.last_lease == lease_id) return;  // the same group's other jobs: one failure
    h.last_lease = lease_id;
    if (++h.failures >= settings_.quarantine_after) {
      quarantine_[worker_id] = now_ms + settings_.quarantine_cooldown.count();
    }
  } else if (status != JobStatus::cancelled) {
    health_.erase(worker_id);
    quarantine_.erase(worker_id);
  }
}

std::optional<std::uint32_t> MemoryJobStore::claim_gate(const std::string& worker_id, std::int64_t now_ms) const {
  auto it = quarantine_.find(worker_id);
  if (it == quarantine_.end()) return 0;  // no limit of its own
  if (it->second > now_ms) return std::nullopt;
  return 1;
}

void MemoryJobStore::probe_claimed(const std::string& worker_id, std::int64_t now_ms) {
  if (auto it = quarantine_.find(worker_id); it != quarantine_.end()) {
    it->second = now_ms + settings_.quarantine_cooldown.count();
  }
}

}  // namespace qg::sched::memory

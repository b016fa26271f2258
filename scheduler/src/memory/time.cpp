// MemoryJobStore's time-driven work: expired leases, groups and retries falling due, and when
// the next of them is due.

#include "memory_job_store.hpp"

namespace qg::sched::memory {

std::vector<ExpiredLease> MemoryJobStore::expire_leases(std::int64_t now_ms, std::size_t max) {
  std::lock_guard lock(mutex_);
  std::vector<ExpiredLease> out;
  while (out.size() < max && !lease_exp_.empty()) {
    auto [expiry, lease_id] = *lease_exp_.order().begin();
    if (expiry > now_ms) break;
    ExpiredLease expired;
    expired.lease_id = lease_id;
    auto lt = leases_.find(lease_id);
    if (lt != leases_.end()) {
      expired.worker_id = lt->second.worker_id;
      std::vector<std::string> ids = lt->second.jobs;
      for (const auto& id : ids) {
        auto jt = jobs_.find(id);
        if (jt == jobs_.end()) continue;
        JobRec& rec = jt->second;
        if (rec.job.lease_id != lease_id || proto::is_final(rec.job.status)) continue;
        rec.job.last_error = "lease expired";
        if (rec.cancel_requested) {
          finish(rec, JobStatus::cancelled, now_ms);
        } else if (rec.job.attempt >= rec.job.max_attempts) {
          make_dead(rec, now_ms);
        } else {
          requeue_later(rec, retry_due(rec, detail::backoff_delay(settings_.backoff, rec.job.attempt, rng_), now_ms),
                        now_ms);
        }
        expired.jobs.push_back(rec.job);
      }
      if (auto still = leases_.find(lease_id); still != leases_.end()) end_lease(still);
    }
    lease_exp_.remove(lease_id);
    out.push_back(std::move(expired));
  }
  return out;
}

std::size_t MemoryJobStore::promote_due(std::int64_t now_ms, std::size_t max) {
  std::lock_guard lock(mutex_);
  std::size_t moved = 0;
  while (moved < max && !pending_.empty()) {
    auto [due, g] = *pending_.order().begin();
    if (due > now_ms) break;
    pending_.remove(g);
    refresh_group(g, now_ms, true);
    ++moved;
  }
  while (moved < max && !delayed_.empty()) {
    auto [due, id] = *delayed_.order().begin();
    if (due > now_ms) break;
    delayed_.remove(id);
    JobRec& rec = jobs_.at(id);
    groups_[rec.group].add(id, detail::job_score(rec.job.priority, rec.job.created_at_ms));
    refresh_group(rec.group, now_ms, true);
    ++moved;
  }
  if (moved > 0) wake();
  return moved;
}

std::optional<std::int64_t> MemoryJobStore::next_due_ms() {
  std::lock_guard lock(mutex_);
  std::optional<std::int64_t> due;
  auto consider = [&](const SortedSet<std::int64_t>& set) {
    if (set.empty()) return;
    auto first = set.order().begin()->first;
    if (!due || first < *due) due = first;
  };
  consider(pending_);
  consider(delayed_);
  consider(lease_exp_);
  return due;
}

}  // namespace qg::sched::memory

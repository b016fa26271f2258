// MemoryJobStore's cancellations and the retry of a dead job.

#include "memory_job_store.hpp"

namespace qg::sched::memory {

proto::CancelResult MemoryJobStore::cancel_job(const std::string& job_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  return cancel_locked(job_id, now_ms);
}

std::vector<proto::CancelResult> MemoryJobStore::cancel_build(const std::string& org_id,
                                                              const std::string& app_version_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::vector<proto::CancelResult> out;
  auto it = builds_.find(org_id + "/" + app_version_id);
  if (it == builds_.end()) return out;
  std::vector<std::string> ids(it->second.begin(), it->second.end());
  for (const auto& id : ids) out.push_back(cancel_locked(id, now_ms));
  return out;
}

proto::CancelResult MemoryJobStore::cancel_locked(const std::string& job_id, std::int64_t now_ms) {
  proto::CancelResult result;
  result.job_id = job_id;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    result.outcome = "not_found";
    return result;
  }
  JobRec& rec = it->second;
  if (proto::is_final(rec.job.status)) {
    result.outcome = "already_final";
    result.status = rec.job.status;
    return result;
  }
  if (rec.job.status == JobStatus::queued) {
    auto gt = groups_.find(rec.group);
    if (gt != groups_.end() && gt->second.remove(job_id)) refresh_group(rec.group, now_ms, false);
    delayed_.remove(job_id);
    finish(rec, JobStatus::cancelled, now_ms);
    result.outcome = "cancelled";
    result.status = JobStatus::cancelled;
    return result;
  }
  rec.cancel_requested = true;
  rec.job.updated_at_ms = now_ms;
  result.outcome = "cancel_requested";
  result.status = rec.job.status;
  return result;
}

std::optional<JobStatus> MemoryJobStore::retry_dead(const std::string& job_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  JobRec& rec = it->second;
  if (rec.job.status != JobStatus::dead) return rec.job.status;
  dead_.remove(job_id);
  rec.job.max_attempts = rec.job.attempt + rec.budget;
  set_status(rec, JobStatus::queued, now_ms);
  builds_[rec.job.org_id + "/" + rec.job.app_version_id].insert(job_id);
  groups_[rec.group].add(job_id, detail::job_score(rec.job.priority, rec.job.created_at_ms));
  refresh_group(rec.group, now_ms, true);
  wake();
  return JobStatus::queued;
}

}  // namespace qg::sched::memory

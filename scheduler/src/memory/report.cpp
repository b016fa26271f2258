// MemoryJobStore's transitions of the jobs a worker holds: reports, progress, lease renewal
// and release.

#include "memory_job_store.hpp"

namespace qg::sched::memory {

ReportOutcome MemoryJobStore::report(const proto::Report& r, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  ReportOutcome out;
  auto it = jobs_.find(r.job_id);
  if (it == jobs_.end()) {
    out.reason = "not_found";
    return out;
  }
  JobRec& rec = it->second;
  Job& j = rec.job;
  if (proto::is_final(j.status)) {
    out.reason = "already_final";
    return out;
  }
  // An attempt is over once the job is no longer held under any lease (the lease expired, or
  // the job was released), whether or not the job has been claimed again since.
  if (j.attempt != r.attempt || j.lease_id.empty()) {
    out.reason = "stale_attempt";
    return out;
  }
  // The lease must be this worker's: a report naming another worker's lease is not its to make.
  if (j.lease_id != r.lease_id || j.worker_id != r.worker_id) {
    out.reason = "lost_lease";
    return out;
  }
  if (!proto::is_final(r.status) || r.status == JobStatus::dead) {
    out.reason = "invalid_status";
    return out;
  }
  out.accepted = true;
  record_run(rec, r, now_ms);
  record_timing(rec, r, now_ms);
  note_report_health(r.worker_id, r.lease_id, r.status, now_ms);
  j.exit_code = r.exit_code;
  j.duration_ms = r.duration_ms;
  j.log_tail = r.log_tail;
  switch (r.status) {
    case JobStatus::passed:
      j.flaky = rec.test_failures > 0;
      j.last_error.clear();
      finish(rec, JobStatus::passed, now_ms);
      break;
    case JobStatus::failed:
    case JobStatus::timed_out:
      j.last_error = !r.error.empty()                   ? r.error
                     : r.status == JobStatus::timed_out ? "timed out"
                                                        : "exit code " + std::to_string(r.exit_code);
      rec.test_failures += 1;
      if (rec.cancel_requested) {
        finish(rec, JobStatus::cancelled, now_ms);
      } else if (rec.retries_used < j.retries) {
        rec.retries_used += 1;
        requeue_now(rec, now_ms);
        out.requeued = true;
      } else {
        finish(rec, r.status, now_ms);
      }
      break;
    case JobStatus::error:
      j.last_error = r.error.empty() ? "infrastructure error" : r.error;
      if (rec.cancel_requested) {
        finish(rec, JobStatus::cancelled, now_ms);
      } else if (j.attempt < j.max_attempts) {
        requeue_later(rec, retry_due(rec, detail::backoff_delay(settings_.backoff, j.attempt, rng_), now_ms), now_ms);
        out.requeued = true;
      } else {
        make_dead(rec, now_ms);
      }
      break;
    default:
      finish(rec, JobStatus::cancelled, now_ms);
      break;
  }
  out.job = j;
  return out;
}

bool MemoryJobStore::progress(const proto::Progress& p, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(p.job_id);
  if (it == jobs_.end()) return false;
  JobRec& rec = it->second;
  if (proto::is_final(rec.job.status) || rec.job.attempt != p.attempt || rec.job.lease_id.empty() ||
      rec.job.lease_id != p.lease_id || rec.job.worker_id != p.worker_id) {
    return false;
  }
  // Back to assigned only from installing: the group's install finished, the job waits its turn.
  const bool waits_again = p.status == JobStatus::assigned && rec.job.status == JobStatus::installing;
  if (p.status != JobStatus::installing && p.status != JobStatus::running && !waits_again) return false;
  set_status(rec, p.status, now_ms);
  return true;
}

bool MemoryJobStore::renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = leases_.find(lease_id);
  if (it == leases_.end() || it->second.worker_id != worker_id) return false;
  lease_exp_.add(lease_id, now_ms + settings_.lease.count());
  return true;
}

std::uint32_t MemoryJobStore::release(const std::string& worker_id, const std::string& lease_id,
                                      std::span<const std::string> job_ids, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = leases_.find(lease_id);
  if (it == leases_.end() || it->second.worker_id != worker_id) return 0;
  std::uint32_t released = 0;
  for (const auto& id : job_ids) {
    auto jt = jobs_.find(id);
    if (jt == jobs_.end()) continue;
    JobRec& rec = jt->second;
    if (rec.job.lease_id != lease_id) continue;
    if (rec.job.status != JobStatus::assigned && rec.job.status != JobStatus::installing) continue;
    requeue_now(rec, now_ms);
    ++released;
  }
  return released;
}

}  // namespace qg::sched::memory

// MemoryJobStore's farm statistics: buckets filled as reports arrive and jobs finish.

#include "memory_job_store.hpp"

namespace qg::sched::memory {

void MemoryJobStore::record_final(const JobRec& rec, JobStatus status, std::int64_t now_ms) {
  farm::Tally t;
  t.by_status[std::string(proto::to_string(status))] = 1;
  farm_.add(farm::tally_key(rec.job.org_id, rec.job.target), t, now_ms);
}

void MemoryJobStore::record_run(const JobRec& rec, const proto::Report& report, std::int64_t now_ms) {
  farm_.add(farm::tally_key(rec.job.org_id, rec.job.target), farm::run_tally(report), now_ms);
}

farm::Windows MemoryJobStore::farm_tallies(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  return farm_.windows(now_ms);
}

}  // namespace qg::sched::memory

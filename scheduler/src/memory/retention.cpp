// MemoryJobStore's retention: jobs past their retention deleted with every entry naming them,
// as the Redis store's sweep does, in batches of the caller's size.

#include "memory_job_store.hpp"

namespace qg::sched::memory {

JobStore::Sweep MemoryJobStore::sweep_retention(std::int64_t now_ms, std::size_t max) {
  std::lock_guard lock(mutex_);
  Sweep out;
  std::vector<std::string> due;
  auto collect = [&](SortedSet<std::int64_t>& set, const std::optional<std::chrono::milliseconds>& keep) {
    if (!keep) return;
    for (const auto& [at, id] : set.order()) {
      if (due.size() >= max || at > now_ms - keep->count()) break;
      due.push_back(id);
    }
  };
  collect(done_, settings_.retention);
  const std::size_t finished = due.size();
  collect(dead_, settings_.dead_retention);
  for (std::size_t i = 0; i < due.size(); ++i) {
    (i < finished ? done_ : dead_).remove(due[i]);
    if (jobs_.contains(due[i]) && proto::is_final(jobs_.at(due[i]).job.status)) {
      erase_job(due[i]);
      ++out.deleted;
    }
  }
  out.more = max > 0 && due.size() >= max;
  // The finished-per-second counts stats() reads cover its last minute.
  for (auto it = fin_.begin(); it != fin_.end() && it->first < now_ms / 1000 - 120;) it = fin_.erase(it);
  return out;
}

void MemoryJobStore::erase_job(const std::string& id) {
  auto it = jobs_.find(id);
  const JobRec& rec = it->second;
  const Job& j = rec.job;
  counts_[std::string(proto::to_string(j.status))] -= 1;
  const std::string member = detail::index_member(j.created_at_ms, j.id);
  idx_all_.erase(member);
  auto drop = [&](auto& map, const std::string& key) {
    auto mt = map.find(key);
    if (mt == map.end()) return;
    mt->second.erase(member);
    if (mt->second.empty()) map.erase(mt);
  };
  drop(idx_org_, j.org_id);
  drop(idx_app_, j.org_id + "/" + j.app_version_id);
  if (auto st = sub_jobs_.find(j.submission_id); st != sub_jobs_.end() && --st->second == 0) {
    sub_jobs_.erase(st);
    subs_.erase(j.submission_id);
    if (!rec.idem.empty()) idem_.erase(rec.idem);
  }
  jobs_.erase(it);
}

std::optional<std::chrono::milliseconds> MemoryJobStore::retention() {
  const auto& a = settings_.retention;
  const auto& b = settings_.dead_retention;
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

}  // namespace qg::sched::memory

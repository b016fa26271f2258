// MemoryJobStore's timing history (qg/scheduler/timing_history.hpp) and what the broker's
// estimates read of the queues (ready groups, a group's queued jobs).

#include <algorithm>

#include "memory_job_store.hpp"

namespace qg::sched::memory {

void MemoryJobStore::record_timing(const JobRec& rec, const proto::Report& r, std::int64_t now_ms) {
  if (settings_.timing_history_fields == 0) return;
  const Job& j = rec.job;
  const bool ran = r.status == JobStatus::passed || r.status == JobStatus::failed || r.status == JobStatus::timed_out;
  if (!ran && !r.install_ms) return;
  auto& fields = timing_[j.org_id];
  // The whole history expires after the retention of finished jobs without a write (Redis:
  // the hash's PEXPIRE), so a lapsed org starts afresh.
  if (settings_.retention && !fields.empty()) {
    const bool lapsed = std::ranges::all_of(
        fields, [&](const auto& f) { return timing::expired(f.second, now_ms, settings_.retention); });
    if (lapsed) fields.clear();
  }
  auto add = [&](const std::string& field, std::int64_t sample) {
    auto it = fields.find(field);
    std::optional<timing::Summary> before;
    if (it != fields.end() && !timing::expired(it->second, now_ms, settings_.retention)) before = it->second;
    fields[field] = timing::update(before, sample, now_ms, timing::mean_span(field));
  };
  if (ran) {
    add(timing::test_field(j.target, j.test_path), r.duration_ms);
    add(timing::tests_field(j.target), r.duration_ms);
  }
  if (r.install_ms) {
    add(timing::install_field(j.app_version_id, r.worker_id), *r.install_ms);
    add(timing::build_install_field(j.target, j.app_version_id), *r.install_ms);
    add(timing::installs_field(j.target), *r.install_ms);
  }
  // Past the bound: the fields written longest ago go (by name among equals), never one
  // written just now while an older one is left.
  while (fields.size() > settings_.timing_history_fields) {
    auto oldest = std::ranges::min_element(fields, [](const auto& a, const auto& b) {
      return a.second.seen_s != b.second.seen_s ? a.second.seen_s < b.second.seen_s : a.first < b.first;
    });
    fields.erase(oldest);
  }
}

std::vector<std::optional<timing::Summary>> MemoryJobStore::timing(std::span<const timing::Key> keys,
                                                                   std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::vector<std::optional<timing::Summary>> out;
  out.reserve(keys.size());
  for (const auto& key : keys) {
    auto& found = out.emplace_back();
    auto org = timing_.find(key.org_id);
    if (org == timing_.end()) continue;
    auto it = org->second.find(key.field);
    if (it != org->second.end() && !timing::expired(it->second, now_ms, settings_.retention)) found = it->second;
  }
  return out;
}

std::size_t MemoryJobStore::timing_fields(const std::string& org_id) {
  std::lock_guard lock(mutex_);
  auto org = timing_.find(org_id);
  return org == timing_.end() ? 0 : org->second.size();
}

std::vector<JobStore::ReadyGroup> MemoryJobStore::ready_groups(proto::Target target, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<ReadyGroup> out;
  for (const auto& [rank, g] : plain_ready_[target_index(target)].groups.order()) {
    if (out.size() >= limit) break;
    auto it = groups_.find(g);
    out.push_back({g, it == groups_.end() ? 0 : it->second.size()});
  }
  return out;
}

std::vector<std::string> MemoryJobStore::group_queue(const std::string& group_key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  auto it = groups_.find(group_key);
  if (it == groups_.end()) return out;
  for (const auto& [score, id] : it->second.order()) {
    if (out.size() >= limit) break;
    out.push_back(id);
  }
  return out;
}

std::vector<std::uint64_t> MemoryJobStore::lease_jobs_left(std::span<const std::string> lease_ids) {
  std::lock_guard lock(mutex_);
  std::vector<std::uint64_t> out;
  out.reserve(lease_ids.size());
  for (const auto& id : lease_ids) {
    auto it = leases_.find(id);
    out.push_back(it == leases_.end() ? 0 : it->second.jobs.size());
  }
  return out;
}

}  // namespace qg::sched::memory

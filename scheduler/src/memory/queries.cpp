// MemoryJobStore's reads: jobs by id, the list indexes, the queue and stats views.

#include <cstdlib>

#include "memory_job_store.hpp"

namespace qg::sched::memory {

std::vector<std::optional<Job>> MemoryJobStore::get(std::span<const std::string> job_ids) {
  std::lock_guard lock(mutex_);
  return load(job_ids);
}

ListPage MemoryJobStore::list(const ListQuery& q) {
  std::lock_guard lock(mutex_);
  static const std::set<std::string> kEmpty;
  const std::set<std::string>* index = &idx_all_;
  auto choice = detail::choose_index(q);
  if (choice.kind == detail::IndexChoice::app) {
    auto it = idx_app_.find(q.org_id + "/" + q.app_version_id);
    index = it == idx_app_.end() ? &kEmpty : &it->second;
  } else if (choice.kind == detail::IndexChoice::org) {
    auto it = idx_org_.find(q.org_id);
    index = it == idx_org_.end() ? &kEmpty : &it->second;
  }
  auto fetch = [&](const std::string& after, std::size_t n) {
    std::vector<std::string> out;
    auto it = after.empty() ? index->end() : index->lower_bound(after);
    while (it != index->begin() && out.size() < n) {
      --it;
      out.push_back(*it);
    }
    return out;
  };
  auto loader = [&](const std::vector<std::string>& ids) { return load(ids); };
  return detail::page_index(q, fetch, loader);
}

std::vector<std::optional<Job>> MemoryJobStore::load(std::span<const std::string> ids) const {
  std::vector<std::optional<Job>> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto it = jobs_.find(id);
    out.push_back(it == jobs_.end() ? std::nullopt : std::optional<Job>(it->second.job));
  }
  return out;
}

QueuePage MemoryJobStore::queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  QueuePage page;
  limit = std::clamp<std::uint32_t>(limit, 1, 1000);
  int phase = 0;
  std::size_t offset = 0;
  if (!cursor.empty()) {
    auto colon = cursor.find(':');
    if (colon != std::string::npos) {
      phase = std::atoi(cursor.substr(0, colon).c_str());
      offset = static_cast<std::size_t>(std::strtoull(cursor.c_str() + colon + 1, nullptr, 10));
    }
    phase = std::max(phase, 0);
  }
  // The ready sets of the plain targets, then those of placements with requirements (per
  // target, in name order), then pending: as the Redis store pages them.
  std::vector<const SortedSet<double>*> sets;
  for (const auto& plain : plain_ready_) sets.push_back(&plain.groups);
  for (const auto& of_target : req_ready_) {
    for (const auto& [placement, ready] : of_target) sets.push_back(&ready.groups);
  }
  const int pending_phase = static_cast<int>(sets.size());
  for (; phase <= pending_phase; ++phase, offset = 0) {
    std::vector<std::string> keys;
    auto collect = [&](const auto& set) {
      std::size_t i = 0;
      for (const auto& entry : set.order()) {
        if (i++ < offset) continue;
        if (keys.size() >= limit - page.groups.size()) break;
        keys.push_back(entry.second);
      }
    };
    if (phase < pending_phase) {
      collect(*sets[static_cast<std::size_t>(phase)]);
    } else {
      collect(pending_);
    }
    for (const auto& key : keys) page.groups.push_back(group_info(key, phase < pending_phase, now_ms));
    if (page.groups.size() >= limit) {
      page.next_cursor = std::to_string(phase) + ":" + std::to_string(offset + keys.size());
      break;
    }
  }
  for (const auto& [k, v] : counts_) {
    if (v > 0) page.by_status[k] = static_cast<std::uint64_t>(v);
  }
  for (const auto& [k, v] : qprio_) {
    if (v > 0) page.by_priority[k] = static_cast<std::uint64_t>(v);
  }
  return page;
}

proto::GroupInfo MemoryJobStore::group_info(const std::string& g, bool claimable, std::int64_t now_ms) {
  proto::GroupInfo info;
  auto parts = detail::split_group_key(g);
  info.key = g;
  info.org_id = parts.org_id;
  info.app_version_id = parts.app_version_id;
  info.target = parts.target;
  info.requirements = detail::requirements_field(parts.placement);
  info.claimable = claimable;
  const auto& group = groups_[g];
  info.depth = group.size();
  if (!group.empty()) {
    info.highest_priority = jobs_.at(group.order().begin()->second).job.priority;
    std::int64_t oldest = now_ms;
    for (const std::string* id : band_heads(group)) {
      if (id != nullptr) oldest = std::min(oldest, jobs_.at(*id).job.created_at_ms);
    }
    info.oldest_age_ms = now_ms - oldest;
  }
  return info;
}

std::map<std::string, std::uint64_t> MemoryJobStore::queued_by_org() {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::uint64_t> out;
  for (const auto& [org, n] : orgq_) {
    if (n > 0) out[org] = static_cast<std::uint64_t>(n);
  }
  return out;
}

StatsSnapshot MemoryJobStore::stats(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  StatsSnapshot snap;
  for (const auto& [k, v] : counts_) {
    if (v > 0) snap.by_status[k] = static_cast<std::uint64_t>(v);
  }
  for (const auto& [k, v] : orgcounts_) {
    if (v > 0) snap.by_org[k] = static_cast<std::uint64_t>(v);
  }
  const std::int64_t sec = now_ms / 1000;
  std::uint64_t finished = 0;
  for (auto it = fin_.begin(); it != fin_.end();) {
    if (it->first <= sec - detail::kRateWindowSec) {
      it = fin_.erase(it);
      continue;
    }
    if (it->first <= sec) finished += it->second;
    ++it;
  }
  snap.jobs_per_sec = static_cast<double>(finished) / static_cast<double>(detail::kRateWindowSec);
  return snap;
}

std::uint64_t MemoryJobStore::queue_depth() {
  std::lock_guard lock(mutex_);
  auto it = counts_.find("queued");
  return it == counts_.end() || it->second < 0 ? 0 : static_cast<std::uint64_t>(it->second);
}

}  // namespace qg::sched::memory

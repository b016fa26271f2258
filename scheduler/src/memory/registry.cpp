// MemoryJobStore's registry of workers (live and departed) and of the processes that announce
// themselves. The same rules as the Redis store's registry.cpp.
#include <algorithm>

#include "memory_job_store.hpp"

namespace qg::sched::memory {

void MemoryJobStore::upsert_worker(const proto::WorkerInfo& worker) {
  std::lock_guard lock(mutex_);
  workers_[worker.worker_id] = worker;
  departed_.erase(worker.worker_id);
}

bool MemoryJobStore::retire_worker(const std::string& worker_id, std::string_view state) {
  std::lock_guard lock(mutex_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return false;
  it->second.state = std::string(state);
  departed_[worker_id] = std::move(it->second);
  workers_.erase(it);
  return true;
}

std::vector<proto::WorkerInfo> MemoryJobStore::workers() {
  std::lock_guard lock(mutex_);
  std::vector<proto::WorkerInfo> out;
  for (const auto& [id, w] : workers_) out.push_back(w);
  return out;
}

std::vector<proto::WorkerInfo> MemoryJobStore::departed_workers() {
  std::lock_guard lock(mutex_);
  std::vector<proto::WorkerInfo> out;
  for (const auto& [id, w] : departed_) out.push_back(w);
  return out;
}

std::vector<std::string> MemoryJobStore::sweep_workers(std::int64_t seen_before_ms, std::int64_t drop_before_ms) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> forgotten;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.last_seen_ms >= seen_before_ms) {
      ++it;
      continue;
    }
    forgotten.push_back(it->first);
    it->second.state = "forgotten";
    departed_[it->first] = std::move(it->second);
    it = workers_.erase(it);
  }
  std::erase_if(departed_, [&](const auto& entry) { return entry.second.last_seen_ms < drop_before_ms; });
  return forgotten;
}

void MemoryJobStore::announce(std::string_view kind, const proto::ProcessInfo& who, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto& entries = announced_[std::string(kind)];
  std::erase_if(entries, [&](const auto& entry) { return entry.second <= now_ms; });
  entries[detail::encode_process(who)] = who.expires_at_ms;
}

std::vector<proto::ProcessInfo> MemoryJobStore::announced(std::string_view kind, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::vector<proto::ProcessInfo> out;
  auto it = announced_.find(kind);
  if (it == announced_.end()) return out;
  for (const auto& [member, expires] : it->second) {
    proto::ProcessInfo p;
    if (expires <= now_ms || !detail::decode_process(member, p)) continue;
    p.expires_at_ms = expires;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace qg::sched::memory

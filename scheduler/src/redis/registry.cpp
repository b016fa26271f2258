// RedisJobStore's registry of workers and of the processes that announce themselves, and the
// store's memory against its limit. Keys (docs/architecture.md): `<p>workers` (live records),
// `<p>workers:departed` (left or forgotten), `<p>alive:<kind>` (a ZSET of announcements,
// score = expiry, the key itself expiring with the latest of them, so that it is gone once no
// process of that kind announces). None of these needs a script: each write is to one key
// or is repaired by the next (a record forgotten as its worker speaks again is written back
// by its broker within a second).
#include <algorithm>
#include <set>

#include "redis_job_store.hpp"

namespace qg::sched::redis {

namespace {

std::vector<proto::WorkerInfo> decode_workers(const RedisValue& values) {
  std::vector<proto::WorkerInfo> out;
  for (const auto& v : values.array()) {
    proto::WorkerInfo w;
    if (detail::decode_worker(v.str(), w)) out.push_back(std::move(w));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.worker_id < b.worker_id; });
  return out;
}

// The value of `name` in INFO's "name:value" lines; 0 when absent.
std::uint64_t info_field(const std::string& info, std::string_view name) {
  const std::string key = "\n" + std::string(name) + ":";
  auto at = ("\n" + info).find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(info.c_str() + at + key.size() - 1, nullptr, 10);
}

}  // namespace

void RedisJobStore::upsert_worker(const proto::WorkerInfo& worker) {
  auto replies = conn_.pipeline({{"HSET", prefix_ + "workers", worker.worker_id, detail::encode_worker(worker)},
                                 {"HDEL", prefix_ + "workers:departed", worker.worker_id}});
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
  }
}

bool RedisJobStore::retire_worker(const std::string& worker_id, std::string_view state) {
  auto current = conn_.command({"HGET", prefix_ + "workers", worker_id});
  if (current.is_nil()) return false;
  proto::WorkerInfo w;
  if (!detail::decode_worker(current.str(), w)) w.worker_id = worker_id;
  w.state = std::string(state);
  auto replies = conn_.pipeline({{"HSET", prefix_ + "workers:departed", worker_id, detail::encode_worker(w)},
                                 {"HDEL", prefix_ + "workers", worker_id}});
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
  }
  return true;
}

std::vector<proto::WorkerInfo> RedisJobStore::workers() {
  return decode_workers(conn_.command({"HVALS", prefix_ + "workers"}));
}

std::vector<proto::WorkerInfo> RedisJobStore::departed_workers() {
  return decode_workers(conn_.command({"HVALS", prefix_ + "workers:departed"}));
}

std::vector<std::string> RedisJobStore::sweep_workers(std::int64_t seen_before_ms, std::int64_t drop_before_ms) {
  std::vector<std::string> forgotten;
  std::vector<std::vector<std::string>> writes;
  for (auto& w : workers()) {
    if (w.last_seen_ms >= seen_before_ms) continue;
    forgotten.push_back(w.worker_id);
    w.state = "forgotten";
    writes.push_back({"HSET", prefix_ + "workers:departed", w.worker_id, detail::encode_worker(w)});
    writes.push_back({"HDEL", prefix_ + "workers", w.worker_id});
  }
  std::vector<std::string> dropped = {"HDEL", prefix_ + "workers:departed"};
  for (const auto& w : departed_workers()) {
    if (w.last_seen_ms < drop_before_ms) dropped.push_back(w.worker_id);
  }
  if (dropped.size() > 2) writes.push_back(std::move(dropped));
  if (writes.empty()) return forgotten;
  for (const auto& r : conn_.pipeline(writes)) {
    if (r.is_error()) throw_reply_error(r.str());
  }
  return forgotten;
}

void RedisJobStore::announce(std::string_view kind, const proto::ProcessInfo& who, std::int64_t now_ms) {
  const auto key = prefix_ + "alive:" + std::string(kind);
  const auto expires = std::to_string(who.expires_at_ms);
  auto replies =
      conn_.pipeline({{"ZADD", key, expires, detail::encode_process(who)},
                      {"ZREMRANGEBYSCORE", key, "-inf", std::to_string(now_ms)},
                      {"PEXPIRE", key, std::to_string(std::max<std::int64_t>(who.expires_at_ms - now_ms, 1))}});
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
  }
}

std::vector<proto::ProcessInfo> RedisJobStore::announced(std::string_view kind, std::int64_t now_ms) {
  auto reply = conn_.command(
      {"ZRANGEBYSCORE", prefix_ + "alive:" + std::string(kind), "(" + std::to_string(now_ms), "+inf", "WITHSCORES"});
  std::vector<proto::ProcessInfo> out;
  const auto& a = reply.array();
  for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
    proto::ProcessInfo p;
    if (!detail::decode_process(a[i].str(), p)) continue;
    p.expires_at_ms = to_i64(a[i + 1].str());
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<JobStore::MemoryUse> RedisJobStore::memory_use() {
  auto reply = conn_.command({"INFO", "memory"});
  MemoryUse use;
  use.used_bytes = info_field(reply.str(), "used_memory");
  use.max_bytes = info_field(reply.str(), "maxmemory");
  return use;
}

}  // namespace qg::sched::redis

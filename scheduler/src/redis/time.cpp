// RedisJobStore's time-driven work: groups and retries falling due (kPromote), expired leases
// (kExpire), when the next of them is due, and the back-off delays the scripts are given.

#include "redis_job_store.hpp"

namespace qg::sched::redis {

std::size_t RedisJobStore::promote_due(std::int64_t now_ms, std::size_t max) {
  auto args = base(now_ms);
  args.push_back(std::to_string(max));
  return static_cast<std::size_t>(eval(kPromote, args).integer());
}

std::vector<ExpiredLease> RedisJobStore::expire_leases(std::int64_t now_ms, std::size_t max) {
  maybe_resubscribe();
  std::vector<ExpiredLease> out;
  if (max == 0) return out;
  auto due = conn_.command(
      {"ZRANGEBYSCORE", prefix_ + "leases", "-inf", std::to_string(now_ms), "LIMIT", "0", std::to_string(max)});
  for (const auto& lease : due.array()) {
    auto args = base(now_ms);
    args.push_back(lease.str());
    push_delays(args);
    auto reply = eval(kExpire, args);
    if (reply.is_nil()) continue;  // renewed, or another scheduler expired it first
    ExpiredLease expired;
    expired.lease_id = lease.str();
    expired.worker_id = reply[0].str();
    for (std::size_t i = 1; i + 1 < reply.size(); i += 2) {
      expired.jobs.push_back(job_from_row(reply[i], reply[i + 1]));
    }
    out.push_back(std::move(expired));
  }
  return out;
}

std::optional<std::int64_t> RedisJobStore::next_due_ms() {
  maybe_resubscribe();
  auto replies = conn_.pipeline({{"ZRANGE", prefix_ + "pending", "0", "0", "WITHSCORES"},
                                 {"ZRANGE", prefix_ + "delayed", "0", "0", "WITHSCORES"},
                                 {"ZRANGE", prefix_ + "leases", "0", "0", "WITHSCORES"}});
  std::optional<std::int64_t> due;
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
    if (r.size() < 2) continue;
    auto t = to_i64(r[1].str());
    if (!due || t < *due) due = t;
  }
  return due;
}

void RedisJobStore::push_delays(std::vector<std::string>& args) {
  for (auto d : detail::backoff_table(settings_.backoff, rng_)) args.push_back(std::to_string(d));
}

}  // namespace qg::sched::redis

// RedisJobStore's timing history (<p>th:<org>, a hash per org that kReport writes;
// qg/scheduler/timing_history.hpp) and what the broker's estimates read of the queues:
// a target's ready groups with their sizes, a group's queued jobs. Reads only.

#include <algorithm>

#include "redis_job_store.hpp"

namespace qg::sched::redis {
namespace {

constexpr std::string_view kBands[] = {"high", "medium", "low"};

}  // namespace

std::vector<std::optional<timing::Summary>> RedisJobStore::timing(std::span<const timing::Key> keys,
                                                                  std::int64_t now_ms) {
  std::vector<std::optional<timing::Summary>> out(keys.size());
  if (keys.empty()) return out;
  std::vector<std::vector<std::string>> commands;
  commands.reserve(keys.size());
  for (const auto& k : keys) commands.push_back({"HGET", prefix_ + "th:" + k.org_id, k.field});
  auto replies = conn_.pipeline(commands);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (replies.at(i).is_error()) throw_reply_error(replies[i].str());
    if (replies[i].is_nil()) continue;
    auto s = timing::decode(replies[i].str());
    if (s && !timing::expired(*s, now_ms, settings_.retention)) out[i] = *s;
  }
  return out;
}

std::size_t RedisJobStore::timing_fields(const std::string& org_id) {
  auto reply = conn_.command({"HLEN", prefix_ + "th:" + org_id});
  if (reply.is_error()) throw_reply_error(reply.str());
  return static_cast<std::size_t>(std::max<long long>(0, reply.integer()));
}

std::vector<JobStore::ReadyGroup> RedisJobStore::ready_groups(proto::Target target, std::size_t limit) {
  std::vector<ReadyGroup> out;
  if (limit == 0) return out;
  auto ranked = conn_.command(
      {"ZRANGE", prefix_ + "ready:" + std::string(proto::to_string(target)), "0", std::to_string(limit - 1)});
  if (ranked.is_error()) throw_reply_error(ranked.str());
  const auto& groups = ranked.array();
  if (groups.empty()) return out;
  // A group's queued jobs: its band lists' entries less those cancels left (<p>gx:<g>).
  std::vector<std::vector<std::string>> commands;
  commands.reserve(groups.size() * 4);
  for (const auto& g : groups) {
    for (auto band : kBands) commands.push_back({"LLEN", prefix_ + "q:" + g.str() + ":" + std::string(band)});
    commands.push_back({"GET", prefix_ + "gx:" + g.str()});
  }
  auto replies = conn_.pipeline(commands);
  out.reserve(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    long long n = 0;
    for (std::size_t b = 0; b < 3; ++b) {
      const auto& r = replies.at(4 * i + b);
      if (r.is_error()) throw_reply_error(r.str());
      n += r.integer();
    }
    const auto& gx = replies.at(4 * i + 3);
    if (!gx.is_nil()) n -= to_i64(gx.str());
    out.push_back({groups[i].str(), static_cast<std::uint64_t>(std::max<long long>(0, n))});
  }
  return out;
}

std::vector<std::string> RedisJobStore::group_queue(const std::string& group_key, std::size_t limit) {
  std::vector<std::string> out;
  if (limit == 0) return out;
  std::vector<std::vector<std::string>> commands;
  for (auto band : kBands) {
    commands.push_back(
        {"LRANGE", prefix_ + "q:" + group_key + ":" + std::string(band), "0", std::to_string(limit - 1)});
  }
  for (const auto& reply : conn_.pipeline(commands)) {
    if (reply.is_error()) throw_reply_error(reply.str());
    for (const auto& id : reply.array()) {
      if (out.size() >= limit) return out;
      out.push_back(id.str());
    }
  }
  return out;
}

std::vector<std::uint64_t> RedisJobStore::lease_jobs_left(std::span<const std::string> lease_ids) {
  std::vector<std::uint64_t> out(lease_ids.size(), 0);
  if (lease_ids.empty()) return out;
  std::vector<std::vector<std::string>> commands;
  commands.reserve(lease_ids.size());
  for (const auto& id : lease_ids) commands.push_back({"HGET", prefix_ + "lease:" + id, "n"});
  auto replies = conn_.pipeline(commands);
  for (std::size_t i = 0; i < lease_ids.size(); ++i) {
    if (replies.at(i).is_error()) throw_reply_error(replies[i].str());
    if (!replies[i].is_nil()) out[i] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, to_i64(replies[i].str())));
  }
  return out;
}

}  // namespace qg::sched::redis

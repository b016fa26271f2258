// RedisJobStore's claims (kClaim): their arguments, the state a never-claimed job gets, the
// reply, and the specs read after it.

#include "redis_job_store.hpp"

namespace qg::sched::redis {

std::optional<Claim> RedisJobStore::claim_group(const ClaimRequest& request, std::int64_t now_ms) {
  const std::string lease_id = lease_ids_.next(now_ms);
  std::vector<ClaimReply> replies;
  replies.push_back(parse_claim(eval(kClaim, claim_args(request, now_ms, lease_id)), lease_id));
  return std::move(read_specs(std::move(replies)).at(0));
}

std::vector<std::string> RedisJobStore::claim_args(const ClaimRequest& request, std::int64_t now_ms,
                                                   const std::string& lease_id) const {
  auto args = base(now_ms, 12 + request.targets.size() + request.installed.size() + request.labels.size());
  args.push_back(lease_id);
  args.push_back(request.worker_id);
  args.push_back(lease_arg_);
  args.push_back(affinity_slack_arg_);
  args.push_back(candidates_arg_);
  args.push_back(std::to_string(request.max_jobs));
  args.push_back(std::to_string(request.targets.size()));
  for (auto t : request.targets) args.emplace_back(proto::to_string(t));
  args.push_back(std::to_string(request.installed.size()));
  for (const auto& i : request.installed) args.push_back(i);
  args.push_back(assigned_state(now_ms, request.worker_id, lease_id));
  args.push_back(fair_share_arg_);
  args.push_back(settings_.quarantine_after > 0 ? quarantine_cooldown_arg_ : std::string());
  // The worker's labels, as the placements of groups with requirements spell them.
  args.push_back(std::to_string(request.labels.size()));
  for (auto& pair : detail::label_pairs(request.labels)) args.push_back(std::move(pair));
  return args;
}

// kClaim's fair-share argument: '' when fair share is off, else the msgpack of the slack (ms),
// the orgs' weights and the tiers of the orgs that are not standard.
std::string RedisJobStore::fair_share_arg(const StoreSettings& settings) {
  std::string out;
  if (settings.fair_share_slack.count() <= 0) return out;
  PackTo to{&out};
  msgpack::packer<PackTo> p(to);
  p.pack_int64(settings.fair_share_slack.count());
  p.pack_map(static_cast<std::uint32_t>(settings.org_weights.size()));
  for (const auto& [org, weight] : settings.org_weights) {
    pack_str(p, org);
    p.pack_double(weight);
  }
  std::uint32_t tiered = 0;
  for (const auto& [org, tier] : settings.org_tiers) tiered += tier != OrgTier::standard ? 1 : 0;
  p.pack_map(tiered);
  for (const auto& [org, tier] : settings.org_tiers) {
    if (tier == OrgTier::standard) continue;
    pack_str(p, org);
    p.pack_int32(static_cast<int>(tier));
  }
  return out;
}

// The state a claim gives every job it takes that was never claimed before (kClaim's
// ASSIGNED1), packed as cmsgpack packs it (each value in its smallest form), so that the
// script need not pack it.
std::string RedisJobStore::assigned_state(std::int64_t now_ms, std::string_view worker, std::string_view lease_id) {
  std::string out;
  out.reserve(48 + worker.size() + lease_id.size());
  PackTo to{&out};
  msgpack::packer<PackTo> p(to);
  p.pack_array(kStateFields);
  pack_str(p, "assigned");
  p.pack_uint32(1);
  p.pack_int64(now_ms);
  pack_str(p, worker);
  pack_str(p, lease_id);
  p.pack_uint32(0);                              // exit code
  p.pack_uint32(0);                              // duration
  pack_str(p, "");                               // error
  pack_str(p, "");                               // log tail
  for (int i = 0; i < 5; ++i) p.pack_uint32(0);  // flaky, retries used, failures, cancel, attempt limit
  return out;
}

RedisJobStore::ClaimReply RedisJobStore::parse_claim(const RedisValue& reply, const std::string& lease_id) {
  if (reply.is_error()) throw_reply_error(reply.str());
  ClaimReply out;
  if (reply.is_nil()) return out;
  Claim claim;
  claim.lease_id = lease_id;
  claim.group_key = reply[0].str();
  auto parts = detail::split_group_key(claim.group_key);
  claim.org_id = parts.org_id;
  claim.app_version_id = parts.app_version_id;
  claim.target = parts.target;
  // One state for every job never claimed before, the ids, then the states of the others
  // by place (kClaim).
  const auto& fresh_state = reply[1].str();
  const auto n = static_cast<std::size_t>(reply[2].integer());
  if (reply.size() < 3 + n) throw StoreError("claim: reply of the wrong size");
  for (std::size_t i = 0; i < n; ++i) {
    out.ids.push_back(reply[3 + i].str());
    out.states.push_back(fresh_state);
  }
  for (std::size_t i = 3 + n; i + 1 < reply.size(); i += 2) {
    const auto place = reply[i].integer();
    if (place < 1 || static_cast<std::size_t>(place) > n) throw StoreError("claim: a state for no job");
    out.states[static_cast<std::size_t>(place) - 1] = reply[i + 1].str();
  }
  out.claim = std::move(claim);
  return out;
}

// Reads the specs of the jobs the replies name by id (one round trip for all) and returns
// the claims.
std::vector<std::optional<Claim>> RedisJobStore::read_specs(std::vector<ClaimReply> replies) {
  constexpr std::size_t kChunk = 1000;
  std::vector<std::vector<std::string>> commands;
  std::size_t in_chunk = kChunk;
  for (const auto& r : replies) {
    for (const auto& id : r.ids) {
      if (in_chunk == kChunk) {
        commands.push_back({"MGET"});
        in_chunk = 0;
      }
      commands.back().push_back(prefix_ + "j:" + id);
      ++in_chunk;
    }
  }
  std::vector<RedisValue> specs;
  if (!commands.empty()) {
    for (auto& reply : conn_.pipeline(commands)) {
      if (reply.is_error()) throw_reply_error(reply.str());
      for (const auto& v : reply.array()) specs.push_back(v);
    }
  }
  std::vector<std::optional<Claim>> out;
  out.reserve(replies.size());
  std::size_t next = 0;
  for (auto& r : replies) {
    for (std::size_t k = 0; k < r.ids.size(); ++k, ++next) {
      const auto& spec = specs.at(next);
      if (spec.is_nil()) throw StoreError("claimed job " + r.ids[k] + " has no spec");
      r.claim->jobs.push_back(decode_job(spec.str(), r.states[k]));
    }
    out.push_back(std::move(r.claim));
  }
  return out;
}

}  // namespace qg::sched::redis

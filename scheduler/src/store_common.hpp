#pragma once
// Private helpers shared by the memory and Redis JobStores, so both compute ranks, scores,
// back-off delays, index entries and worker records the same way.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/messages.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched::detail {

// How many candidate groups per target claim looks at.
inline constexpr int kClaimCandidates = 16;
// Finished jobs per second are counted for this many seconds; stats average over kRateWindow.
inline constexpr std::int64_t kRateWindowSec = 60;
// Back-off delays are precomputed for attempts 1..kMaxDelaySlots (later attempts use the last).
inline constexpr std::uint32_t kMaxDelaySlots = 16;

// Where a group waits: its target's name, followed for jobs with requirements by '?' and the
// requirements in canonical form: sorted by key, "key=value" joined by ',', each value with
// the bytes outside [A-Za-z0-9._+-] as %XX (so a placement holds no '/', ',', '=', '?', '|'
// ':' or ' ', and equal requirements give equal placements). The placement is the group key's
// last segment and a job spec's target field, so jobs of one build with the same requirements
// form one group and each placement has ready sets of its own (docs/architecture.md, "Keys").
inline void append_label_value(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '+' || c == '-';
    if (plain) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
}
// "key=value" as a placement writes it (keys are [A-Za-z0-9._-]).
inline std::string label_pair(std::string_view key, std::string_view value) {
  std::string out(key);
  out += '=';
  append_label_value(out, value);
  return out;
}
inline std::string placement(proto::Target target, const std::map<std::string, std::string>& requirements) {
  std::string out(proto::to_string(target));
  char sep = '?';
  for (const auto& [k, v] : requirements) {  // std::map: sorted by key
    out += sep;
    out += label_pair(k, v);
    sep = ',';
  }
  return out;
}
inline std::string placement_of(const NewSubmission& s) { return placement(s.target, s.requirements); }

// The target and requirements of a placement (a target it does not know: emulator).
inline proto::Target placement_target(std::string_view placement) {
  return proto::parse_target(placement.substr(0, placement.find('?'))).value_or(proto::Target::emulator);
}
inline std::map<std::string, std::string> placement_requirements(std::string_view placement) {
  std::map<std::string, std::string> out;
  auto q = placement.find('?');
  if (q == std::string_view::npos) return out;
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c & ~0x20) - 'A' + 10; };
  std::string_view rest = placement.substr(q + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view pair = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string value;
    for (std::size_t i = eq + 1; i < pair.size(); ++i) {
      if (pair[i] == '%' && i + 2 < pair.size()) {
        value += static_cast<char>(hex(pair[i + 1]) * 16 + hex(pair[i + 2]));
        i += 2;
      } else {
        value += pair[i];
      }
    }
    out.emplace(std::string(pair.substr(0, eq)), std::move(value));
  }
  return out;
}
// Requirements as a job or group carries them: absent when there are none.
inline std::optional<std::map<std::string, std::string>> requirements_field(std::string_view placement) {
  if (placement.find('?') == std::string_view::npos) return std::nullopt;
  return placement_requirements(placement);
}

// A worker's labels as the claim scripts compare them with a placement's pairs.
inline std::vector<std::string> label_pairs(const std::map<std::string, std::string>& labels) {
  std::vector<std::string> out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) out.push_back(label_pair(k, v));
  return out;
}

inline std::string group_key(std::string_view org, std::string_view app, std::string_view placement) {
  std::string key;
  key.append(org).append("/").append(app).append("/").append(placement);
  return key;
}
inline std::string group_key(std::string_view org, std::string_view app, proto::Target target) {
  return group_key(org, app, proto::to_string(target));
}
inline std::string group_key_of(const NewSubmission& s) {
  return group_key(s.org_id, s.app_version_id, placement_of(s));
}

// The attempt limit a submission's jobs get: its own, else the store's default.
inline std::uint32_t max_attempts_of(const NewSubmission& s, const StoreSettings& settings) {
  return s.max_attempts != 0 ? s.max_attempts : settings.default_max_attempts;
}

// The job that test i of submission s becomes when submitted at now_ms: queued, never claimed.
inline proto::Job new_job(const NewSubmission& s, std::size_t i, std::uint32_t max_attempts, std::int64_t now_ms) {
  proto::Job j;
  j.id = s.job_ids[i];
  j.org_id = s.org_id;
  j.app_version_id = s.app_version_id;
  j.test_path = s.test_paths[i];
  j.priority = s.priority;
  j.target = s.target;
  j.status = proto::JobStatus::queued;
  j.max_attempts = max_attempts;
  j.retries = s.retries;
  j.created_at_ms = now_ms;
  j.updated_at_ms = now_ms;
  j.submission_id = s.submission_id;
  if (!s.requirements.empty()) j.requirements = s.requirements;
  return j;
}

struct GroupParts {
  std::string org_id;
  std::string app_version_id;
  proto::Target target = proto::Target::emulator;
  std::string placement;  // the target, with its requirements (see placement())
};
inline GroupParts split_group_key(const std::string& key) {
  GroupParts parts;
  auto first = key.find('/');
  auto last = key.rfind('/');
  if (first == std::string::npos || last == first) return parts;
  parts.org_id = key.substr(0, first);
  parts.app_version_id = key.substr(first + 1, last - first - 1);
  parts.placement = key.substr(last + 1);
  parts.target = placement_target(parts.placement);
  return parts;
}

// Order inside a group: high before medium before low, then oldest first.
inline double job_score(proto::Priority priority, std::int64_t created_ms) {
  return static_cast<double>(2 - static_cast<int>(priority)) * 1e13 + static_cast<double>(created_ms);
}

inline std::int64_t tier_head_start(const StoreSettings& settings, const std::string& org) {
  auto it = settings.org_tiers.find(org);
  if (it == settings.org_tiers.end()) return 0;
  switch (it->second) {
    case OrgTier::enterprise:
      return settings.enterprise_head_start.count();
    case OrgTier::premium:
      return settings.premium_head_start.count();
    default:
      return 0;
  }
}

inline std::int64_t priority_head_start(const StoreSettings& settings, proto::Priority priority) {
  switch (priority) {
    case proto::Priority::high:
      return settings.high_head_start.count();
    case proto::Priority::medium:
      return settings.medium_head_start.count();
    default:
      return 0;
  }
}

// A job's contribution to its group's rank when it heads the group (lower goes first).
inline std::int64_t rank_base(const StoreSettings& settings, const std::string& org, proto::Priority priority,
                              std::int64_t created_ms) {
  return created_ms - priority_head_start(settings, priority) - tier_head_start(settings, org);
}

inline int tier_of(const StoreSettings& settings, const std::string& org) {
  auto it = settings.org_tiers.find(org);
  return it == settings.org_tiers.end() ? 0 : static_cast<int>(it->second);
}

inline double org_weight(const StoreSettings& settings, const std::string& org) {
  auto it = settings.org_weights.find(org);
  return it == settings.org_weights.end() ? 1.0 : it->second;
}

inline std::string org_of_group(const std::string& g) { return g.substr(0, g.find('/')); }

// Fair share inside a tier (StoreSettings::fair_share_slack): `ranked` holds a claim's
// candidates as (rank, group key), best first. Among those of the best one's tier within the
// slack of its rank, the org holding the fewest devices for its weight (`held(org)`; ties: the
// better rank) is chosen, and its candidates move to the front in their order. Returns that
// org, or "" when there was no choice to make (one org, or fair share off). kClaim does the same.
template <class Held>
std::string fair_share_order(const StoreSettings& settings, std::vector<std::pair<double, std::string>>& ranked,
                             Held&& held) {
  if (settings.fair_share_slack.count() <= 0 || ranked.size() < 2) return {};
  const std::string best_org = org_of_group(ranked.front().second);
  const int tier = tier_of(settings, best_org);
  const double limit = ranked.front().first + static_cast<double>(settings.fair_share_slack.count());
  std::vector<std::string> orgs;
  for (const auto& [rank, g] : ranked) {
    if (rank > limit) break;
    std::string org = org_of_group(g);
    if (tier_of(settings, org) != tier || std::find(orgs.begin(), orgs.end(), org) != orgs.end()) continue;
    orgs.push_back(std::move(org));
  }
  if (orgs.size() < 2) return {};
  std::size_t pick = 0;
  double pick_load = 0;
  for (std::size_t k = 0; k < orgs.size(); ++k) {
    const double load = static_cast<double>(std::max<std::int64_t>(0, held(orgs[k]))) / org_weight(settings, orgs[k]);
    if (k == 0 || load < pick_load) {
      pick = k;
      pick_load = load;
    }
  }
  const std::string& chosen = orgs[pick];
  std::stable_partition(ranked.begin(), ranked.end(), [&](const auto& c) { return org_of_group(c.second) == chosen; });
  return chosen;
}

// Back-off delay for an infrastructure retry after `attempt` (1-based), with jitter.
inline std::int64_t backoff_delay(const Backoff& backoff, std::uint32_t attempt, std::mt19937_64& rng) {
  double delay = static_cast<double>(backoff.base.count()) * std::pow(backoff.factor, attempt > 0 ? attempt - 1 : 0);
  delay = std::min(delay, static_cast<double>(backoff.cap.count()));
  if (backoff.jitter > 0) {
    std::uniform_real_distribution<double> dist(-backoff.jitter, backoff.jitter);
    delay *= 1.0 + dist(rng);
  }
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(delay));
}

// Delays for attempts 1..kMaxDelaySlots.
inline std::vector<std::int64_t> backoff_table(const Backoff& backoff, std::mt19937_64& rng) {
  std::vector<std::int64_t> delays;
  delays.reserve(kMaxDelaySlots);
  for (std::uint32_t a = 1; a <= kMaxDelaySlots; ++a) delays.push_back(backoff_delay(backoff, a, rng));
  return delays;
}

// Entry of the list indexes: zero-padded creation time then the id, so that reverse
// lexicographic order is newest first with ties broken by id, stable under inserts.
inline std::string index_member(std::int64_t created_ms, const std::string& job_id) {
  std::string ms = std::to_string(std::max<std::int64_t>(0, created_ms));
  std::string member(ms.size() < 13 ? 13 - ms.size() : 0, '0');
  member += ms;
  member += ':';
  member += job_id;
  return member;
}
inline std::string index_member_id(const std::string& member) {
  auto colon = member.find(':');
  return colon == std::string::npos ? member : member.substr(colon + 1);
}

// Length-prefixed strings ("<len>:<bytes>"), for the worker registry record.
inline void put_string(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out.append(s);
}
inline bool get_string(std::string_view& in, std::string& out) {
  auto colon = in.find(':');
  if (colon == std::string_view::npos) return false;
  std::size_t len = 0;
  for (std::size_t i = 0; i < colon; ++i) {
    if (in[i] < '0' || in[i] > '9') return false;
    len = len * 10 + static_cast<std::size_t>(in[i] - '0');
  }
  if (in.size() - colon - 1 < len) return false;
  out.assign(in.substr(colon + 1, len));
  in.remove_prefix(colon + 1 + len);
  return true;
}

inline std::string encode_worker(const proto::WorkerInfo& w) {
  std::string out;
  put_string(out, w.worker_id);
  put_string(out, w.device_id);
  put_string(out, std::to_string(w.targets.size()));
  for (auto t : w.targets) put_string(out, proto::to_string(t));
  put_string(out, std::to_string(w.labels.size()));
  for (const auto& [k, v] : w.labels) {
    put_string(out, k);
    put_string(out, v);
  }
  put_string(out, std::to_string(w.installed.size()));
  for (const auto& i : w.installed) put_string(out, i);
  put_string(out, w.state);
  put_string(out, w.lease_id);
  put_string(out, w.group_key);
  put_string(out, std::to_string(w.last_seen_ms));
  return out;
}

inline bool decode_worker(std::string_view in, proto::WorkerInfo& w) {
  std::string n;
  auto count = [&](std::size_t& c) {
    if (!get_string(in, n)) return false;
    c = static_cast<std::size_t>(std::strtoull(n.c_str(), nullptr, 10));
    return c < 100000;
  };
  std::size_t c = 0;
  if (!get_string(in, w.worker_id) || !get_string(in, w.device_id) || !count(c)) return false;
  for (std::size_t i = 0; i < c; ++i) {
    if (!get_string(in, n)) return false;
    w.targets.push_back(proto::parse_target(n).value_or(proto::Target::emulator));
  }
  if (!count(c)) return false;
  for (std::size_t i = 0; i < c; ++i) {
    std::string k, v;
    if (!get_string(in, k) || !get_string(in, v)) return false;
    w.labels.emplace(std::move(k), std::move(v));
  }
  if (!count(c)) return false;
  for (std::size_t i = 0; i < c; ++i) {
    if (!get_string(in, n)) return false;
    w.installed.push_back(n);
  }
  if (!get_string(in, w.state) || !get_string(in, w.lease_id) || !get_string(in, w.group_key) || !get_string(in, n)) {
    return false;
  }
  w.last_seen_ms = std::strtoll(n.c_str(), nullptr, 10);
  return true;
}

// An announcement's identity (ProcessInfo without its expiry), as a ZSET member.
inline std::string encode_process(const proto::ProcessInfo& p) {
  std::string out;
  put_string(out, p.id);
  put_string(out, p.host);
  put_string(out, std::to_string(p.pid));
  put_string(out, std::to_string(p.started_at_ms));
  return out;
}
inline bool decode_process(std::string_view in, proto::ProcessInfo& p) {
  std::string pid, started;
  if (!get_string(in, p.id) || !get_string(in, p.host) || !get_string(in, pid) || !get_string(in, started)) {
    return false;
  }
  p.pid = std::strtoll(pid.c_str(), nullptr, 10);
  p.started_at_ms = std::strtoll(started.c_str(), nullptr, 10);
  return true;
}

// Which list index a query walks: the narrowest one its org/app filters allow.
struct IndexChoice {
  enum Kind { all, org, app } kind = all;
};
inline IndexChoice choose_index(const ListQuery& q) {
  if (!q.org_id.empty() && !q.app_version_id.empty()) return {IndexChoice::app};
  if (!q.org_id.empty()) return {IndexChoice::org};
  return {IndexChoice::all};
}

inline bool list_matches(const ListQuery& q, const proto::Job& job) {
  if (!q.org_id.empty() && job.org_id != q.org_id) return false;
  if (!q.app_version_id.empty() && job.app_version_id != q.app_version_id) return false;
  if (q.status && job.status != *q.status) return false;
  if (q.target && job.target != *q.target) return false;
  return true;
}

// One job as a list index walk yields it: `pos` resumes the walk just after it.
struct IndexEntry {
  std::string pos;
  std::string id;
};

// Pages through an index newest first. `fetch(after, n)` returns up to n entries that come
// after position `after` (from the start when `after` is empty), newest first; `load(ids)` the
// jobs. Examines at most 10 * limit entries per call; the cursor is the last position examined.
template <class Fetch, class Load>
ListPage page_entries(const ListQuery& q, Fetch&& fetch, Load&& load) {
  ListPage page;
  const std::size_t limit = std::clamp<std::uint32_t>(q.limit, 1, 1000);
  const std::size_t budget = 10 * limit;
  std::string pos = q.cursor;
  std::size_t examined = 0;
  bool exhausted = false;
  while (page.jobs.size() < limit && examined < budget) {
    std::size_t n = std::min(limit - page.jobs.size() + (limit / 4), budget - examined);
    std::vector<IndexEntry> entries = fetch(pos, n + 1);
    bool more = entries.size() > n;
    if (more) entries.pop_back();
    if (entries.empty()) {
      exhausted = true;
      break;
    }
    std::vector<std::string> ids;
    ids.reserve(entries.size());
    for (const auto& e : entries) ids.push_back(e.id);
    std::vector<std::optional<proto::Job>> jobs = load(ids);
    std::size_t i = 0;
    for (; i < entries.size() && page.jobs.size() < limit; ++i) {
      ++examined;
      pos = entries[i].pos;
      if (jobs[i] && list_matches(q, *jobs[i])) page.jobs.push_back(std::move(*jobs[i]));
    }
    if (i == entries.size() && !more) {
      exhausted = true;
      break;
    }
  }
  if (!exhausted) page.next_cursor = pos;
  return page;
}

// page_entries over an index whose members are index_member() strings, one per job: a
// member is its own position. `fetch(after, n)` returns up to n members sorting before `after`.
template <class Fetch, class Load>
ListPage page_index(const ListQuery& q, Fetch&& fetch, Load&& load) {
  auto entries = [&](const std::string& after, std::size_t n) {
    std::vector<IndexEntry> out;
    for (auto& m : fetch(after, n)) {
      auto id = index_member_id(m);
      out.push_back({std::move(m), std::move(id)});
    }
    return out;
  };
  return page_entries(q, entries, load);
}

}  // namespace qg::sched::detail

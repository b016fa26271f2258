// RedisJobStore's reads: jobs by id, the list indexes, the queue and stats views.

#include <algorithm>
#include <cstdlib>
#include <map>

#include "redis_job_store.hpp"

namespace qg::sched::redis {
namespace {

std::map<std::string, std::uint64_t> positive_counts(const RedisValue& hash) {
  std::map<std::string, std::uint64_t> out;
  const auto& a = hash.array();
  for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
    auto v = to_i64(a[i + 1].str());
    if (v > 0) out[a[i].str()] = static_cast<std::uint64_t>(v);
  }
  return out;
}

}  // namespace

std::vector<std::optional<Job>> RedisJobStore::get(std::span<const std::string> job_ids) {
  maybe_resubscribe();
  std::vector<std::optional<Job>> out;
  out.reserve(job_ids.size());
  constexpr std::size_t kChunk = 1000;
  std::vector<std::vector<std::string>> commands;
  for (std::size_t first = 0; first < job_ids.size(); first += kChunk) {
    std::vector<std::string> mget = {"MGET"};
    for (std::size_t i = first; i < std::min(job_ids.size(), first + kChunk); ++i) {
      mget.push_back(prefix_ + "j:" + job_ids[i]);
      mget.push_back(prefix_ + "st:" + job_ids[i]);
    }
    commands.push_back(std::move(mget));
  }
  for (const auto& reply : commands.empty() ? std::vector<RedisValue>{} : conn_.pipeline(commands)) {
    if (reply.is_error()) throw_reply_error(reply.str());
    const auto& a = reply.array();
    for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
      if (a[i].is_nil()) {
        out.emplace_back();
      } else {
        out.emplace_back(job_from_row(a[i], a[i + 1]));
      }
    }
  }
  return out;
}

// The list indexes are lists with one member per submission, in submit order: "<job id>" for
// a one-job submission, "<first job id>:<submission id>" for a suite, whose job ids are in
// "s:<submission id>". A position is "<member's index from the head>|<jobs of it yielded>",
// newest job first, the index counted from the index's first member ever: retention trims
// members from the head and counts them in idxoff (field: the index's key), so positions
// stay valid as members are appended and trimmed.
ListPage RedisJobStore::list(const ListQuery& q) {
  std::string key = prefix_ + "idx:all";
  auto choice = detail::choose_index(q);
  if (choice.kind == detail::IndexChoice::app) {
    key = prefix_ + "idx:app:" + q.org_id + ":" + q.app_version_id;
  } else if (choice.kind == detail::IndexChoice::org) {
    key = prefix_ + "idx:org:" + q.org_id;
  }
  auto fetch = [&](const std::string& after, std::size_t n) {
    std::vector<detail::IndexEntry> out;
    long long index = -1;
    long long yielded = 0;
    const auto off = conn_.command({"HGET", prefix_ + "idxoff", key});
    const long long trimmed = off.is_nil() ? 0 : to_i64(off.str());
    if (auto bar = after.find('|'); bar != std::string::npos) {
      index = std::atoll(after.c_str()) - trimmed;  // < 0: that member was trimmed, and all before it
      yielded = std::max(0LL, std::atoll(after.c_str() + bar + 1));
    } else {
      index = conn_.command({"LLEN", key}).integer();  // one past the newest
    }
    // Appends up to n - out.size() jobs of member m (at index i) after its first `skip`;
    // true when m has no more.
    auto expand = [&](long long i, const std::string& m, long long skip) {
      const std::string pos = std::to_string(i + trimmed) + "|";
      auto colon = m.find(':');
      if (colon == std::string::npos) {
        if (skip == 0) out.push_back({pos + "1", m});
        return true;
      }
      const auto want = static_cast<long long>(n - out.size());
      auto ids = conn_.command({"LRANGE", prefix_ + "s:" + m.substr(colon + 1), std::to_string(-(skip + want)),
                                std::to_string(-(skip + 1))});
      const auto& a = ids.array();
      for (std::size_t k = a.size(); k-- > 0;) {
        out.push_back({pos + std::to_string(skip + static_cast<long long>(a.size() - k)), a[k].str()});
      }
      return static_cast<long long>(a.size()) < want;
    };
    if (yielded > 0 && index >= 0) {
      auto m = conn_.command({"LINDEX", key, std::to_string(index)});
      if (!m.is_nil() && !expand(index, m.str(), yielded)) return out;
    }
    while (out.size() < n && index > 0) {
      const long long from = std::max(0LL, index - static_cast<long long>(n - out.size()));
      auto members = conn_.command({"LRANGE", key, std::to_string(from), std::to_string(index - 1)});
      const auto& a = members.array();
      if (a.empty()) break;
      for (std::size_t k = a.size(); k-- > 0;) {
        index = from + static_cast<long long>(k);
        if (!expand(index, a[k].str(), 0) || out.size() >= n) return out;
      }
      index = from;
    }
    return out;
  };
  auto loader = [&](const std::vector<std::string>& ids) { return get(ids); };
  return detail::page_entries(q, fetch, loader);
}

QueuePage RedisJobStore::queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) {
  long long phase = 0;
  long long offset = 0;
  if (auto colon = cursor.find(':'); colon != std::string::npos) {
    phase = std::clamp<long long>(std::atoll(cursor.substr(0, colon).c_str()), 0, 1'000'000);
    offset = std::max<long long>(0, std::atoll(cursor.c_str() + colon + 1));
  }
  limit = std::clamp<std::uint32_t>(limit, 1, 1000);
  auto args = base(now_ms);
  args.push_back(std::to_string(phase));
  args.push_back(std::to_string(offset));
  args.push_back(std::to_string(limit));
  for (auto t : {proto::Target::emulator, proto::Target::device, proto::Target::browserstack}) {
    args.emplace_back(proto::to_string(t));
  }
  auto reply = eval(kQueue, args);
  QueuePage page;
  if (reply[0].integer() >= 0) {
    page.next_cursor = std::to_string(reply[0].integer()) + ":" + std::to_string(reply[1].integer());
  }
  for (const auto& g : reply[2].array()) {
    proto::GroupInfo info;
    info.key = g[0].str();
    auto parts = detail::split_group_key(info.key);
    info.org_id = parts.org_id;
    info.app_version_id = parts.app_version_id;
    info.target = parts.target;
    info.requirements = detail::requirements_field(parts.placement);
    info.claimable = g[1].integer() == 1;
    info.depth = static_cast<std::uint64_t>(g[2].integer());
    const long long head = g[3].integer();
    info.highest_priority = static_cast<proto::Priority>(std::clamp<long long>(2 - head / 10'000'000'000'000LL, 0, 2));
    info.oldest_age_ms = now_ms - g[4].integer();
    page.groups.push_back(std::move(info));
  }
  auto counts = conn_.pipeline({{"HGETALL", prefix_ + "counts"}, {"HGETALL", prefix_ + "qprio"}});
  page.by_status = positive_counts(counts[0]);
  page.by_priority = positive_counts(counts[1]);
  return page;
}

StatsSnapshot RedisJobStore::stats(std::int64_t now_ms) {
  maybe_resubscribe();
  std::vector<std::string> mget = {"MGET"};
  const std::int64_t sec = now_ms / 1000;
  for (std::int64_t s = sec - detail::kRateWindowSec + 1; s <= sec; ++s) {
    mget.push_back(prefix_ + "fin:" + std::to_string(s));
  }
  auto replies = conn_.pipeline({{"HGETALL", prefix_ + "counts"}, {"HGETALL", prefix_ + "orgcounts"}, mget});
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
  }
  StatsSnapshot snap;
  snap.by_status = positive_counts(replies[0]);
  snap.by_org = positive_counts(replies[1]);
  std::int64_t finished = 0;
  for (const auto& v : replies[2].array()) {
    if (!v.is_nil()) finished += to_i64(v.str());
  }
  snap.jobs_per_sec = static_cast<double>(finished) / static_cast<double>(detail::kRateWindowSec);
  return snap;
}

std::uint64_t RedisJobStore::queue_depth() {
  maybe_resubscribe();
  auto v = conn_.command({"HGET", prefix_ + "counts", "queued"});
  if (v.is_nil()) return 0;
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, to_i64(v.str())));
}

std::map<std::string, std::uint64_t> RedisJobStore::queued_by_org() {
  maybe_resubscribe();
  auto reply = conn_.command({"HGETALL", prefix_ + "orgq"});
  if (reply.is_error()) throw_reply_error(reply.str());
  return positive_counts(reply);
}

}  // namespace qg::sched::redis

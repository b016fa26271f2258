#pragma once
// STATS' `farm` records, kept for a short time and served to every STATS in between.
//
// Reading them costs the store a pass over the last day's buckets (on Redis, one HGETALL per
// minute bucket of the hour and per five-minute bucket of the day: 348 in one pipeline) and a
// read of the queue's groups. A dashboard, a gateway's /metrics scrape and `qgjob stats` each
// ask every few seconds; the figures are per hour and per day, so a copy a second or two old
// tells them the same. The records of every org are kept together; an org key's STATS is
// given its org's records out of them.
//
// Time comes from the caller (the broker's injected clock): a copy read at t is served while
// now < t + ttl. A ttl of 0 reads the store every time. A read that throws leaves nothing kept.
// Not thread-safe: the broker's loop owns it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::broker {

class FarmStatsCache {
 public:
  using Read = std::function<std::vector<proto::FarmStat>()>;

  explicit FarmStatsCache(std::chrono::milliseconds ttl) : ttl_ms_(ttl.count()) {}

  // Every org's records as of at most ttl ago: read() when none are that fresh.
  const std::vector<proto::FarmStat>& all(std::int64_t now_ms, const Read& read) {
    // A clock that went back (now before the read) counts as stale too.
    if (!fresh_ || now_ms < read_at_ms_ || now_ms - read_at_ms_ >= ttl_ms_) {
      fresh_ = false;
      records_ = read();
      read_at_ms_ = now_ms;
      fresh_ = ttl_ms_ > 0;
      ++reads_;
    }
    return records_;
  }

  // org_id's records alone, out of all().
  std::vector<proto::FarmStat> of_org(std::int64_t now_ms, const std::string& org_id, const Read& read) {
    std::vector<proto::FarmStat> own;
    for (const auto& f : all(now_ms, read)) {
      if (f.org_id == org_id) own.push_back(f);
    }
    return own;
  }

  // How many times the store was read (for tests and logs).
  std::uint64_t reads() const { return reads_; }

 private:
  std::int64_t ttl_ms_;
  std::vector<proto::FarmStat> records_;
  std::int64_t read_at_ms_ = 0;
  bool fresh_ = false;
  std::uint64_t reads_ = 0;
};

}  // namespace qg::broker

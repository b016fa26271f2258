#pragma once
// Farm statistics per (org, target): what both stores record as jobs finish, and how the
// figures STATS answers (proto::FarmStat) are made from them.
//
// Bounded by construction: counts are kept in time buckets, one-minute buckets for the last
// hour and five-minute buckets for the last day, each holding per (org, target) a few
// counters and two sparse duration histograms; buckets older than their window are dropped
// (memory) or expire (Redis). Nothing grows with the number of jobs.
//
// Durations go into log-spaced bins, four per doubling: a quantile read from the bins is the
// geometric middle of its bin, within 2^(1/8) - 1 = 9.1 % of the true sample quantile.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::sched::farm {

inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::int64_t kFiveMinutesMs = 300'000;
inline constexpr std::int64_t kHourMs = 3'600'000;
inline constexpr std::int64_t kDayMs = 86'400'000;
inline constexpr int kBinsPerDoubling = 4;
inline constexpr int kMaxBin = 120;  // 2^(119/4) ms is over 10 days: the last bin is open-ended

// The bin of a duration: 0 for under 1 ms, else 1 + floor(4 * log2(ms)), at most kMaxBin.
int duration_bin(std::int64_t ms);
// A duration that stands for bin `bin`: the geometric middle of its range (0 for bin 0).
std::int64_t bin_estimate_ms(int bin);
// The q-quantile (0 < q <= 1) of a histogram: the estimate of the bin holding the
// ceil(q * n)-th smallest sample. 0 for an empty histogram.
std::int64_t quantile_ms(const std::map<int, std::uint64_t>& bins, double q);

// One (org, target)'s counts over some span of time.
struct Tally {
  std::map<std::string, std::uint64_t> by_status;  // final statuses reached
  std::uint64_t tests_run = 0;                     // reports accepted
  std::uint64_t installs = 0;                      // reports that carried install_ms
  std::map<int, std::uint64_t> test_bins;          // durations of passed/failed/timed_out runs
  std::map<int, std::uint64_t> install_bins;
  void add(const Tally& other);
};

// "<org_id>/<target>": the key both stores file a tally under.
std::string tally_key(const std::string& org_id, proto::Target target);

// What one accepted report adds: a run, its duration when the test ran to an outcome
// (passed, failed, timed_out), the install it carried.
Tally run_tally(const proto::Report& report);

// The two windows' tallies per tally_key, as JobStore::farm_tallies reads them.
struct Windows {
  std::map<std::string, Tally> hour;
  std::map<std::string, Tally> day;
};

// The buckets themselves, as MemoryJobStore keeps them (the Redis store keeps the same in
// hashes, one per bucket: docs/architecture.md, "Keys"). Not thread-safe: its owner locks.
class Buckets {
 public:
  // Adds to the buckets holding now_ms; drops buckets past their window.
  void add(const std::string& key, const Tally& tally, std::int64_t now_ms);
  // Sums of the minute buckets of the last hour and the five-minute buckets of the last day
  // (the bucket holding now included).
  Windows windows(std::int64_t now_ms) const;

 private:
  std::map<std::int64_t, std::map<std::string, Tally>> minutes_;  // bucket index -> tallies
  std::map<std::int64_t, std::map<std::string, Tally>> fives_;
};

// The first bucket index of each window that still counts at now_ms.
std::int64_t first_minute(std::int64_t now_ms);
std::int64_t first_five(std::int64_t now_ms);

// The figures of one tally. oldest_queued_ms is left 0 (the caller fills it).
proto::FarmStat summarize(const std::string& key, const std::string& window, const Tally& tally);

// All records for STATS: one per key and window with anything in it, plus the age of the
// oldest queued job per key (from `oldest_queued`, key -> age ms; keys there alone get
// records too). Only keys of `org_id` when it is not empty. Ordered by org, target, window.
std::vector<proto::FarmStat> farm_records(const Windows& windows,
                                          const std::map<std::string, std::int64_t>& oldest_queued,
                                          const std::string& org_id);

}  // namespace qg::sched::farm

// Farm statistics: duration bins, buckets and the figures STATS answers
// (qg/scheduler/farm_stats.hpp), and JobStore::farm_stats, which both stores share.

#include "qg/scheduler/farm_stats.hpp"

#include <algorithm>
#include <cmath>

#include "qg/scheduler/job_store.hpp"

namespace qg::sched::farm {

int duration_bin(std::int64_t ms) {
  if (ms < 1) return 0;
  const int bin = 1 + static_cast<int>(std::floor(kBinsPerDoubling * std::log2(static_cast<double>(ms))));
  return std::clamp(bin, 1, kMaxBin);
}

std::int64_t bin_estimate_ms(int bin) {
  if (bin <= 0) return 0;
  // Bin b covers [2^((b-1)/4), 2^(b/4)) ms; its geometric middle is 2^((b-0.5)/4).
  return std::llround(std::exp2((static_cast<double>(bin) - 0.5) / kBinsPerDoubling));
}

std::int64_t quantile_ms(const std::map<int, std::uint64_t>& bins, double q) {
  std::uint64_t n = 0;
  for (const auto& [bin, count] : bins) n += count;
  if (n == 0) return 0;
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n))));
  std::uint64_t seen = 0;
  for (const auto& [bin, count] : bins) {
    seen += count;
    if (seen >= rank) return bin_estimate_ms(bin);
  }
  return bin_estimate_ms(bins.rbegin()->first);
}

void Tally::add(const Tally& other) {
  for (const auto& [s, n] : other.by_status) by_status[s] += n;
  tests_run += other.tests_run;
  installs += other.installs;
  for (const auto& [b, n] : other.test_bins) test_bins[b] += n;
  for (const auto& [b, n] : other.install_bins) install_bins[b] += n;
}

std::string tally_key(const std::string& org_id, proto::Target target) {
  return org_id + "/" + std::string(proto::to_string(target));
}

Tally run_tally(const proto::Report& report) {
  Tally t;
  t.tests_run = 1;
  using proto::JobStatus;
  if (report.status == JobStatus::passed || report.status == JobStatus::failed ||
      report.status == JobStatus::timed_out) {
    t.test_bins[duration_bin(report.duration_ms)] = 1;
  }
  if (report.install_ms) {
    t.installs = 1;
    t.install_bins[duration_bin(*report.install_ms)] = 1;
  }
  return t;
}

std::int64_t first_minute(std::int64_t now_ms) { return now_ms / kMinuteMs - (kHourMs / kMinuteMs - 1); }
std::int64_t first_five(std::int64_t now_ms) { return now_ms / kFiveMinutesMs - (kDayMs / kFiveMinutesMs - 1); }

void Buckets::add(const std::string& key, const Tally& tally, std::int64_t now_ms) {
  minutes_[now_ms / kMinuteMs][key].add(tally);
  fives_[now_ms / kFiveMinutesMs][key].add(tally);
  minutes_.erase(minutes_.begin(), minutes_.lower_bound(first_minute(now_ms)));
  fives_.erase(fives_.begin(), fives_.lower_bound(first_five(now_ms)));
}

Windows Buckets::windows(std::int64_t now_ms) const {
  Windows w;
  const auto sum = [](const auto& buckets, std::int64_t first, std::int64_t last, std::map<std::string, Tally>& out) {
    for (auto it = buckets.lower_bound(first); it != buckets.end() && it->first <= last; ++it) {
      for (const auto& [key, tally] : it->second) out[key].add(tally);
    }
  };
  sum(minutes_, first_minute(now_ms), now_ms / kMinuteMs, w.hour);
  sum(fives_, first_five(now_ms), now_ms / kFiveMinutesMs, w.day);
  return w;
}

proto::FarmStat summarize(const std::string& key, const std::string& window, const Tally& tally) {
  proto::FarmStat f;
  const auto slash = key.rfind('/');
  f.org_id = key.substr(0, slash);
  if (slash != std::string::npos) {
    if (auto target = proto::parse_target(key.substr(slash + 1))) f.target = *target;
  }
  f.window = window;
  f.by_status = tally.by_status;
  for (const auto& [s, n] : tally.by_status) f.finished += n;
  const auto count = [&](const char* s) {
    auto it = tally.by_status.find(s);
    return it == tally.by_status.end() ? std::uint64_t{0} : it->second;
  };
  const auto judged = f.finished - count("cancelled");
  f.success_rate = judged == 0 ? 0.0 : static_cast<double>(count("passed")) / static_cast<double>(judged);
  f.test_p50_ms = quantile_ms(tally.test_bins, 0.5);
  f.test_p95_ms = quantile_ms(tally.test_bins, 0.95);
  f.tests_run = tally.tests_run;
  f.installs = tally.installs;
  f.install_p50_ms = quantile_ms(tally.install_bins, 0.5);
  f.tests_per_install =
      tally.installs == 0 ? 0.0 : static_cast<double>(tally.tests_run) / static_cast<double>(tally.installs);
  return f;
}

std::vector<proto::FarmStat> farm_records(const Windows& windows,
                                          const std::map<std::string, std::int64_t>& oldest_queued,
                                          const std::string& org_id) {
  std::map<std::string, bool> keys;
  for (const auto& [k, t] : windows.hour) keys[k] = true;
  for (const auto& [k, t] : windows.day) keys[k] = true;
  for (const auto& [k, age] : oldest_queued) keys[k] = true;
  std::vector<proto::FarmStat> out;
  for (const auto& [key, unused] : keys) {
    if (!org_id.empty() && key.compare(0, org_id.size() + 1, org_id + "/") != 0) continue;
    auto age = oldest_queued.find(key);
    for (const auto* window : {"hour", "day"}) {
      const auto& tallies = std::string_view(window) == "hour" ? windows.hour : windows.day;
      auto it = tallies.find(key);
      auto f = summarize(key, window, it == tallies.end() ? Tally{} : it->second);
      if (age != oldest_queued.end()) f.oldest_queued_ms = age->second;
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace qg::sched::farm

namespace qg::sched {

std::vector<proto::FarmStat> JobStore::farm_stats(std::int64_t now_ms, const std::string& org_id) {
  // The oldest queued job per (org, target), from the queue's groups: at most this many pages
  // of 1,000 groups are read (a farm with more groups queued is over any figure shown here).
  constexpr int kMaxPages = 20;
  std::map<std::string, std::int64_t> oldest;
  std::string cursor;
  for (int page = 0; page < kMaxPages; ++page) {
    auto q = queue(cursor, 1000, now_ms);
    for (const auto& g : q.groups) {
      if (!org_id.empty() && g.org_id != org_id) continue;
      auto& age = oldest[farm::tally_key(g.org_id, g.target)];
      age = std::max(age, g.oldest_age_ms);
    }
    if (q.next_cursor.empty()) break;
    cursor = q.next_cursor;
  }
  return farm::farm_records(farm_tallies(now_ms), oldest, org_id);
}

}  // namespace qg::sched

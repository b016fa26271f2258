// RedisJobStore's farm statistics: the bucket hashes of the last hour and day, read in one
// pipelined round trip (60 minute buckets and 288 five-minute buckets) and summed.

#include "farm_stats.hpp"

#include <charconv>

#include "redis_job_store.hpp"

namespace qg::sched::redis {
namespace {

// Adds one bucket hash (HGETALL's flat field, value list) to the tallies.
void add_bucket(const RedisValue& hash, std::map<std::string, farm::Tally>& out) {
  const auto& items = hash.array();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    const std::string& field = items[i].str();
    const auto bar = field.rfind('|');
    if (bar == std::string::npos) continue;
    const auto n = to_i64(items[i + 1].str());
    if (n <= 0) continue;
    const auto count = static_cast<std::uint64_t>(n);
    auto& t = out[field.substr(0, bar)];
    const std::string_view what = std::string_view(field).substr(bar + 1);
    const auto bin = [&] {
      int b = 0;
      std::from_chars(what.data() + 2, what.data() + what.size(), b);
      return b;
    };
    if (what == "r") {
      t.tests_run += count;
    } else if (what == "i") {
      t.installs += count;
    } else if (what.starts_with("s:")) {
      t.by_status[std::string(what.substr(2))] += count;
    } else if (what.starts_with("t:")) {
      t.test_bins[bin()] += count;
    } else if (what.starts_with("n:")) {
      t.install_bins[bin()] += count;
    }
  }
}

}  // namespace

farm::Windows RedisJobStore::farm_tallies(std::int64_t now_ms) {
  maybe_resubscribe();
  std::vector<std::vector<std::string>> reads;
  const auto last_minute = now_ms / farm::kMinuteMs;
  const auto last_five = now_ms / farm::kFiveMinutesMs;
  for (auto m = farm::first_minute(now_ms); m <= last_minute; ++m) {
    reads.push_back({"HGETALL", prefix_ + "fs:m:" + std::to_string(m)});
  }
  const auto minutes = reads.size();
  for (auto f = farm::first_five(now_ms); f <= last_five; ++f) {
    reads.push_back({"HGETALL", prefix_ + "fs:f:" + std::to_string(f)});
  }
  auto replies = conn_.pipeline(reads);
  farm::Windows w;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error()) throw_reply_error(replies[i].str());
    add_bucket(replies[i], i < minutes ? w.hour : w.day);
  }
  return w;
}

}  // namespace qg::sched::redis

// RedisJobStore's retention: the sweep of jobs past their retention (kSweep), and the
// retention every process sharing the store goes by (<p>retention).

#include <algorithm>

#include "redis_job_store.hpp"

namespace qg::sched::redis {
namespace {

// "<finished ms> <dead ms>", 0 for off: what <p>retention holds (the scripts read its head).
std::string retention_value(const StoreSettings& s) {
  auto ms = [](const std::optional<std::chrono::milliseconds>& d) { return d ? std::to_string(d->count()) : "0"; };
  return ms(s.retention) + " " + ms(s.dead_retention);
}

std::optional<std::chrono::milliseconds> shortest(const std::optional<std::chrono::milliseconds>& a,
                                                  const std::optional<std::chrono::milliseconds>& b) {
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

// Per sweep call (sweep.lua): the most index entries one trim looks at; the most indexes
// trimmed besides idx:all; and the entries gone that make an index due for a trim (fewer
// wait, so that a trim's few calls pay for many entries; an idle sweep trims them all).
constexpr std::size_t kIndexTrim = 256;
constexpr std::size_t kIndexesPerCall = 8;
constexpr std::size_t kIndexDue = 16;

}  // namespace

JobStore::Sweep RedisJobStore::sweep_retention(std::int64_t now_ms, std::size_t max) {
  Sweep out;
  if (max == 0 || (!settings_.retention && !settings_.dead_retention)) return out;
  auto cutoff = [&](const std::optional<std::chrono::milliseconds>& d) {
    return d ? std::to_string(now_ms - d->count()) : std::string("off");
  };
  auto args = base(now_ms);
  args.push_back(cutoff(settings_.retention));
  args.push_back(cutoff(settings_.dead_retention));
  args.push_back(std::to_string(max));
  args.push_back(std::to_string(kIndexTrim));
  args.push_back(std::to_string(kIndexesPerCall));
  args.push_back(std::to_string(kIndexDue));
  auto reply = eval(kSweep, args);
  out.deleted = static_cast<std::size_t>(reply[0].integer());
  out.more = reply[1].integer() != 0;
  return out;
}

void RedisJobStore::publish_retention() {
  auto reply = conn_.command({"SET", prefix_ + "retention", retention_value(settings_)});
}

std::optional<std::chrono::milliseconds> RedisJobStore::retention() {
  auto reply = conn_.command({"GET", prefix_ + "retention"});
  if (reply.is_nil()) return shortest(settings_.retention, settings_.dead_retention);
  const std::string v = reply.str();
  const auto space = v.find(' ');
  if (space == std::string::npos) return shortest(settings_.retention, settings_.dead_retention);
  auto part = [](const std::string& t) -> std::optional<std::chrono::milliseconds> {
    const auto ms = to_i64(t);
    if (ms <= 0) return std::nullopt;
    return std::chrono::milliseconds(ms);
  };
  return shortest(part(v.substr(0, space)), part(v.substr(space + 1)));
}

}  // namespace qg::sched::redis

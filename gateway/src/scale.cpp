// Scale recommendations; the model is described in scale.hpp.
#include "scale.hpp"

#include <algorithm>
#include <cstdio>

namespace qg::gateway {

namespace {

std::string seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::int64_t median(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

std::vector<ScaleRecommendation> recommend_scale(const ScaleInputs& in) {
  std::vector<ScaleRecommendation> out;
  const std::int64_t drain_ms = std::max<std::int64_t>(in.drain_target.count(), 1);
  for (auto target : {proto::Target::emulator, proto::Target::device, proto::Target::browserstack}) {
    ScaleRecommendation r;
    r.target = target;
    for (const auto& g : in.groups) {
      if (g.target != target) continue;
      r.queued_jobs += g.depth;
      ++r.queued_groups;
    }
    for (const auto& w : in.workers) {
      if (w.state == "lost" || std::find(w.targets.begin(), w.targets.end(), target) == w.targets.end()) continue;
      ++r.live_workers;
      if (w.state == "busy") ++r.busy_workers;
    }
    auto samples = in.recent_test_ms.find(target);
    if (samples != in.recent_test_ms.end() && !samples->second.empty()) {
      r.test_ms = median(samples->second);
      r.test_ms_measured = true;
      r.test_samples = samples->second.size();
    } else {
      r.test_ms = in.assumed_test.count();
    }
    r.install_ms = in.assumed_install.count();
    r.work_ms = static_cast<std::int64_t>(r.queued_jobs) * r.test_ms +
                static_cast<std::int64_t>(r.queued_groups) * r.install_ms;
    std::uint64_t needed = static_cast<std::uint64_t>((r.work_ms + drain_ms - 1) / drain_ms);
    needed = std::min(needed, r.queued_jobs);
    r.needed_workers = std::max(needed, r.busy_workers);
    r.change = static_cast<std::int64_t>(r.needed_workers) - static_cast<std::int64_t>(r.live_workers);

    std::string why = std::to_string(r.queued_jobs) + " queued jobs in " + std::to_string(r.queued_groups) + " groups" +
                      (in.queue_complete ? "" : " (more groups than were read: a lower bound)") + "; test " +
                      seconds(r.test_ms) +
                      (r.test_ms_measured ? " (median of " + std::to_string(r.test_samples) + " finished jobs)"
                                          : " (assumed: no finished job to measure)") +
                      ", install " + seconds(r.install_ms) + " per group (assumed); work " + seconds(r.work_ms) +
                      " / drain target " + seconds(drain_ms) + " -> " + std::to_string(needed) + " devices";
    if (r.busy_workers > needed) why += ", but " + std::to_string(r.busy_workers) + " are busy now";
    why += "; " + std::to_string(r.live_workers) + " live (" + std::to_string(r.busy_workers) + " busy) -> ";
    if (r.change > 0) {
      why += "add " + std::to_string(r.change);
    } else if (r.change < 0) {
      why += std::to_string(-r.change) + " idle could go";
    } else {
      why += "keep as is";
    }
    r.reasoning = std::move(why);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace qg::gateway

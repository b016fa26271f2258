// Scale recommendations; the model is described in scale.hpp.
#include "scale.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qg::gateway {

namespace {

std::string seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string test_source(const ScaleRecommendation& r) {
  if (!r.test_ms_measured) return " (assumed: no finished job to measure)";
  if (r.test_from_stats) {
    return " (measured: p50 of " + std::to_string(r.test_samples) + " runs in the last " + r.measured_window + ")";
  }
  return " (median of " + std::to_string(r.test_samples) + " finished jobs)";
}

std::string install_source(const ScaleRecommendation& r) {
  if (!r.install_ms_measured) return " (assumed: no install measured)";
  return " (measured: p50 of " + std::to_string(r.install_samples) + " installs in the last " + r.measured_window + ")";
}

std::int64_t median(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// p50s of one target's (org, target) records in one window, weighted by their sample counts.
struct Measured {
  std::int64_t test_ms = 0;
  std::uint64_t tests = 0;
  std::int64_t install_ms = 0;
  std::uint64_t installs = 0;
};

Measured measured(const std::vector<proto::FarmStat>& farm, proto::Target target, const std::string& window) {
  double test_sum = 0;
  double install_sum = 0;
  Measured m;
  for (const auto& f : farm) {
    if (f.target != target || f.window != window) continue;
    if (f.test_p50_ms > 0 && f.tests_run > 0) {
      test_sum += static_cast<double>(f.test_p50_ms) * static_cast<double>(f.tests_run);
      m.tests += f.tests_run;
    }
    if (f.installs > 0) {
      install_sum += static_cast<double>(f.install_p50_ms) * static_cast<double>(f.installs);
      m.installs += f.installs;
    }
  }
  if (m.tests > 0) m.test_ms = std::llround(test_sum / static_cast<double>(m.tests));
  if (m.installs > 0) m.install_ms = std::llround(install_sum / static_cast<double>(m.installs));
  return m;
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
    auto m = measured(in.farm, target, "hour");
    r.measured_window = "hour";
    if (m.tests == 0 && m.installs == 0) {
      m = measured(in.farm, target, "day");
      r.measured_window = "day";
    }
    if (m.tests == 0 && m.installs == 0) r.measured_window.clear();
    auto samples = in.recent_test_ms.find(target);
    if (m.tests > 0) {
      r.test_ms = m.test_ms;
      r.test_ms_measured = true;
      r.test_from_stats = true;
      r.test_samples = m.tests;
    } else if (samples != in.recent_test_ms.end() && !samples->second.empty()) {
      r.test_ms = median(samples->second);
      r.test_ms_measured = true;
      r.test_samples = samples->second.size();
    } else {
      r.test_ms = in.assumed_test.count();
    }
    if (m.installs > 0) {
      r.install_ms = m.install_ms;
      r.install_ms_measured = true;
      r.install_samples = m.installs;
    } else {
      r.install_ms = in.assumed_install.count();
    }
    r.work_ms = static_cast<std::int64_t>(r.queued_jobs) * r.test_ms +
                static_cast<std::int64_t>(r.queued_groups) * r.install_ms;
    std::uint64_t needed = static_cast<std::uint64_t>((r.work_ms + drain_ms - 1) / drain_ms);
    needed = std::min(needed, r.queued_jobs);
    r.needed_workers = std::max(needed, r.busy_workers);
    r.change = static_cast<std::int64_t>(r.needed_workers) - static_cast<std::int64_t>(r.live_workers);

    std::string why = std::to_string(r.queued_jobs) + " queued jobs in " + std::to_string(r.queued_groups) + " groups" +
                      (in.queue_complete ? "" : " (more groups than were read: a lower bound)") + "; test " +
                      seconds(r.test_ms) + test_source(r) + ", install " + seconds(r.install_ms) + " per group" +
                      install_source(r) + "; work " + seconds(r.work_ms) + " / drain target " + seconds(drain_ms) +
                      " -> " + std::to_string(needed) + " devices";
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

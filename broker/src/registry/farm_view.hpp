#pragma once
// What a broker knows of its farm between requests (private to qg_broker):
//   - when a worker counts as lost: not heard from for three heartbeats (its lease, if it held
//     one, then expires a little later; a record's last_seen reaches the store at most a
//     second late, hence the 2 s floor);
//   - which targets some live worker serves, and with which labels, sampled from the store's
//     registry (every broker's workers) every two seconds and topped up at once by this
//     broker's own HELLOs and PULLs, for the SUBMIT warning and `qgjob queue`'s mark;
//   - when this broker announces itself next (for `qgjob health --detailed`).
// Time is passed in; no I/O.

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "qg/proto/field_rules.hpp"
#include "qg/proto/messages.hpp"

namespace qg::broker {

class FarmView {
 public:
  static constexpr std::int64_t kSampleEveryMs = 2000;
  static constexpr std::int64_t kAnnounceTtlMs = 5000;

  explicit FarmView(std::int64_t heartbeat_ms) : lost_after_ms_(std::max<std::int64_t>(3 * heartbeat_ms, 2000)) {}

  std::int64_t lost_after_ms() const { return lost_after_ms_; }
  bool is_lost(const proto::WorkerInfo& w, std::int64_t now_ms) const {
    return now_ms - w.last_seen_ms > lost_after_ms_;
  }

  // The records as `qgjob workers` shows them: a silent one's state becomes "lost".
  void mark_lost(std::vector<proto::WorkerInfo>& workers, std::int64_t now_ms) const {
    for (auto& w : workers) {
      if (is_lost(w, now_ms)) w.state = "lost";
    }
  }

  // Live workers per target name (a worker serving two targets counts for each).
  std::map<std::string, std::uint64_t> live_per_target(const std::vector<proto::WorkerInfo>& workers,
                                                       std::int64_t now_ms) const {
    std::map<std::string, std::uint64_t> out;
    for (const auto& w : workers) {
      if (is_lost(w, now_ms) || w.state == "draining") continue;
      for (auto t : w.targets) ++out[std::string(proto::to_string(t))];
    }
    return out;
  }

  // Whether one of `workers` is live and serves `target` with labels holding every requirement
  // (for `qgjob queue`'s mark of a group).
  bool any_live_serves(const std::vector<proto::WorkerInfo>& workers, std::int64_t now_ms, proto::Target target,
                       const std::map<std::string, std::string>& requirements) const {
    return std::any_of(workers.begin(), workers.end(), [&](const proto::WorkerInfo& w) {
      return !is_lost(w, now_ms) && w.state != "draining" &&
             std::find(w.targets.begin(), w.targets.end(), target) != w.targets.end() &&
             proto::labels_satisfy(w.labels, requirements);
    });
  }

  bool sample_due(std::int64_t steady_ms) const { return !sampled_ || steady_ms >= next_sample_steady_ms_; }
  // Replaces the served targets with those of `workers` that are live.
  void take_sample(const std::vector<proto::WorkerInfo>& workers, std::int64_t now_ms, std::int64_t steady_ms) {
    served_ = 0;
    for (const auto& [target, count] : live_per_target(workers, now_ms)) {
      if (auto t = proto::parse_target(target)) served_ |= bit(*t);
    }
    labelled_.clear();
    for (const auto& w : workers) {
      if (!w.labels.empty() && !is_lost(w, now_ms) && w.state != "draining") note_serving(w.targets, w.labels);
    }
    sampled_ = true;
    next_sample_steady_ms_ = steady_ms + kSampleEveryMs;
  }
  // A worker of this broker said it serves `targets` just now.
  void note_serving(std::span<const proto::Target> targets) {
    for (auto t : targets) served_ |= bit(t);
  }
  // ... with these labels (a worker's own, from its HELLO or the registry).
  void note_serving(std::span<const proto::Target> targets, const std::map<std::string, std::string>& labels) {
    note_serving(targets);
    if (labels.empty()) return;
    std::uint32_t bits = 0;
    for (auto t : targets) bits |= bit(t);
    for (auto& known : labelled_) {
      if (known.labels == labels) {
        known.targets |= bits;
        return;
      }
    }
    labelled_.push_back({bits, labels});
  }
  // Whether some live worker serves `target` (true until a first sample says otherwise).
  bool serves(proto::Target target) const { return !sampled_ || (served_ & bit(target)) != 0; }
  // ... with labels holding every one of `requirements` (none: as serves(target)).
  bool serves(proto::Target target, const std::map<std::string, std::string>& requirements) const {
    if (requirements.empty() || !sampled_) return serves(target);
    return std::any_of(labelled_.begin(), labelled_.end(), [&](const LabelledWorkers& w) {
      return (w.targets & bit(target)) != 0 && proto::labels_satisfy(w.labels, requirements);
    });
  }

  bool announce_due(std::int64_t now_ms) const { return now_ms >= next_announce_ms_; }
  void announced(std::int64_t now_ms) { next_announce_ms_ = now_ms + kAnnounceTtlMs / 5; }

 private:
  static std::uint32_t bit(proto::Target t) { return 1U << static_cast<unsigned>(t); }

  std::int64_t lost_after_ms_;
  std::uint32_t served_ = 0;
  // Live workers with labels, one entry per distinct label set (the targets of all of them).
  struct LabelledWorkers {
    std::uint32_t targets = 0;
    std::map<std::string, std::string> labels;
  };
  std::vector<LabelledWorkers> labelled_;
  bool sampled_ = false;
  std::int64_t next_sample_steady_ms_ = 0;
  std::int64_t next_announce_ms_ = 0;
};

// The SUBMIT warning for jobs of `target` (with `requirements`) that no live worker serves.
inline std::string no_worker_warning(proto::Target target,
                                     const std::map<std::string, std::string>& requirements = {}) {
  std::string with;
  for (const auto& [k, v] : requirements) with += (with.empty() ? " with labels " : ",") + k + "=" + v;
  return "no live worker serves target " + std::string(proto::to_string(target)) + with +
         ": the jobs are queued and wait until one connects (see qgjob workers)";
}

}  // namespace qg::broker

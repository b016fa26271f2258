#pragma once
// How many jobs a worker's claim asks for (sched::ClaimRequest::max_jobs), so that idle
// devices share the tail of the work instead of one device running a whole group while the
// others wait.
//
// The rule is guided self-scheduling on the unfinished work:
//
//     max_jobs = max(min_jobs, ceil(unfinished / live workers))
//
// where `unfinished` counts every job not yet final that a worker may still have to run:
// queued, assigned, installing and running. Early on the share is larger than the store's
// group_max, so groups go whole and each build is installed once per device, as before. As the
// work runs out the share shrinks: a device that falls idle takes a piece that ends about when
// the busy devices end theirs. The store still chooses the group (rank first, then a build the
// worker already has), so a device that took part of a group usually takes the next part of the
// same group without a second install. Counting held jobs, not only queued ones, keeps pieces
// large while most of the work is still in flight (fewer installs for the same makespan);
// `min_jobs` keeps a build from being installed for one or two tests.
//
// Limits of the inputs: the counts are the store's, over all targets, and the workers are those
// this broker hears from. With several brokers, or targets served by different devices, the
// share is an estimate; an error only moves the split point (more or fewer installs), never
// correctness: a claim is still one group's head under one lease, and rank order still wins.
//
// Cost: the counts are sampled at most once per `refresh` (one JobStore::stats() call, never
// on every submit) and the workers counted as often. Jobs this broker submits are added to
// the last sample as they go (and claims made in the same round trip count them), so an idle
// farm does not cut newly arrived work into min_jobs pieces from a stale zero.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "qg/scheduler/job_store.hpp"

namespace qg::broker {

struct ClaimPolicySettings {
  std::uint32_t min_jobs = 5;                    // never ask for fewer; 0 or 1 = no floor
  std::chrono::milliseconds refresh{250};        // counts older than this are sampled again
  std::chrono::milliseconds worker_stale{3000};  // a worker silent this long is not counted
};

// The rule above. 0 (= the store's group_max: whole groups) when there is no worker to share
// with. Saturates at the largest std::uint32_t.
std::uint32_t fair_share(std::uint64_t unfinished_jobs, std::uint64_t workers, std::uint32_t min_jobs);

// queued + assigned + installing + running, from a by_status count map (names as
// proto::to_string(JobStatus)). Missing entries count 0.
std::uint64_t unfinished_jobs(const std::map<std::string, std::uint64_t>& by_status);

// Remembers the last sample and turns it into max_jobs. Time is passed in. One thread at a
// time (the broker's loop).
class ClaimSizer {
 public:
  struct Sample {
    std::uint64_t unfinished_jobs = 0;
    std::uint64_t workers = 0;
  };

  explicit ClaimSizer(ClaimPolicySettings settings = {}) : settings_(settings) {}

  // max_jobs for a claim at `now_ms` (steady clock). Calls `take_sample` when there is no
  // sample yet or the last is older than refresh. When take_sample
  // throws (the store is unreachable) the error is swallowed and 0 (whole groups) is returned
  // until a sample succeeds; the next attempt waits for refresh too. `unsampled_jobs`: jobs
  // known to be on their way into the store that the sample cannot have seen yet (a submit
  // applied in the same round trip as this claim); counted for this answer only.
  std::uint32_t max_jobs(std::int64_t now_ms, const std::function<Sample()>& take_sample,
                         std::uint64_t unsampled_jobs = 0);

  // Jobs submitted through this broker since the last sample: counted from now until the
  // next sample, which sees them in the store.
  void add_submitted(std::uint64_t jobs) {
    if (sample_) sample_->unfinished_jobs += jobs;
  }

  const std::optional<Sample>& last_sample() const { return sample_; }

 private:
  ClaimPolicySettings settings_;
  std::optional<Sample> sample_;
  std::int64_t sampled_ms_ = 0;
  bool tried_ = false;
};

// Counts the workers in a broker's registry (a map whose values have `.info`, a
// proto::WorkerInfo) that were heard from within `stale_after_ms` of `now_ms` (unix ms) and are
// not draining.
template <class Records>
std::uint64_t count_live_workers(const Records& records, std::int64_t now_ms, std::int64_t stale_after_ms) {
  std::uint64_t n = 0;
  for (const auto& entry : records) {
    const auto& info = entry.second.info;
    if (now_ms - info.last_seen_ms <= stale_after_ms && info.state != "draining") ++n;
  }
  return n;
}

// The max_jobs to put into a claim: samples `store.stats(now_ms)` (`now_ms` as the store's
// callers pass it) and `count_workers()` through the broker's ClaimSizer when they are
// due by the steady clock (the refresh bounds a cost, so it is measured in real time even under
// a test clock). `submitting`: jobs of a submit batch applied in the same store round trip as
// this claim, counted for this answer (the caller then adds them with add_submitted()).
// Never throws for an unreachable store (whole groups then).
std::uint32_t claim_max_jobs(ClaimSizer& sizer, sched::JobStore& store, std::int64_t now_ms,
                             const std::function<std::uint64_t()>& count_workers, std::uint64_t submitting = 0);

}  // namespace qg::broker

#pragma once
// Queue position and expected finish (ETA) of jobs, from the timing history
// (qg/scheduler/timing_history.hpp), the queue ahead and the live workers of each target; what
// STATUS answers (proto::JobEta). A first model, stated so that it can be judged:
//
//   - a test's expected duration is the mean of its own history, else the median of its org's
//     tests on its target, else EtaSettings::unknown_test; an install's is the mean of its
//     build's installs on the target, else of the org's installs there, else 0;
//   - the target's W live workers (heard from within lost_after, not draining) are busy with
//     the jobs their leases still hold, each at its org's mean test duration (in flight);
//   - work ahead of a queued job = in flight + for each claimable group ranked before its
//     group, its queued jobs times its org's mean test duration on the target plus one install;
//     then, in its own group, one install plus the expected durations of the jobs claims take
//     before it (before);
//   - while fewer groups are ahead than idle workers, its group starts at once, split as the
//     claim sizer would (a claim takes max(5, queued jobs / W), over the idle workers left):
//     eta = install + before / parts + own; otherwise the work ahead is shared by all W:
//     eta = work ahead / W + install + before + own, own being its expected duration;
//   - a claimed job: its expected duration (plus an install while assigned or installing) less
//     the time it has been running, never below 0.
//
// Bounded work per call: each target's ranked groups and their expected work (and the worker
// registry with them) are read at most once per EtaSettings::cache_for (the first groups_max
// groups; beyond them nothing is counted), and once more within it when a job's group is not
// among them (it may have come since),
// a group's own queue (its ids, their jobs and their tests' history) at most once per call and
// to group_jobs_max entries; and one pipelined history read per call. Not thread-safe: one
// estimator per broker loop.

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "qg/proto/messages.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched {

struct EtaSettings {
  std::chrono::milliseconds cache_for{1000};       // a target's queue-ahead figures live this long
  std::size_t groups_max = 1000;                   // ranked groups read per target
  std::size_t group_jobs_max = 2000;               // a group's queued jobs read to place a job in it
  std::chrono::milliseconds unknown_test{60'000};  // a test of an org and target with no history
  std::chrono::milliseconds lost_after{3000};      // a worker not heard from this long is not counted
};

struct EtaAnswer {
  std::vector<proto::JobEta> jobs;            // one per job not final, in the order given
  std::optional<std::uint64_t> queued_ahead;  // the least of jobs'
  std::optional<std::int64_t> eta_ms;         // the latest of jobs' (absent when one has none)
};

class EtaEstimator {
 public:
  explicit EtaEstimator(EtaSettings settings = {}) : settings_(settings) {}

  // Throws what the store's reads throw.
  EtaAnswer estimate(JobStore& store, std::span<const proto::Job> jobs, std::int64_t now_ms);

 private:
  struct RankedGroup {
    std::string key;
    std::uint64_t queued = 0;
    std::uint64_t jobs_before = 0;  // queued jobs of the groups ranked before it
    double work_before_ms = 0;      // their expected work
    double test_ms = 0;             // its org's mean test duration on the target
    double install_ms = 0;          // its build's expected install
  };
  struct TargetView {
    std::int64_t read_at_ms = 0;
    std::vector<RankedGroup> groups;
    std::map<std::string, std::size_t> index;  // group key -> position in groups
    std::uint64_t jobs = 0;                    // queued jobs of all groups read
    double work_ms = 0;                        // their expected work
    std::uint64_t workers = 0;                 // live workers serving the target
    std::uint64_t idle = 0;                    // of them, those holding no lease
    double in_flight_ms = 0;                   // expected work the busy ones still hold
  };
  // The cached view of a target, read afresh when older than cache_for or `again`.
  const TargetView& target_view(JobStore& store, proto::Target target, std::int64_t now_ms, bool again);

  EtaSettings settings_;
  std::map<proto::Target, TargetView> targets_;
  std::vector<proto::WorkerInfo> workers_;  // the registry's live records, read with the views
  std::int64_t workers_read_at_ms_ = 0;
  bool workers_read_ = false;
};

}  // namespace qg::sched

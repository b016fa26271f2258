#pragma once
// The Scheduler owns time: it expires leases of workers that stopped renewing them (their
// unfinished jobs go back to their queue, or end when out of attempts), and makes due work
// claimable (retries whose back-off passed, groups whose batching window closed), and deletes
// jobs past their retention, a small batch per store call. Every
// transition is one atomic store operation, so several schedulers may run against one
// Redis: each lease is expired by exactly one of them.
//
// Time is injected; tick() does one round and returns. Not thread-safe: one owner thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <spdlog/logger.h>

#include "qg/common/clock.hpp"
#include "qg/scheduler/events.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched {

struct SchedulerSettings {
  std::chrono::milliseconds max_idle{50};  // longest pause between rounds when nothing is due
  std::size_t batch = 256;                 // leases expired / items promoted per store call
  // Jobs deleted by retention per store call: small, so that one call holds Redis for about
  // a millisecond at most; the next round comes at once while more are due.
  std::size_t sweep_batch = 50;
  // Who this scheduler is, announced in the store every announce_ttl / 3 for announce_ttl
  // (health counts the schedulers whose announcement has not lapsed). Empty id: not announced.
  proto::ProcessInfo self;
  std::chrono::milliseconds announce_ttl{5000};
  // A worker record not written for this long (its worker stopped speaking to every broker) is
  // moved to the forgotten ones; forgotten and departed records are dropped after
  // departed_kept. 0 = never forget.
  std::chrono::milliseconds forget_workers_after{10 * 60 * 1000};
  std::chrono::milliseconds departed_kept{7LL * 24 * 60 * 60 * 1000};
};

struct SchedulerCounters {
  std::uint64_t rounds = 0;
  std::uint64_t leases_expired = 0;
  std::uint64_t jobs_requeued = 0;
  std::uint64_t jobs_ended = 0;  // out of attempts after a lost worker
  std::uint64_t promoted = 0;
  std::uint64_t store_failures = 0;
  std::uint64_t jobs_deleted = 0;  // by retention
  std::uint64_t workers_forgotten = 0;
};

// This process as an announcement names it: `id`, the host's name, the pid, started at
// `now_ms` (unix ms).
proto::ProcessInfo this_process(std::string id, std::int64_t now_ms);

class Scheduler {
 public:
  Scheduler(JobStore& store, const Clock& clock, EventPublisher& events, SchedulerSettings settings,
            std::shared_ptr<spdlog::logger> logger);

  // One round. Returns how long the caller may wait before the next round. Never throws for
  // a store failure (unreachable, or an unexpected error reply): counts it, logs it and
  // returns max_idle.
  std::chrono::milliseconds tick();

  const SchedulerCounters& counters() const { return counters_; }

 private:
  JobStore& store_;
  const Clock& clock_;
  EventPublisher& events_;
  SchedulerSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  // The registry's upkeep, done when due (clock ms): announcing this scheduler and forgetting
  // silent workers. Part of tick(); a failure there is the round's failure.
  void upkeep(std::int64_t now);

  SchedulerCounters counters_;
  bool store_down_ = false;
  bool retention_published_ = false;
  std::int64_t next_announce_ms_ = 0;
  std::int64_t next_sweep_ms_ = 0;
};

}  // namespace qg::sched

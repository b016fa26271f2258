#include "qg/scheduler/scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>

#include "qg/common/errors.hpp"

namespace qg::sched {

proto::ProcessInfo this_process(std::string id, std::int64_t now_ms) {
  proto::ProcessInfo self;
  self.id = std::move(id);
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) == 0) self.host = host.data();
  self.pid = ::getpid();
  self.started_at_ms = now_ms;
  return self;
}

Scheduler::Scheduler(JobStore& store, const Clock& clock, EventPublisher& events, SchedulerSettings settings,
                     std::shared_ptr<spdlog::logger> logger)
    : store_(store), clock_(clock), events_(events), settings_(settings), log_(std::move(logger)) {}

std::chrono::milliseconds Scheduler::tick() {
  ++counters_.rounds;
  try {
    const auto now = clock_.now_ms();
    bool more = false;
    if (!retention_published_) {
      store_.publish_retention();
      retention_published_ = true;
    }

    auto expired = store_.expire_leases(now, settings_.batch);
    more |= expired.size() >= settings_.batch;
    for (const auto& lease : expired) {
      ++counters_.leases_expired;
      log_->warn("lease {} of worker {} expired: {} unfinished job(s) handled", lease.lease_id, lease.worker_id,
                 lease.jobs.size());
      proto::WorkerEvent lost;
      lost.worker_id = lease.worker_id;
      lost.state = "lost";
      lost.lease_id = lease.lease_id;
      lost.at_ms = now;
      events_.worker(std::move(lost));
      for (const auto& job : lease.jobs) {
        if (proto::is_final(job.status)) {
          ++counters_.jobs_ended;
        } else {
          ++counters_.jobs_requeued;
        }
        events_.job_status(job, now, "worker " + lease.worker_id + " lost");
      }
    }

    upkeep(now);

    auto promoted = store_.promote_due(now, settings_.batch);
    counters_.promoted += promoted;
    more |= promoted >= settings_.batch;

    auto swept = store_.sweep_retention(now, settings_.sweep_batch);
    counters_.jobs_deleted += swept.deleted;
    more |= swept.more;

    if (store_down_) {
      log_->info("store reachable again");
      store_down_ = false;
    }
    if (more) return std::chrono::milliseconds(0);
    auto next = store_.next_due_ms();
    if (!next) return settings_.max_idle;
    auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, *next - clock_.now_ms()));
    return std::min(wait, settings_.max_idle);
  } catch (const StoreUnavailable& e) {
    ++counters_.store_failures;
    if (!store_down_) log_->error("store unreachable, will keep retrying: {}", e.what());
    store_down_ = true;
    return settings_.max_idle;
  } catch (const StoreError& e) {
    // An unexpected error reply: this round is lost, the next one tries again. Every
    // transition is one atomic script, so a failed round changed nothing half-way.
    ++counters_.store_failures;
    log_->error("scheduling round failed: {}", e.what());
    return settings_.max_idle;
  }
}

void Scheduler::upkeep(std::int64_t now) {
  if (!settings_.self.id.empty() && now >= next_announce_ms_) {
    auto self = settings_.self;
    self.expires_at_ms = now + settings_.announce_ttl.count();
    store_.announce("scheduler", self, now);
    next_announce_ms_ = now + std::max<std::int64_t>(settings_.announce_ttl.count() / 3, 1);
  }
  const auto forget_after = settings_.forget_workers_after.count();
  if (forget_after > 0 && now >= next_sweep_ms_) {
    // Every tenth of the delay (1 s to 30 s): a silent worker is forgotten at most 10 % late,
    // and the registry (O(workers)) is read rarely.
    next_sweep_ms_ = now + std::clamp<std::int64_t>(forget_after / 10, 1000, 30000);
    for (const auto& id : store_.sweep_workers(now - forget_after, now - settings_.departed_kept.count())) {
      ++counters_.workers_forgotten;
      log_->info("worker {} forgotten: not heard from for {} ms", id, forget_after);
    }
  }
}

}  // namespace qg::sched

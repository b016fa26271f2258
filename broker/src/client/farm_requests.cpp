// The farm as clients see and steer it: WORKERS (live records, a silent one shown "lost", a
// quarantined one "quarantined"; with `all` the departed ones too; `unquarantine` ends a
// quarantine), DRAIN_WORKER and FORGET_WORKER (operators only: local or admin), HEALTH (ok only
// while the store answers and, unless this broker runs the scheduler itself, some scheduler's
// announcement is alive), and refresh_farm(), the loop's upkeep of what FarmView samples.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "client/org_view.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/errors.hpp"
#include "registry/farm_view.hpp"
#include "routing.hpp"

namespace qg::broker {

namespace {

constexpr std::uint32_t kOldestAgeGroups = 100;  // groups read for the oldest queued job's age
constexpr double kMemoryWarnFraction = 0.8;

std::string percent(double fraction) { return std::to_string(static_cast<int>(fraction * 100 + 0.5)) + " %"; }

}  // namespace

void Broker::handle_workers(const Incoming& in) {
  auto request = decode<proto::WorkersRequest>(in);
  if (!request) return;
  proto::WorkersReply reply;
  reply.rid = request->rid;
  if (!request->unquarantine.empty()) {
    // Ending a quarantine puts a device back to work for every org: an administrator's call.
    if (!sees_every_org(in.peer)) {
      reject(in, {std::string(proto::errc::forbidden), "only an admin key may end a quarantine", "unquarantine"});
      return;
    }
    reply.unquarantined = store().unquarantine(request->unquarantine);
    if (reply.unquarantined) {
      log_->info("worker {}: quarantine ended by an operator", request->unquarantine);
      publish_worker_health(request->unquarantine, "healthy", in.now);
    }
  }
  reply.workers = store().workers();
  show_quarantines(reply.workers);
  farm_->mark_lost(reply.workers, in.now);  // a silent worker is lost, quarantined or not
  if (request->all) {
    std::set<std::string> live;
    for (const auto& w : reply.workers) live.insert(w.worker_id);
    for (auto& w : store().departed_workers()) {
      if (!live.contains(w.worker_id)) reply.workers.push_back(std::move(w));
    }
    std::sort(reply.workers.begin(), reply.workers.end(),
              [](const auto& a, const auto& b) { return a.worker_id < b.worker_id; });
  }
  for (auto& worker : reply.workers) redact_worker(worker, in.peer);
  reply_client(in.identity, reply);
}

void Broker::handle_drain_worker(const Incoming& in) {
  auto request = decode<proto::DrainWorkerRequest>(in);
  if (!request) return;
  if (!sees_every_org(in.peer)) {
    reject(in, {std::string(proto::errc::forbidden), "only an admin key may drain a worker", "worker_id"});
    return;
  }
  const auto& id = request->worker_id;
  auto bound = worker_bindings_.find(id);
  if (bound == worker_bindings_.end()) {
    // Not connected here: it may be connected to another broker, be lost, or be unknown.
    auto workers = store().workers();
    auto known = std::find_if(workers.begin(), workers.end(), [&](const auto& w) { return w.worker_id == id; });
    if (known == workers.end()) {
      reject(in, {std::string(proto::errc::not_found), "no worker " + id + " is registered", "worker_id"});
    } else if (farm_->is_lost(*known, in.now)) {
      reject(in,
             {std::string(proto::errc::conflict),
              "worker " + id + " is lost (not heard from for " + std::to_string((in.now - known->last_seen_ms) / 1000) +
                  " s): it cannot be told to drain; forget it instead",
              "worker_id"});
    } else {
      reject(in,
             {std::string(proto::errc::conflict),
              "worker " + id + " is connected to another broker: send the drain request to that broker", "worker_id"});
    }
    return;
  }
  proto::DrainRequested drain;
  drain.reason = "an operator asked for it";
  if (!send_routed(workers_, bound->second.identity, proto::kWorkerProtocol, proto::DrainRequested::command,
                   proto::encode(drain))) {
    ++counters_.unroutable;
    reject(in, {std::string(proto::errc::conflict), "worker " + id + " has just disconnected", "worker_id"});
    return;
  }
  unread_[kWorkers] = true;  // a send may consume the socket's read notification
  worker_record(id).state = "draining";
  log_->info("worker {} asked to drain (by an operator)", id);
  proto::DrainWorkerReply reply;
  reply.rid = request->rid;
  reply.worker_id = id;
  reply_client(in.identity, reply);
}

void Broker::handle_forget_worker(const Incoming& in) {
  auto request = decode<proto::ForgetWorkerRequest>(in);
  if (!request) return;
  if (!sees_every_org(in.peer)) {
    reject(in, {std::string(proto::errc::forbidden), "only an admin key may forget a worker", "worker_id"});
    return;
  }
  const auto& id = request->worker_id;
  auto workers = store().workers();
  auto known = std::find_if(workers.begin(), workers.end(), [&](const auto& w) { return w.worker_id == id; });
  if (known == workers.end()) {
    reject(in, {std::string(proto::errc::not_found), "no worker " + id + " is registered", "worker_id"});
    return;
  }
  if (!farm_->is_lost(*known, in.now)) {
    reject(in, {std::string(proto::errc::conflict),
                "worker " + id + " was heard from " + std::to_string((in.now - known->last_seen_ms) / 1000) +
                    " s ago: it is live; drain it first (qgjob workers drain " + id + ")",
                "worker_id"});
    return;
  }
  (void)store().retire_worker(id, "forgotten");
  worker_records_.erase(id);
  worker_bindings_.erase(id);
  log_->info("worker {} forgotten (by an operator)", id);
  proto::ForgetWorkerReply reply;
  reply.rid = request->rid;
  reply.worker_id = id;
  reply_client(in.identity, reply);
}

void Broker::handle_health(const Incoming& in) {
  auto request = decode<proto::HealthRequest>(in);
  if (!request) return;
  proto::HealthReply reply;
  reply.rid = request->rid;
  reply.store = settings_.store_kind;
  reply.version = settings_.version;
  reply.broker_id = settings_.broker_id;
  reply.uptime_ms = steady_ms() - started_steady_ms_;
  const bool operator_view = sees_every_org(in.peer);
  try {
    reply.store_reachable = store().ping();
    if (reply.store_reachable) {
      auto schedulers = store().announced("scheduler", in.now);
      reply.schedulers_alive = static_cast<std::uint32_t>(schedulers.size());
      // The depth of every org's queue together: not an org key's to see.
      if (operator_view) reply.queue_depth = store().queue_depth();
      if (operator_view && request->detailed) {
        reply.schedulers = std::move(schedulers);
        reply.brokers = store().announced("broker", in.now);
        reply.live_workers = farm_->live_per_target(store().workers(), in.now);
        auto page = store().queue("", kOldestAgeGroups, in.now);
        for (const auto& group : page.groups) {
          reply.oldest_queued_age_ms = std::max(reply.oldest_queued_age_ms, group.oldest_age_ms);
          const auto target = std::string(proto::to_string(group.target));
          if (!reply.live_workers.contains(target)) {
            const auto warning = "jobs are queued for target " + target + ", which no live worker serves";
            if (std::find(reply.warnings.begin(), reply.warnings.end(), warning) == reply.warnings.end()) {
              reply.warnings.push_back(warning);
            }
          }
        }
        if (auto memory = store().memory_use()) {
          reply.store_used_bytes = memory->used_bytes;
          reply.store_max_bytes = memory->max_bytes;
          const double used = memory->max_bytes == 0
                                  ? 0.0
                                  : static_cast<double>(memory->used_bytes) / static_cast<double>(memory->max_bytes);
          if (used > kMemoryWarnFraction) {
            reply.warnings.push_back("Redis memory is at " + percent(used) +
                                     " of maxmemory: at the limit, submits are refused; shorten the retention or "
                                     "raise maxmemory");
          }
        }
      }
    }
  } catch (const StoreUnavailable& e) {
    reply.store_reachable = false;
    reply.detail = std::string("store unreachable: ") + e.what();
  }
  // The embedded scheduler runs in this very loop, so it is alive while this answers.
  const bool scheduler_alive = settings_.embedded_scheduler || reply.schedulers_alive > 0;
  reply.ok = reply.store_reachable && scheduler_alive;
  if (!reply.store_reachable && reply.detail.empty()) reply.detail = "store unreachable";
  if (reply.store_reachable && !scheduler_alive) {
    reply.detail =
        "no qg-scheduler is alive (none announced itself in the last " +
        std::to_string(FarmView::kAnnounceTtlMs / 1000) +
        " s): leases of lost workers do not expire, batching windows do not close and retries wait; start qg-scheduler";
  }
  reply_client(in.identity, reply);
}

void Broker::refresh_farm() {
  const auto now = clock_.now_ms();
  const auto steady = steady_ms();
  if (!farm_->announce_due(now) && !farm_->sample_due(steady)) return;
  try {
    if (farm_->announce_due(now)) {
      auto self = self_;
      self.expires_at_ms = now + FarmView::kAnnounceTtlMs;
      store().announce("broker", self, now);
      farm_->announced(now);
    }
    if (farm_->sample_due(steady)) {
      farm_->take_sample(store().workers(), now, steady);
      // This broker's own records of workers gone silent for good are dropped, so that the
      // map does not grow with every worker that ever connected.
      const auto forget = settings_.forget_workers_after.count();
      if (forget > 0) {
        std::erase_if(worker_records_,
                      [&](const auto& entry) { return now - entry.second.info.last_seen_ms > forget; });
      }
    }
  } catch (const StoreUnavailable&) {
    ++counters_.store_unavailable;
    farm_->announced(now);  // tried: not again before the next slot
  }
}

}  // namespace qg::broker

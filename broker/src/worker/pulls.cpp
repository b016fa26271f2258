// Claims for pulls: the round's PULLs are claimed for in one store call (flush_pulls); a pull
// that finds nothing is held until work may have come (serve_held_pulls, on a store wakeup or
// a local change) or answered NOWORK at its deadline (expire_held_pulls). A claimed group goes
// to its worker as ASSIGN (send_assign); a group whose worker has gone is handed back at once.
// How much of a group a claim asks for is claim_policy.hpp's.
#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "claim_policy.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/zmq_util.hpp"
#include "routing.hpp"

namespace qg::broker {

bool Broker::try_assign(const std::string& identity, const proto::Pull& pull) {
  const auto now = clock_.now_ms();
  auto claim = store().claim_group(claim_request(pull, now, 0), now);
  if (!claim) return false;
  deliver(identity, pull, *claim, now);
  return true;
}

sched::ClaimRequest Broker::claim_request(const proto::Pull& pull, std::int64_t now, std::uint64_t submitting) {
  sched::ClaimRequest request;
  request.worker_id = pull.worker_id;
  request.targets = pull.targets;
  request.installed = pull.installed;
  request.max_jobs = claim_size(now, submitting);
  // Labels from the worker's own HELLO (admitted on its connection), never from the pull.
  if (auto it = worker_records_.find(pull.worker_id); it != worker_records_.end())
    request.labels = it->second.info.labels;
  return request;
}

std::uint32_t Broker::claim_size(std::int64_t now, std::uint64_t submitting) {
  if (settings_.claim_min_jobs == 0) return 0;  // whole groups
  return claim_max_jobs(
      *claim_sizer_, store_, now,
      [&] { return count_live_workers(worker_records_, now, 3 * settings_.heartbeat.count()); }, submitting);
}

void Broker::deliver(const std::string& identity, const proto::Pull& pull, const sched::Claim& claim,
                     std::int64_t now) {
  if (send_assign(identity, pull, claim, now)) announce_assigned(claim, now);
}

void Broker::announce_assigned(const sched::Claim& claim, std::int64_t now) {
  if (!has_subscribers()) return;
  for (const auto& job : claim.jobs) events_->job_status(job, now);
}

bool Broker::send_assign(const std::string& identity, const proto::Pull& pull, const sched::Claim& found,
                         std::int64_t now) {
  const auto* claim = &found;
  note_lease_deadline(claim->lease_id, now);  // the claim set it a lease ahead
  proto::Assign assign;
  assign.rid = pull.rid;
  assign.lease_id = claim->lease_id;
  assign.group_key = claim->group_key;
  assign.org_id = claim->org_id;
  assign.app_version_id = claim->app_version_id;
  assign.target = claim->target;
  assign.reinstall = false;
  for (const auto& job : claim->jobs) {
    proto::AssignedJob assigned;
    assigned.job_id = job.id;
    assigned.test_path = job.test_path;
    assigned.attempt = job.attempt;
    assigned.priority = job.priority;
    assign.jobs.push_back(std::move(assigned));
  }
  ++counters_.groups_assigned;
  if (!send_routed(workers_, identity, proto::kWorkerProtocol, proto::Assign::command, proto::encode(assign))) {
    // The worker went away between its pull and this answer. Its lease will expire and the
    // scheduler will requeue the jobs; hand them back now instead of waiting.
    ++counters_.unroutable;
    std::vector<std::string> ids;
    for (const auto& job : claim->jobs) ids.push_back(job.id);
    store().release(pull.worker_id, claim->lease_id, ids, now);
    work_maybe_available_ = true;
    log_->warn("worker {} vanished before its group {} was delivered; released it", pull.worker_id, claim->group_key);
    return false;
  }
  log_->debug("assigned group {} ({} job(s)) to {} under lease {}", claim->group_key, claim->jobs.size(),
              pull.worker_id, claim->lease_id);
  return true;
}

void Broker::flush_pulls() {
  if (pending_pulls_.empty()) return;
  auto batch = std::move(pending_pulls_);
  pending_pulls_.clear();
  const auto now = clock_.now_ms();
  std::vector<sched::ClaimRequest> requests;
  requests.reserve(batch.size());
  for (const auto& p : batch) requests.push_back(claim_request(p.pull, now, 0));
  std::vector<std::optional<sched::Claim>> claims;
  std::vector<BatchPeer> peers;
  for (const auto& p : batch) peers.push_back({&p.identity, &p.pull.rid});
  // Workers pull again; UNAVAILABLE tells them to back off first.
  if (!batch_store_call(workers_, proto::kWorkerProtocol, "PULL", peers,
                        [&] { claims = store().submit_and_claim({}, requests, now).claims; })) {
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (i < claims.size() && claims[i]) {
      deliver(p.identity, p.pull, *claims[i], now);
    } else if (p.pull.wait_ms == 0) {
      proto::NoWork none;
      none.rid = p.pull.rid;
      reply_worker(p.identity, none);
    } else {
      held_pulls_.push_back(std::move(p));
    }
  }
}

void Broker::serve_held_pulls() {
  // One claim attempt per held pull per wakeup, oldest first; stop early once claims come
  // back empty for every target combination already tried.
  if (held_pulls_.empty()) return;
  std::deque<HeldPull> still_waiting;
  std::vector<std::vector<proto::Target>> exhausted;
  while (!held_pulls_.empty()) {
    auto held = std::move(held_pulls_.front());
    held_pulls_.pop_front();
    bool known_empty = std::any_of(exhausted.begin(), exhausted.end(), [&](const auto& targets) {
      return std::all_of(held.pull.targets.begin(), held.pull.targets.end(), [&](proto::Target t) {
        return std::find(targets.begin(), targets.end(), t) != targets.end();
      });
    });
    if (!known_empty) {
      try {
        if (try_assign(held.identity, held.pull)) continue;
      } catch (const StoreUnavailable& e) {
        ++counters_.store_unavailable;
        still_waiting.push_back(std::move(held));
        continue;
      }
      exhausted.push_back(held.pull.targets);
    }
    still_waiting.push_back(std::move(held));
  }
  held_pulls_ = std::move(still_waiting);
}

void Broker::expire_held_pulls() {
  const auto now = steady_ms();
  while (!held_pulls_.empty()) {
    auto it = std::find_if(held_pulls_.begin(), held_pulls_.end(),
                           [&](const HeldPull& held) { return held.deadline_steady_ms <= now; });
    if (it == held_pulls_.end()) break;
    proto::NoWork none;
    none.rid = it->pull.rid;
    reply_worker(it->identity, none);
    held_pulls_.erase(it);
  }
}

}  // namespace qg::broker

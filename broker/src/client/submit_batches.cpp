// SUBMIT, applied against the store in batches: handle_submit() queues a submission, and
// flush_submits() writes the queue with one store call, either sent off while the loop reads
// on (send_submits, answered by answer_sent_submits() once its results are in) or, when held
// pulls may take the new work, together with their claims (submit_and_claim). A reply goes
// out only after the store made the jobs durable. Every other store call goes through
// store(), which first answers the batches still out, so replies and events keep the order
// of the store's changes.
#include <algorithm>
#include <string>
#include <vector>

#include "claim_policy.hpp"
#include "qg/common/errors.hpp"
#include "registry/farm_view.hpp"
#include "routing.hpp"

namespace qg::broker {

namespace {

// A submit batch is sent once it holds this many jobs (bounds one script's run time in Redis).
constexpr std::size_t kMaxSubmitBatchJobs = 2000;
// Submits go to the store while the next ones are read: a batch is sent once it holds this
// many submissions, so that Redis works on it while the broker reads the rest of the round,
// with up to kMaxSubmitsInFlight batches out (then the broker waits for the oldest). Larger
// batches cost Redis less per submission (the script's fixed part); smaller ones overlap
// more. 24 did best of 16, 24, 32 and 48 with 50 single-job submits in flight.
constexpr std::size_t kSubmitChunk = 24;
constexpr std::size_t kMaxSubmitsInFlight = 4;

}  // namespace

void Broker::handle_submit(const Incoming& in) {
  auto request = decode<proto::SubmitRequest>(in);
  if (!request) return;
  // The org, and with it the tier its jobs rank by, is the key's: an org key submits for its
  // own org only.
  if (!in.peer.acts_for_org(request->org_id)) {
    reject(in,
           {std::string(proto::errc::forbidden),
            "this key may submit for org " + std::string(in.peer.id()) + " only, not " + request->org_id, "org_id"});
    return;
  }
  // Past the check above the org is the key's (or one an admin or a local peer names).
  if (!admit(in, request->rid, request->org_id, request->tests.size())) return;  // over a quota or rate
  sched::NewSubmission submission;
  submission.submission_id = ids_.next(in.now);
  submission.org_id = std::move(request->org_id);
  submission.app_version_id = std::move(request->app_version_id);
  submission.priority = request->priority;
  submission.target = request->target;
  submission.idempotency_key = std::move(request->idempotency_key);
  submission.retries = request->retries;
  submission.max_attempts = request->max_attempts;
  if (request->requirements) submission.requirements = std::move(*request->requirements);
  submission.test_paths = std::move(request->tests);
  submission.job_ids.reserve(submission.test_paths.size());
  for (std::size_t i = 0; i < submission.test_paths.size(); ++i) submission.job_ids.push_back(ids_.next(in.now));
  // The reply goes out only after the store made the jobs durable (promise 1): the
  // submission waits for the end of this loop round, then the whole batch is written with
  // one store call and answered (flush_submits).
  pending_submit_jobs_ += submission.job_ids.size();
  pending_submits_.push_back({in.identity, std::move(request->rid), std::move(submission)});
  if (pending_submit_jobs_ >= kMaxSubmitBatchJobs ||
      (pending_submits_.size() >= kSubmitChunk && store_.submits_in_flight() < kMaxSubmitsInFlight)) {
    flush_submits();
  }
}

sched::JobStore& Broker::store() {
  settle_submits();
  return store_;
}

void Broker::settle_submits() {
  while (store_.submits_in_flight() > 0) answer_sent_submits(true);
}

void Broker::answer_sent_submits(bool wait) {
  // Without `wait`, only what is in; with it, at least the oldest batch.
  for (bool first = true; !sent_submits_.empty(); first = false) {
    auto done = store_.take_submits(wait && first);
    if (!done) return;
    auto batch = std::move(sent_submits_.front());
    sent_submits_.pop_front();
    if (done->failure != sched::JobStore::SentSubmits::Failure::none) {
      std::vector<BatchPeer> peers;
      for (const auto& p : batch.peers) peers.push_back({&p.identity, &p.rid});
      using F = sched::JobStore::SentSubmits::Failure;
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers,
                 done->failure == F::unavailable ? StoreFailure::unavailable
                 : done->failure == F::full      ? StoreFailure::full
                                                 : StoreFailure::internal,
                 done->error);
      continue;
    }
    note_store_reachable();
    answer_submits(batch.peers, done->submissions, done->results, batch.now);
  }
}

void Broker::answer_submits(std::span<const SubmitPeer> peers, std::span<const sched::NewSubmission> submissions,
                            std::span<sched::SubmitResult> results, std::int64_t now) {
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& p = peers[i];
    const auto& s = submissions[i];
    if (i >= results.size() || !results[i].outcome) {
      const std::string why = i < results.size() ? results[i].error : "no result";
      log_->error("internal error serving SUBMIT: {}", why);
      error_to(clients_, proto::kClientProtocol, p.identity, p.rid, proto::errc::internal, "internal error: " + why);
      continue;
    }
    // The outcome is answered once: its ids move into the reply.
    auto& outcome = *results[i].outcome;
    proto::SubmitReply reply;
    reply.rid = p.rid;
    reply.submission_id = std::move(outcome.submission_id);
    reply.job_ids = std::move(outcome.job_ids);
    reply.duplicate = outcome.duplicate;
    if (!farm_->serves(s.target, s.requirements)) reply.warning = no_worker_warning(s.target, s.requirements);
    // Counted before the reply goes out: whoever reads the counters after the reply sees it.
    if (!reply.duplicate) counters_.jobs_submitted += reply.job_ids.size();
    reply_client(p.identity, reply);
    if (!reply.duplicate) {
      for (std::size_t k = 0; has_subscribers() && k < reply.job_ids.size(); ++k) {
        proto::JobEvent event;
        event.job_id = reply.job_ids[k];
        event.org_id = s.org_id;
        event.app_version_id = s.app_version_id;
        event.status = proto::JobStatus::queued;
        event.at_ms = now;
        if (k < s.test_paths.size()) event.test_path = s.test_paths[k];
        event.target = s.target;
        event.priority = s.priority;
        events_->job(std::move(event));
      }
      work_maybe_available_ = true;
    }
  }
}

void Broker::flush_submits() {
  if (pending_submits_.empty()) return;
  auto batch = std::move(pending_submits_);
  pending_submits_.clear();
  pending_submit_jobs_ = 0;
  const auto now = clock_.now_ms();
  std::vector<SubmitPeer> submitters;
  std::vector<sched::NewSubmission> submissions;
  submitters.reserve(batch.size());
  submissions.reserve(batch.size());
  for (auto& p : batch) {
    submitters.push_back({std::move(p.identity), std::move(p.rid)});
    submissions.push_back(std::move(p.submission));
  }
  std::vector<BatchPeer> peers;
  for (const auto& p : submitters) peers.push_back({&p.identity, &p.rid});
  std::uint64_t submitted_jobs = 0;
  for (const auto& s : submissions) submitted_jobs += s.job_ids.size();

  // Held pulls that the new work may satisfy are tried in the same store round trip (at most
  // one per distinct group submitted): the worker gets its group without a second one.
  std::vector<sched::ClaimRequest> claims;
  std::vector<std::size_t> claim_pulls;  // index into held_pulls_
  if (!held_pulls_.empty()) {
    std::vector<std::string> groups;
    std::vector<proto::Target> targets;
    for (const auto& s : submissions) {
      auto g = s.org_id + "/" + s.app_version_id + "/" + std::string(proto::to_string(s.target));
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(std::move(g));
      if (std::find(targets.begin(), targets.end(), s.target) == targets.end()) targets.push_back(s.target);
    }
    for (std::size_t i = 0; i < held_pulls_.size() && claims.size() < groups.size(); ++i) {
      const auto& pull = held_pulls_[i].pull;
      if (std::none_of(pull.targets.begin(), pull.targets.end(), [&](proto::Target t) {
            return std::find(targets.begin(), targets.end(), t) != targets.end();
          })) {
        continue;
      }
      // Counting this batch's jobs, which the store's counts cannot have seen yet.
      claims.push_back(claim_request(pull, now, submitted_jobs));
      claim_pulls.push_back(i);
    }
  }
  claim_sizer_->add_submitted(submitted_jobs);

  if (claims.empty()) {
    // Nobody waits for this work: the batch goes out, and is answered when the store is done
    // with it (answer_sent_submits), while this loop reads on.
    if (store_.submits_in_flight() >= kMaxSubmitsInFlight) answer_sent_submits(true);
    try {
      store_.send_submits(std::move(submissions), now);
    } catch (const StoreUnavailable& e) {
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers, StoreFailure::unavailable, e.what());
      return;
    } catch (const StoreFull& e) {
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers, StoreFailure::full, e.what());
      return;
    } catch (const std::exception& e) {
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers, StoreFailure::internal, e.what());
      return;
    }
    sent_submits_.push_back({std::move(submitters), now});
    // A store that wrote at once (memory; it has no descriptor to wait on) is answered now.
    if (store_.submits_fd() < 0) answer_sent_submits(false);
    return;
  }

  std::vector<sched::SubmitResult> results;
  std::vector<std::optional<sched::Claim>> claimed;
  const bool done = batch_store_call(clients_, proto::kClientProtocol, "SUBMIT", peers, [&] {
    auto both = store().submit_and_claim(submissions, claims, now);
    results = std::move(both.submits);
    claimed = std::move(both.claims);
  });
  if (!done) return;
  // Groups claimed for held pulls go out first (those pulls are no longer held), then the
  // submitters' replies: the jobs are durable either way, and the worker's group is the next
  // hop on the way to running them. The events keep their order: queued, then assigned.
  std::vector<std::size_t> served;
  std::vector<const sched::Claim*> delivered;
  for (std::size_t k = 0; k < claimed.size() && k < claim_pulls.size(); ++k) {
    if (!claimed[k]) continue;
    const auto& held = held_pulls_[claim_pulls[k]];
    try {
      if (send_assign(held.identity, held.pull, *claimed[k], now)) delivered.push_back(&*claimed[k]);
    } catch (const StoreUnavailable&) {
      ++counters_.store_unavailable;  // handing back a vanished worker's group failed: its lease expires
    } catch (const std::exception& e) {
      // As above; the submitters below are answered whatever became of the group.
      log_->error("handing back an undeliverable group failed: {}", e.what());
    }
    served.push_back(claim_pulls[k]);
  }
  answer_submits(submitters, submissions, results, now);
  for (const auto* claim : delivered) announce_assigned(*claim, now);
  for (auto it = served.rbegin(); it != served.rend(); ++it) {
    held_pulls_.erase(held_pulls_.begin() + static_cast<std::ptrdiff_t>(*it));
  }
}

}  // namespace qg::broker

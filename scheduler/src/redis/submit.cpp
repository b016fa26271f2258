// RedisJobStore's submissions written before the call returns (kSubmit), and submit_and_claim,
// whose first claim rides in the submit's call (kHandOff) and may be the hand-off.

#include <iterator>

#include "redis_job_store.hpp"

namespace qg::sched::redis {

SubmitOutcome RedisJobStore::submit(const NewSubmission& s, std::int64_t now_ms) {
  auto results = submit_many(std::span<const NewSubmission>(&s, 1), now_ms);
  if (!results.at(0).outcome) throw StoreError("submit: " + results[0].error);
  return std::move(*results[0].outcome);
}

std::vector<SubmitResult> RedisJobStore::submit_many(std::span<const NewSubmission> subs, std::int64_t now_ms) {
  std::vector<SubmitResult> out(subs.size());
  const auto sent = check_submissions(subs, out);
  if (sent.empty()) return out;
  parse_submits(eval(kSubmit, submit_args(subs, sent, now_ms)), subs, sent, out);
  confirm_replicated();
  return out;
}

void RedisJobStore::confirm_replicated() {
  if (settings_.min_replicas == 0) return;
  check_replicated(conn_.command({"WAIT", min_replicas_arg_, min_replicas_timeout_arg_}));
}

void RedisJobStore::check_replicated(const RedisValue& wait_reply) const {
  if (wait_reply.is_error()) throw_reply_error(wait_reply.str());
  const auto confirmed = wait_reply.integer();
  if (confirmed >= static_cast<long long>(settings_.min_replicas)) return;
  throw StoreUnavailable("written to the Redis primary, but " + std::to_string(confirmed) + " of the " +
                         min_replicas_arg_ + " replicas required (--redis-min-replicas) confirmed it within " +
                         min_replicas_timeout_arg_ +
                         " ms: not acknowledged, as a failover now could lose it; retry with the same idempotency key");
}

// The submissions the store can send (their positions); the others get their error.
std::vector<std::size_t> RedisJobStore::check_submissions(std::span<const NewSubmission> subs,
                                                          std::vector<SubmitResult>& out) {
  std::vector<std::size_t> sent;
  sent.reserve(subs.size());
  for (std::size_t k = 0; k < subs.size(); ++k) {
    if (subs[k].job_ids.size() != subs[k].test_paths.size()) {
      out[k].error = "submit: job_ids and test_paths differ in size";
    } else {
      sent.push_back(k);
    }
  }
  return sent;
}

// kSubmit's arguments for the submissions at `sent`.
std::vector<std::string> RedisJobStore::submit_args(std::span<const NewSubmission> subs,
                                                    const std::vector<std::size_t>& sent, std::int64_t now_ms) const {
  std::size_t words = 2;
  for (auto k : sent) words += 7 + 3 * subs[k].job_ids.size();
  auto args = base(now_ms, words);
  args.emplace_back();  // unused
  args.push_back(std::to_string(sent.size()));
  for (auto k : sent) {
    const auto& s = subs[k];
    args.push_back(s.org_id);
    args.push_back(s.app_version_id);
    args.push_back(detail::placement_of(s));
    args.emplace_back(proto::to_string(s.priority));
    args.push_back(s.submission_id);
    args.push_back(s.idempotency_key);
    args.push_back(std::to_string(s.job_ids.size()));
    // Per job its key and its spec, then the job ids.
    const auto packer = packer_of(s, now_ms);
    for (std::size_t i = 0; i < s.job_ids.size(); ++i) {
      args.push_back(prefix_ + "j:" + s.job_ids[i]);
      args.push_back(packer.spec(s.job_ids[i], s.test_paths[i]));
    }
    args.insert(args.end(), s.job_ids.begin(), s.job_ids.end());
  }
  return args;
}

void RedisJobStore::parse_submits(const RedisValue& reply, std::span<const NewSubmission> subs,
                                  const std::vector<std::size_t>& sent, std::vector<SubmitResult>& out) {
  if (reply.is_error()) throw_reply_error(reply.str());
  for (std::size_t i = 0; i < sent.size(); ++i) parse_submit_entry(reply[i], subs[sent[i]], out[sent[i]]);
}

void RedisJobStore::parse_submit_entry(const RedisValue& r, const NewSubmission& s, SubmitResult& result) {
  const auto kind = r[0].integer();
  if (kind == 2) {
    result.error = r[1].str();
    return;
  }
  SubmitOutcome o;
  o.submission_id = r[1].str();
  if (kind == 1) {
    o.duplicate = true;
    for (const auto& id : r[2].array()) o.job_ids.push_back(id.str());
  } else {
    o.job_ids = s.job_ids;
  }
  result.outcome = std::move(o);
}

RedisJobStore::SubmitAndClaim RedisJobStore::submit_and_claim(std::span<const NewSubmission> subs,
                                                              std::span<const ClaimRequest> claims,
                                                              std::int64_t now_ms) {
  SubmitAndClaim out;
  out.submits.resize(subs.size());
  const auto sent = check_submissions(subs, out.submits);
  std::vector<std::pair<ScriptId, std::vector<std::string>>> calls;
  calls.emplace_back(kSubmit, submit_args(subs, sent, now_ms));
  if (sent.empty()) calls.clear();
  std::vector<std::string> lease_ids;
  for (const auto& c : claims) {
    lease_ids.push_back(lease_ids_.next(now_ms));
    auto args = claim_args(c, now_ms, lease_ids.back());
    if (calls.size() == 1 && calls.front().first == kSubmit) {
      // The first claim rides in the submit's call (kHandOff): its arguments from [5] on.
      calls.front().first = kHandOff;
      calls.front().second.insert(calls.front().second.end(), std::make_move_iterator(args.begin() + 4),
                                  std::make_move_iterator(args.end()));
    } else {
      calls.emplace_back(kClaim, std::move(args));
    }
  }
  auto replies = eval_pipeline(calls);
  // Before anything is answered: with min_replicas, a shortfall fails the whole call (the
  // claims made in it go undelivered; their leases expire and requeue the jobs).
  if (!sent.empty()) confirm_replicated();
  std::size_t i = 0;
  std::size_t k = 0;
  std::vector<ClaimReply> claimed;
  if (!sent.empty()) {
    const auto& first = replies[i++];
    if (calls.front().first == kHandOff && !first.is_error() && !first.is_array()) {
      claimed.push_back(
          handed_off(subs[sent.front()], out.submits[sent.front()], claims[k].worker_id, lease_ids[k], now_ms));
      ++k;
    } else if (calls.front().first == kHandOff && !first.is_error()) {
      parse_submits(first[0], subs, sent, out.submits);
      claimed.push_back(parse_claim(first[1], lease_ids[k++]));
    } else {
      parse_submits(first, subs, sent, out.submits);
    }
  }
  for (; k < claims.size(); ++k) claimed.push_back(parse_claim(replies[i++], lease_ids[k]));
  if (sent.empty()) {
    out.claims = read_specs(std::move(claimed));
    return out;
  }
  // The submits are durable now and must be answered: a claim whose specs cannot be read
  // goes undelivered, and its lease expires and requeues its jobs.
  try {
    out.claims = read_specs(std::move(claimed));
  } catch (const Error&) {
    out.claims.assign(claims.size(), std::nullopt);
  }
  return out;
}

// A hand-off (kHandOff's direct path): submission s written, its jobs under the lease with
// the state assigned_state(now_ms, worker, lease_id), which the script wrote as sent (its
// reply is only 1). The jobs are built from what the store sent rather than packed and decoded
// again (that round trip was a tenth of the broker's work on an idle submission); the store
// contract compares them field by field with what get() reads back.
RedisJobStore::ClaimReply RedisJobStore::handed_off(const NewSubmission& s, SubmitResult& result,
                                                    const std::string& worker, const std::string& lease_id,
                                                    std::int64_t now_ms) const {
  result.outcome = SubmitOutcome{s.submission_id, s.job_ids, false};
  ClaimReply out;
  Claim claim;
  claim.lease_id = lease_id;
  claim.org_id = s.org_id;
  claim.app_version_id = s.app_version_id;
  claim.target = s.target;
  claim.group_key = detail::group_key_of(s);
  const std::uint32_t max_attempts = detail::max_attempts_of(s, settings_);
  claim.jobs.reserve(s.job_ids.size());
  for (std::size_t i = 0; i < s.job_ids.size(); ++i) {
    Job& j = claim.jobs.emplace_back(detail::new_job(s, i, max_attempts, now_ms));
    j.status = JobStatus::assigned;
    j.attempt = 1;
    j.worker_id = worker;
    j.lease_id = lease_id;
  }
  out.claim = std::move(claim);
  return out;
}

}  // namespace qg::sched::redis

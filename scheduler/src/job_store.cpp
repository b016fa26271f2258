// Default batch operations of JobStore: one call per item. RedisJobStore overrides them with
// one round trip per batch.

#include "qg/scheduler/job_store.hpp"

#include "qg/common/errors.hpp"

namespace qg::sched {

std::vector<SubmitResult> JobStore::submit_many(std::span<const NewSubmission> submissions, std::int64_t now_ms) {
  std::vector<SubmitResult> out;
  out.reserve(submissions.size());
  for (const auto& s : submissions) {
    SubmitResult r;
    try {
      r.outcome = submit(s, now_ms);
    } catch (const StoreError& e) {
      r.error = e.what();
    }
    out.push_back(std::move(r));
  }
  return out;
}

void JobStore::send_submits(std::vector<NewSubmission> submissions, std::int64_t now_ms) {
  SentSubmits done;
  done.results = submit_many(submissions, now_ms);
  done.submissions = std::move(submissions);
  sent_submits_.push_back(std::move(done));
}

std::optional<JobStore::SentSubmits> JobStore::take_submits(bool /*wait*/) {
  if (sent_submits_.empty()) return std::nullopt;
  auto done = std::move(sent_submits_.front());
  sent_submits_.pop_front();
  return done;
}

JobStore::SubmitAndClaim JobStore::submit_and_claim(std::span<const NewSubmission> submissions,
                                                    std::span<const ClaimRequest> claims, std::int64_t now_ms) {
  SubmitAndClaim out;
  out.submits = submit_many(submissions, now_ms);
  out.claims.reserve(claims.size());
  for (const auto& c : claims) out.claims.push_back(claim_group(c, now_ms));
  return out;
}

std::vector<bool> JobStore::renew_leases(std::span<const LeaseRenewal> renewals, std::int64_t now_ms) {
  std::vector<bool> out;
  out.reserve(renewals.size());
  for (const auto& r : renewals) out.push_back(renew_lease(r.worker_id, r.lease_id, now_ms));
  return out;
}

std::vector<ReportOutcome> JobStore::report_many(std::span<const proto::Report> reports, std::int64_t now_ms,
                                                 bool /*with_jobs*/) {
  std::vector<ReportOutcome> out;
  out.reserve(reports.size());
  for (const auto& r : reports) out.push_back(report(r, now_ms));
  return out;
}

}  // namespace qg::sched

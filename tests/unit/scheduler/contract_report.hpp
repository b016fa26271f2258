#pragma once
// The JobStore contract. Reporting: a worker's final reports (one at a time and report_many),
// progress, and the release of jobs it has not started. A report is accepted once, from the
// lease holder's current attempt; a final state never changes.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, ReportIsAcceptedOnceAndLaterReportsAreRejected) {
  this->submit({.count = 2}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto first = this->report(*c, 0, JobStatus::passed, kT0 + 10);
  EXPECT_TRUE(first.accepted);
  ASSERT_TRUE(first.job.has_value());
  EXPECT_EQ(first.job->status, JobStatus::passed);
  EXPECT_FALSE(first.job->flaky);
  EXPECT_FALSE(first.requeued);
  // What the report said is kept, the lease is left, the rest of the job is as claimed.
  const auto kept = this->job(c->jobs[0].id);
  for (const auto& j : {*first.job, kept}) {
    EXPECT_EQ(j.id, c->jobs[0].id);
    EXPECT_EQ(j.exit_code, 0);
    EXPECT_EQ(j.duration_ms, 5);
    EXPECT_EQ(j.log_tail, "log");
    EXPECT_EQ(j.last_error, "");
    EXPECT_EQ(j.attempt, 1u);
    EXPECT_EQ(j.worker_id, "w");
    EXPECT_TRUE(j.lease_id.empty());
    EXPECT_EQ(j.updated_at_ms, kT0 + 10);
    EXPECT_EQ(j.created_at_ms, kT0);
    EXPECT_EQ(j.test_path, c->jobs[0].test_path);
  }
  auto again = this->report(*c, 0, JobStatus::failed, kT0 + 11);
  EXPECT_FALSE(again.accepted);
  EXPECT_EQ(again.reason, "already_final");
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);

  auto stale = this->report(*c, 1, JobStatus::passed, kT0 + 12, 0);
  EXPECT_FALSE(stale.accepted);
  EXPECT_EQ(stale.reason, "stale_attempt");
  Claim wrong = *c;
  wrong.lease_id = "not-the-lease";
  auto lost = this->report(wrong, 1, JobStatus::passed, kT0 + 13);
  EXPECT_FALSE(lost.accepted);
  EXPECT_EQ(lost.reason, "lost_lease");
  Claim missing = *c;
  missing.jobs[1].id = "no-such-job";
  EXPECT_EQ(this->report(missing, 1, JobStatus::passed, kT0 + 14).reason, "not_found");
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
}

TYPED_TEST_P(JobStoreContract, FinalStateNeverChanges) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, kT0 + 1).accepted);
  const auto id = c->jobs[0].id;
  EXPECT_EQ(this->store().cancel_job(id, kT0 + 2).outcome, "already_final");
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 3), std::optional<JobStatus>(JobStatus::failed));
  EXPECT_TRUE(this->store().expire_leases(kT0 + 1'000'000, 100).empty());
  EXPECT_EQ(this->store().promote_due(kT0 + 1'000'000, 100), 0u);
  EXPECT_FALSE(this->claim("w", kT0 + 1'000'000).has_value());
  EXPECT_EQ(this->job(id).status, JobStatus::failed);
}

TYPED_TEST_P(JobStoreContract, ProgressRecordsStatusOfHeldJobsOnly) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  proto::Progress p{"w", c->lease_id, c->jobs[0].id, 1, JobStatus::running};
  EXPECT_TRUE(this->store().progress(p, kT0 + 1));
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::running);
  p.attempt = 2;
  EXPECT_FALSE(this->store().progress(p, kT0 + 2));
  p.attempt = 1;
  p.lease_id = "other";
  EXPECT_FALSE(this->store().progress(p, kT0 + 2));
}

// After its group's install the jobs waiting their turn go back from installing to assigned;
// no other status may go back to assigned.
TYPED_TEST_P(JobStoreContract, ProgressTakesAJobBackToAssignedOnlyFromInstalling) {
  this->submit({.count = 2}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  for (const auto& j : c->jobs) {
    EXPECT_TRUE(this->store().progress({"w", c->lease_id, j.id, 1, JobStatus::installing}, kT0 + 1));
  }
  EXPECT_TRUE(this->store().progress({"w", c->lease_id, c->jobs[0].id, 1, JobStatus::running}, kT0 + 2));
  EXPECT_TRUE(this->store().progress({"w", c->lease_id, c->jobs[1].id, 1, JobStatus::assigned}, kT0 + 2));
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
  EXPECT_FALSE(this->store().progress({"w", c->lease_id, c->jobs[0].id, 1, JobStatus::assigned}, kT0 + 3));
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::running);
}

// A worker may report and record progress only on its own lease: naming another worker's
// lease (and attempt) changes nothing, in a batch (both paths of report_many) or alone, and
// the holder's own reports still go through.
TYPED_TEST_P(JobStoreContract, ReportAndProgressNamingAnotherWorkersLeaseAreRefused) {
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  proto::Progress p{"intruder", c->lease_id, c->jobs[0].id, 1, JobStatus::running};
  EXPECT_FALSE(this->store().progress(p, kT0 + 1));
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::assigned);
  auto forged = this->report_of(*c, 0, JobStatus::passed, 1);
  forged.worker_id = "intruder";
  auto forged_fail = this->report_of(*c, 1, JobStatus::failed, 1);
  forged_fail.worker_id = "intruder";
  for (bool with_jobs : {true, false}) {
    const proto::Report batch[] = {forged, forged_fail};
    auto outcomes = this->store().report_many(batch, kT0 + 2, with_jobs);
    ASSERT_EQ(outcomes.size(), 2u);
    for (const auto& o : outcomes) {
      EXPECT_FALSE(o.accepted);
      EXPECT_EQ(o.reason, "lost_lease");
    }
  }
  EXPECT_FALSE(this->store().report(forged, kT0 + 3).accepted);
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::assigned);
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
  p.worker_id = "w";
  EXPECT_TRUE(this->store().progress(p, kT0 + 4));
  EXPECT_TRUE(this->report(*c, 0, JobStatus::passed, kT0 + 5).accepted);
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);
}

TYPED_TEST_P(JobStoreContract, ReleaseHandsUnstartedJobsBackAtOnce) {
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->store().progress({"w", c->lease_id, c->jobs[0].id, 1, JobStatus::running}, kT0 + 1));
  auto ids = this->ids_of(*c);
  EXPECT_EQ(this->store().release("other", c->lease_id, ids, kT0 + 2), 0u);
  EXPECT_EQ(this->store().release("w", c->lease_id, ids, kT0 + 2), 2u);
  auto c2 = this->claim("w2", kT0 + 2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(this->ids_of(*c2), (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_EQ(this->job(ids[0]).status, JobStatus::running);
}

// Without the jobs back, reports are judged and applied the same; only ReportOutcome::job
// may be missing.
TYPED_TEST_P(JobStoreContract, ReportManyWithoutJobsAppliesTheSame) {
  this->submit({.count = 3, .retries = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto rep = [&](std::size_t i, JobStatus st, std::uint32_t attempt) {
    auto r = this->report_of(*c, i, st, attempt);
    r.duration_ms = 40 + static_cast<std::int64_t>(i);
    return r;
  };
  std::vector<proto::Report> batch = {rep(0, JobStatus::passed, 1), rep(1, JobStatus::failed, 1),
                                      rep(2, JobStatus::passed, 9)};
  auto out = this->store().report_many(batch, kT0 + 10, false);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].accepted);
  EXPECT_FALSE(out[0].requeued);
  EXPECT_TRUE(out[1].accepted);
  EXPECT_TRUE(out[1].requeued);  // a retry left
  EXPECT_FALSE(out[2].accepted);
  EXPECT_EQ(out[2].reason, "stale_attempt");
  const auto passed = this->job(c->jobs[0].id);
  EXPECT_EQ(passed.status, JobStatus::passed);
  EXPECT_EQ(passed.duration_ms, 40);
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::queued);
  EXPECT_EQ(this->job(c->jobs[2].id).status, JobStatus::assigned);
}

// A batch of reports larger than the store reads at once, without the jobs back: each is
// judged on its own, in order, a job's second report (in another part of the batch) after its
// first, and a pass keeps the duration and log it reports but no error text.
TYPED_TEST_P(JobStoreContract, ReportManyWithoutJobsJudgesALargeBatchInOrder) {
  std::vector<Claim> claims;
  for (int g = 0; g < 5; ++g) {
    this->submit({.app = "v" + std::to_string(g), .count = 50}, kT0);
    auto c = this->claim("w", kT0);
    ASSERT_TRUE(c.has_value());
    ASSERT_EQ(c->jobs.size(), 50u);
    claims.push_back(*c);
  }
  std::vector<proto::Report> batch;
  for (const auto& c : claims) {
    for (std::size_t i = 0; i < c.jobs.size(); ++i) {
      auto r = this->report_of(c, i, JobStatus::passed, 1);
      r.duration_ms = static_cast<std::int64_t>(batch.size());
      r.log_tail = "log " + std::to_string(batch.size());
      r.error = "ignored";
      batch.push_back(r);
    }
  }
  batch[7].attempt = 2;           // refused: stale_attempt
  batch[130].lease_id = "other";  // refused: lost_lease
  batch.push_back(batch[3]);      // the same job again, far from its first report
  batch.push_back(this->report_of(claims[0], 7, JobStatus::passed, 1));  // after its refusal
  auto out = this->store().report_many(batch, kT0 + 10, false);
  ASSERT_EQ(out.size(), 252u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i == 7 || i == 130 || i == 250) {
      EXPECT_FALSE(out[i].accepted) << i;
    } else {
      EXPECT_TRUE(out[i].accepted) << i;
      EXPECT_FALSE(out[i].requeued) << i;
    }
  }
  EXPECT_EQ(out[7].reason, "stale_attempt");
  EXPECT_EQ(out[130].reason, "lost_lease");
  EXPECT_EQ(out[250].reason, "already_final");
  const auto j = this->job(batch[42].job_id);
  EXPECT_EQ(j.status, JobStatus::passed);
  EXPECT_EQ(j.duration_ms, 42);
  EXPECT_EQ(j.log_tail, "log 42");
  EXPECT_EQ(j.last_error, "");
  EXPECT_EQ(this->job(batch[7].job_id).duration_ms, 0);  // its second report passed it
  EXPECT_EQ(this->job(batch[7].job_id).status, JobStatus::passed);
  EXPECT_EQ(this->job(batch[130].job_id).status, JobStatus::assigned);
  const auto stats = this->store().stats(kT0 + 10);
  EXPECT_EQ(stats.by_status.at("passed"), 249u);
  EXPECT_EQ(stats.by_status.at("assigned"), 1u);
}

TYPED_TEST_P(JobStoreContract, ReportManyJudgesEachReportOnItsOwn) {
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto rep = [&](std::size_t i, JobStatus st, std::uint32_t attempt) { return this->report_of(*c, i, st, attempt); };
  std::vector<proto::Report> batch = {rep(0, JobStatus::passed, 1), rep(0, JobStatus::failed, 1),
                                      rep(1, JobStatus::passed, 7), rep(2, JobStatus::failed, 1)};
  auto out = this->store().report_many(batch, kT0 + 10);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0].accepted);
  EXPECT_FALSE(out[1].accepted);
  EXPECT_EQ(out[1].reason, "already_final");
  EXPECT_FALSE(out[2].accepted);
  EXPECT_EQ(out[2].reason, "stale_attempt");
  EXPECT_TRUE(out[3].accepted);
  ASSERT_TRUE(out[3].job.has_value());
  EXPECT_EQ(out[3].job->status, JobStatus::failed);
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
  // The lease still holds job 1: it is renewable; once job 1 ends the lease is gone.
  EXPECT_TRUE(this->store().renew_lease("w", c->lease_id, kT0 + 20));
  this->report(*c, 1, JobStatus::passed, kT0 + 30);
  EXPECT_FALSE(this->store().renew_lease("w", c->lease_id, kT0 + 40));
  auto stats = this->store().stats(kT0 + 40);
  EXPECT_EQ(stats.by_status["passed"], 2u);
  EXPECT_EQ(stats.by_status["failed"], 1u);
  EXPECT_EQ(stats.by_status.count("assigned"), 0u);
}

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. Retries: a failure with retries left is queued again (a later pass is
// flaky), an infrastructure error after an exponential back-off, and a job out of attempts ends
// dead until retry_dead revives it.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <optional>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, FailureWithRetriesLeftRequeuesAndPassMarksFlaky) {
  this->submit({.count = 1, .retries = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::failed, kT0 + 1);
  EXPECT_TRUE(r.accepted);
  EXPECT_TRUE(r.requeued);
  ASSERT_TRUE(r.job.has_value());
  EXPECT_EQ(r.job->status, JobStatus::queued);
  EXPECT_TRUE(r.job->lease_id.empty());
  auto c2 = this->claim("w", kT0 + 2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  auto pass = this->report(*c2, 0, JobStatus::passed, kT0 + 3);
  ASSERT_TRUE(pass.accepted && pass.job.has_value());
  EXPECT_EQ(pass.job->status, JobStatus::passed);
  EXPECT_TRUE(pass.job->flaky);

  // Out of retries: the failure is final.
  this->submit({.count = 1, .retries = 1}, kT0 + 10);
  c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, kT0 + 11).requeued);
  c = this->claim("w", kT0 + 12);
  ASSERT_TRUE(c.has_value());
  auto last = this->report(*c, 0, JobStatus::timed_out, kT0 + 13);
  EXPECT_TRUE(last.accepted);
  EXPECT_FALSE(last.requeued);
  EXPECT_EQ(last.job->status, JobStatus::timed_out);
}

TYPED_TEST_P(JobStoreContract, InfrastructureErrorRequeuesAfterBackoff) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::error, kT0 + 100);
  EXPECT_TRUE(r.accepted);
  EXPECT_TRUE(r.requeued);
  EXPECT_EQ(r.job->status, JobStatus::queued);
  EXPECT_EQ(r.job->last_error, "install failed");
  EXPECT_FALSE(this->claim("w", kT0 + 100).has_value());
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 1100));
  EXPECT_EQ(this->store().promote_due(kT0 + 1099, 10), 0u);
  EXPECT_EQ(this->store().promote_due(kT0 + 1100, 10), 1u);
  auto c2 = this->claim("w", kT0 + 1100);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  // Second error: back-off doubles.
  ASSERT_TRUE(this->report(*c2, 0, JobStatus::error, kT0 + 2000).requeued);
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 4000));
}

TYPED_TEST_P(JobStoreContract, ExhaustedAttemptsEndDeadAndRetryDeadRevives) {
  this->submit({.count = 1, .max_attempts = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::error, kT0 + 1);
  EXPECT_TRUE(r.accepted);
  EXPECT_FALSE(r.requeued);
  EXPECT_EQ(r.job->status, JobStatus::dead);
  const auto id = c->jobs[0].id;
  EXPECT_EQ(this->store().retry_dead("nope", kT0 + 2), std::nullopt);
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 2), std::optional<JobStatus>(JobStatus::queued));
  EXPECT_EQ(this->job(id).status, JobStatus::queued);
  auto c2 = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].id, id);
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 4), std::optional<JobStatus>(JobStatus::assigned));
  // Revived with a fresh budget of one attempt: the next error is dead again.
  EXPECT_EQ(this->report(*c2, 0, JobStatus::error, kT0 + 5).job->status, JobStatus::dead);
}

}  // namespace qg::sched::contract

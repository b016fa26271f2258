#pragma once
// The JobStore contract. A retried group stays whole: after an infrastructure failure the
// group's jobs get one due time per group and attempt, whatever the jitter and however their
// reports are spread, so they come back together and one claim takes them all (one install).
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, RetriedGroupComesBackWholeAtOneDueTime) {
  this->settings_.backoff.jitter = 0.5;  // each report's delay differs by up to +-50 %
  this->reset();
  this->submit({.app = "flaky-install", .count = 6, .max_attempts = 5}, kT0);
  auto c = this->claim("w", kT0 + 1);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 6u);
  // The install failed: the worker reports every job, one report a call, spread over time.
  for (std::size_t i = 0; i < 6; ++i) {
    auto r = this->report(*c, i, JobStatus::error, kT0 + 10 + 37 * static_cast<std::int64_t>(i));
    ASSERT_TRUE(r.accepted && r.requeued);
  }
  auto due = this->store().next_due_ms();
  ASSERT_TRUE(due.has_value());
  EXPECT_GE(*due, kT0 + 10 + 500);  // at least the back-off's base less its jitter
  EXPECT_EQ(this->store().promote_due(*due - 1, 100), 0u);
  EXPECT_EQ(this->store().promote_due(*due, 100), 6u);  // all of them at once
  auto again = this->claim("w2", *due);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->jobs.size(), 6u);
  for (const auto& j : again->jobs) EXPECT_EQ(j.attempt, 2u);

  // The next attempt's failure gets a due time of its own, after it (not the old one).
  for (std::size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(this->report(*again, i, JobStatus::error, *due + 5 + static_cast<std::int64_t>(i), std::nullopt, "w2")
                    .requeued);
  }
  auto due2 = this->store().next_due_ms();
  ASSERT_TRUE(due2.has_value());
  EXPECT_GT(*due2, *due + 5);
  EXPECT_EQ(this->store().promote_due(*due2, 100), 6u);

  // A lost worker's lease: its jobs too come back at one time.
  auto third = this->claim("w3", *due2);
  ASSERT_TRUE(third.has_value());
  ASSERT_EQ(third->jobs.size(), 6u);
  const std::int64_t expiry = *due2 + this->settings_.lease.count() + 1;
  EXPECT_EQ(this->store().expire_leases(expiry, 10).size(), 1u);
  auto due3 = this->store().next_due_ms();
  ASSERT_TRUE(due3.has_value());
  EXPECT_EQ(this->store().promote_due(*due3, 100), 6u);
}

}  // namespace qg::sched::contract

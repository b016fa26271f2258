#pragma once
// The JobStore contract. Time-driven work, with `now` passed in: batching windows that
// promote_due opens (or a full group opens early), lease expiry that queues a lost worker's jobs
// again, and lease renewal.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <optional>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, GroupWindowHoldsGroupUntilPromoteDue) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->reset();
  this->submit({.count = 2}, kT0);
  this->submit({.count = 1}, kT0 + 1000);
  EXPECT_FALSE(this->claim("w", kT0 + 1000).has_value());
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 5000));
  auto page = this->store().queue("", 10, kT0 + 1000);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_FALSE(page.groups[0].claimable);
  EXPECT_EQ(page.groups[0].depth, 3u);
  EXPECT_EQ(this->store().promote_due(kT0 + 4999, 100), 0u);
  EXPECT_FALSE(this->claim("w", kT0 + 4999).has_value());
  EXPECT_EQ(this->store().promote_due(kT0 + 5000, 100), 1u);
  auto c = this->claim("w", kT0 + 5000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

TYPED_TEST_P(JobStoreContract, GroupMaxOpensWindowEarly) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->settings_.group_max = 3;
  this->reset();
  this->submit({.count = 2}, kT0);
  EXPECT_FALSE(this->claim("w", kT0 + 1).has_value());
  this->submit({.count = 1}, kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

// The same through sent batches (on Redis another script): jobs entering a band that holds
// some already keep the window shut until the group is full, then open it.
TYPED_TEST_P(JobStoreContract, SentBatchesFillingAGroupOpenItsWindowEarly) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->settings_.group_max = 3;
  this->reset();
  auto& store = this->store();
  auto send = [&](NewSubmission s, std::int64_t now) {
    store.send_submits({std::move(s)}, now);
    auto done = store.take_submits(true);
    ASSERT_TRUE(done);
    ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
    ASSERT_TRUE(done->results.at(0).outcome);
  };
  send(this->new_submission("app", 1), kT0);
  send(this->new_submission("app", 1), kT0 + 1);
  EXPECT_FALSE(this->claim("w", kT0 + 2).has_value());
  send(this->new_submission("app", 1), kT0 + 3);
  auto c = this->claim("w", kT0 + 4);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

TYPED_TEST_P(JobStoreContract, LeaseExpiryRequeuesUnfinishedJobs) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::passed, kT0 + 1).accepted);
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + lease));
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease - 1, 10).empty());
  auto expired = this->store().expire_leases(kT0 + lease, 10);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease_id, c->lease_id);
  EXPECT_EQ(expired[0].worker_id, "w");
  ASSERT_EQ(expired[0].jobs.size(), 2u);
  for (const auto& j : expired[0].jobs) {
    EXPECT_EQ(j.status, JobStatus::queued);
    EXPECT_TRUE(j.lease_id.empty());
  }
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);
  // The late report of the lost worker is fenced off: its attempt ended with its lease, before
  // the job is claimed again as after (docs/protocol.md 7.2).
  EXPECT_EQ(this->report(*c, 1, JobStatus::passed, kT0 + lease + 1).reason, "stale_attempt");
  EXPECT_EQ(this->store().promote_due(kT0 + lease + 1000, 10), 2u);
  auto c2 = this->claim("w2", kT0 + lease + 1000);
  ASSERT_TRUE(c2.has_value());
  ASSERT_EQ(c2->jobs.size(), 2u);
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  EXPECT_EQ(this->report(*c, 1, JobStatus::passed, kT0 + lease + 1001).reason, "stale_attempt");
}

TYPED_TEST_P(JobStoreContract, RenewLeaseKeepsLeaseAlive) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(this->store().renew_lease("w", c->lease_id, kT0 + lease - 1));
  EXPECT_FALSE(this->store().renew_lease("other", c->lease_id, kT0 + lease - 1));
  EXPECT_FALSE(this->store().renew_lease("w", "no-such-lease", kT0 + lease - 1));
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->store().expire_leases(kT0 + 2 * lease - 1, 10).size(), 1u);
  EXPECT_FALSE(this->store().renew_lease("w", c->lease_id, kT0 + 2 * lease));
}

TYPED_TEST_P(JobStoreContract, RenewLeasesJudgesEachRenewalOnItsOwn) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.app = "b1", .count = 1}, kT0);
  this->submit({.app = "b2", .count = 1}, kT0);
  auto c1 = this->claim("w1", kT0);
  auto c2 = this->claim("w2", kT0);
  ASSERT_TRUE(c1.has_value());
  ASSERT_TRUE(c2.has_value());
  const std::vector<JobStore::LeaseRenewal> renewals = {
      {"w1", c1->lease_id}, {"w1", c2->lease_id}, {"w2", "no-such-lease"}, {"w2", c2->lease_id}};
  EXPECT_EQ(this->store().renew_leases(renewals, kT0 + lease - 1), (std::vector<bool>{true, false, false, true}));
  // Both real leases now run a lease from kT0 + lease - 1.
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->store().expire_leases(kT0 + 2 * lease - 1, 10).size(), 2u);
  EXPECT_TRUE(this->store().renew_leases({}, kT0).empty());
}

}  // namespace qg::sched::contract

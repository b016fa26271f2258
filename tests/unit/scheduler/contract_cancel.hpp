#pragma once
// The JobStore contract. Cancelling: one job or a whole build, in each state it can be in, and
// what cancels leave behind in a group's lists: never handed out, never counted, never keeping
// an empty group.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <map>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

// Entries that cancels left behind are skipped while bands are merged, however many there are
// at the front of a band.
TYPED_TEST_P(JobStoreContract, CancelledEntriesAreSkippedAcrossBands) {
  this->settings_.group_max = 2;
  this->reset();
  auto medium = this->submit({.count = 3, .priority = Priority::medium}, kT0).job_ids;
  auto low = this->submit({.priority = Priority::low}, kT0 + 1).job_ids;
  this->store().cancel_job(medium[0], kT0 + 2);
  this->store().cancel_job(medium[1], kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(this->ids_of(*c), (std::vector<std::string>{medium[2], low[0]}));
  EXPECT_FALSE(this->claim("w", kT0 + 4).has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 5).groups.empty());
}

TYPED_TEST_P(JobStoreContract, CancelQueuedRunningFinalAndUnknownJobs) {
  auto out = this->submit({.count = 2}, kT0);
  auto queued_only = this->submit({.app = "other", .count = 1, .target = Target::device}, kT0);
  auto c = this->claim("w", kT0, {}, {Target::emulator});
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 1, JobStatus::passed, kT0 + 1).accepted);

  auto q = this->store().cancel_job(queued_only.job_ids[0], kT0 + 2);
  EXPECT_EQ(q.outcome, "cancelled");
  EXPECT_EQ(q.status, JobStatus::cancelled);
  EXPECT_EQ(this->job(queued_only.job_ids[0]).status, JobStatus::cancelled);
  EXPECT_FALSE(this->claim("w", kT0 + 3).has_value());

  auto running = this->store().cancel_job(out.job_ids[0], kT0 + 2);
  EXPECT_EQ(running.outcome, "cancel_requested");
  EXPECT_EQ(running.status, JobStatus::assigned);
  auto final_one = this->store().cancel_job(out.job_ids[1], kT0 + 2);
  EXPECT_EQ(final_one.outcome, "already_final");
  EXPECT_EQ(final_one.status, JobStatus::passed);
  EXPECT_EQ(this->store().cancel_job("nope", kT0 + 2).outcome, "not_found");
  // The worker then reports the cancelled job; it ends cancelled, not retried.
  auto r = this->report(*c, 0, JobStatus::cancelled, kT0 + 3);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.job->status, JobStatus::cancelled);
}

TYPED_TEST_P(JobStoreContract, CancelBuildCancelsEveryNonFinalJob) {
  auto a = this->submit({.app = "v1", .count = 3}, kT0);
  auto other = this->submit({.app = "v2", .count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto results = this->store().cancel_build("org", "v1", kT0 + 1);
  ASSERT_EQ(results.size(), 3u);
  std::map<std::string, std::string> outcome;
  for (const auto& r : results) outcome[r.job_id] = r.outcome;
  for (const auto& id : a.job_ids) {
    EXPECT_EQ(outcome[id], this->job(id).status == JobStatus::cancelled ? "cancelled" : "cancel_requested");
  }
  EXPECT_EQ(this->job(other.job_ids[0]).status, c->app_version_id == "v2" ? JobStatus::assigned : JobStatus::queued);
  EXPECT_TRUE(this->store().cancel_build("org", "nothing", kT0).empty());
}

// Jobs cancelled while queued are never handed out, and a group whose jobs were all cancelled
// is not claimable; the claim moves on to the next group.
TYPED_TEST_P(JobStoreContract, CancelledQueuedJobsAreSkippedByClaims) {
  auto a = this->submit({.app = "a", .count = 3}, kT0).job_ids;
  auto b = this->submit({.app = "b", .count = 2}, kT0 + 1).job_ids;
  this->store().cancel_job(a[0], kT0 + 2);
  this->store().cancel_job(a[2], kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 1u);
  EXPECT_EQ(c->jobs[0].id, a[1]);
  for (const auto& id : b) this->store().cancel_job(id, kT0 + 4);
  EXPECT_FALSE(this->claim("w", kT0 + 5).has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  auto q = this->store().queue("", 100, kT0 + 6);
  EXPECT_TRUE(q.groups.empty());
}

// A group's count of queued jobs leaves out the entries that cancels leave behind in its
// lists. A claim that takes exactly the jobs left empties the group, which then leaves the
// queue at once; a build cancelled whole leaves no group behind; the same build submitted
// again makes a group of its new jobs only.
TYPED_TEST_P(JobStoreContract, EntriesLeftByCancelsAreNotCountedAndAnEmptiedGroupGoes) {
  auto a = this->submit({.app = "a", .count = 5}, kT0).job_ids;
  this->store().cancel_job(a[1], kT0 + 1);
  auto page = this->store().queue("", 10, kT0 + 2);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 4u);
  ClaimRequest r;
  r.worker_id = "w";
  r.targets = {Target::emulator};
  r.max_jobs = 2;
  auto c = this->store().claim_group(r, kT0 + 3);  // passes the cancelled job's entry
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, a[0]);
  EXPECT_EQ(c->jobs[1].id, a[2]);
  page = this->store().queue("", 10, kT0 + 4);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 2u);
  c = this->store().claim_group(r, kT0 + 5);  // exactly the jobs left
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, a[3]);
  EXPECT_EQ(c->jobs[1].id, a[4]);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 6).groups.empty());
  EXPECT_FALSE(this->store().claim_group(r, kT0 + 6).has_value());

  auto b = this->submit({.app = "b", .count = 3}, kT0 + 5).job_ids;
  this->store().cancel_job(b[0], kT0 + 6);
  auto results = this->store().cancel_build("org", "b", kT0 + 7);
  EXPECT_EQ(results.size(), 2u);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 8).groups.empty());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  EXPECT_FALSE(this->store().claim_group(r, kT0 + 8).has_value());

  auto again = this->submit({.app = "b", .count = 2}, kT0 + 9).job_ids;
  page = this->store().queue("", 10, kT0 + 10);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 2u);
  r.max_jobs = 0;
  c = this->store().claim_group(r, kT0 + 11);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, again[0]);
  EXPECT_EQ(c->jobs[1].id, again[1]);
}

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. Queued jobs per org (queued_by_org, which the broker's quotas
// sample): every way into queued (submit, sent batches, a retry, a back-off, a lease expiry,
// a release, retry_dead) raises the org's count, every way out (a claim, whole or in part, a
// hand-off at submit, a cancel) lowers it, a refused submission leaves it, and an org with
// nothing queued is absent.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <map>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

using OrgCounts = std::map<std::string, std::uint64_t>;

TYPED_TEST_P(JobStoreContract, OrgQueuedCountFollowsSubmitsClaimsAndCancels) {
  // Claims here go by rank alone (fair share would alternate the orgs).
  this->settings_.fair_share_slack = std::chrono::milliseconds(0);
  this->reset();
  EXPECT_EQ(this->store().queued_by_org(), OrgCounts{});
  this->submit({.org = "a", .count = 3}, kT0);
  this->send({.org = "a", .app = "other", .count = 2}, kT0);
  this->send({.org = "b", .count = 4, .priority = Priority::high}, kT0 + 1);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 5}, {"b", 4}}));

  // A sent batch refused whole (a job id taken) changes no count.
  auto taken = this->submission_of({.org = "a", .count = 2}, kT0 + 2);
  taken.job_ids[1] = this->store().list({.org_id = "b"}).jobs.at(0).id;
  this->store().send_submits({taken}, kT0 + 2);
  auto refused = this->store().take_submits(true);
  ASSERT_TRUE(refused.has_value());
  ASSERT_EQ(refused->results.size(), 1u);
  EXPECT_FALSE(refused->results[0].outcome.has_value());
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 5}, {"b", 4}}));

  // b's group ranks first (high); part of it, then the rest.
  ClaimRequest part{"w1", {Target::emulator}, {}, 3};
  auto c1 = this->store().claim_group(part, kT0 + 3);
  ASSERT_TRUE(c1.has_value());
  EXPECT_EQ(c1->org_id, "b");
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 5}, {"b", 1}}));
  auto c2 = this->claim("w2", kT0 + 4);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->org_id, "b");
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 5}}));

  // Cancels: one queued job, then a build; a running job's cancel leaves the count.
  auto a_jobs = this->store().list({.org_id = "a", .app_version_id = "other"}).jobs;
  ASSERT_EQ(a_jobs.size(), 2u);
  EXPECT_EQ(this->store().cancel_job(a_jobs[0].id, kT0 + 5).outcome, "cancelled");
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}}));
  EXPECT_EQ(this->store().cancel_job(c2->jobs[0].id, kT0 + 5).outcome, "cancel_requested");
  EXPECT_EQ(this->store().cancel_build("a", "app", kT0 + 6).size(), 3u);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 1}}));
  auto c3 = this->claim("w3", kT0 + 7);
  ASSERT_TRUE(c3.has_value());
  EXPECT_EQ(c3->jobs.size(), 1u);
  EXPECT_EQ(this->store().queued_by_org(), OrgCounts{});
}

TYPED_TEST_P(JobStoreContract, OrgQueuedCountFollowsRetriesBackoffExpiryAndRelease) {
  // Claims here go by rank alone (fair share would alternate the orgs).
  this->settings_.fair_share_slack = std::chrono::milliseconds(0);
  this->reset();
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.org = "a", .count = 1, .retries = 1, .max_attempts = 5}, kT0);
  this->submit({.org = "a", .app = "two", .count = 3}, kT0 + 1);
  this->submit({.org = "b", .app = "dead", .count = 1, .max_attempts = 1}, kT0 + 2);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}, {"b", 1}}));

  // A failure with a retry left is queued again at once.
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->app_version_id, "app");
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 3}, {"b", 1}}));
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, kT0 + 11).requeued);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}, {"b", 1}}));
  c = this->claim("w", kT0 + 12);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->app_version_id, "app");
  // An infrastructure error backs off: the job waits out its delay queued, and is counted.
  ASSERT_TRUE(this->report(*c, 0, JobStatus::error, kT0 + 13).requeued);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}, {"b", 1}}));
  EXPECT_GE(this->store().promote_due(kT0 + 60'000, 10), 1u);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}, {"b", 1}}));

  // A lease that expires hands its jobs back; a release its unstarted ones.
  auto two = this->claim("w", kT0 + 60'001);
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->app_version_id, "app");
  two = this->claim("w2", kT0 + 60'002);
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->app_version_id, "two");
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"b", 1}}));
  std::vector<std::string> ids = {two->jobs[1].id, two->jobs[2].id};
  EXPECT_EQ(this->store().release("w2", two->lease_id, ids, kT0 + 60'003), 2u);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(this->store().expire_leases(kT0 + 60'002 + lease, 10).size(), 2u);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 4}, {"b", 1}}));

  // Dead leaves the count; retry_dead brings the job back into it.
  ClaimRequest device_dead{"w", {Target::emulator}, {"b/dead"}};
  std::optional<Claim> d;
  for (int i = 0; i < 4 && !(d && d->org_id == "b"); ++i) d = this->store().claim_group(device_dead, kT0 + 70'000 + i);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->org_id, "b");
  EXPECT_EQ(this->report(*d, 0, JobStatus::error, kT0 + 70'010).job->status, JobStatus::dead);
  EXPECT_EQ(this->store().queued_by_org().count("b"), 0u);
  EXPECT_EQ(this->store().retry_dead(d->jobs[0].id, kT0 + 70'011), std::optional<JobStatus>(JobStatus::queued));
  EXPECT_EQ(this->store().queued_by_org().at("b"), 1u);
}

TYPED_TEST_P(JobStoreContract, OrgQueuedCountIsNotRaisedByAGroupHandedOffAtSubmit) {
  auto s = this->submission_of({.org = "a", .count = 2}, kT0);
  std::vector<NewSubmission> subs = {s};
  std::vector<ClaimRequest> claims = {ClaimRequest{"w1", {Target::emulator}, {}}};
  auto out = this->store().submit_and_claim(subs, claims, kT0);
  ASSERT_EQ(out.claims.size(), 1u);
  ASSERT_TRUE(out.claims[0].has_value());
  EXPECT_EQ(this->store().queued_by_org(), OrgCounts{});
  // Submit and claim of a group that stays queued in part.
  auto more = this->submission_of({.org = "a", .app = "big", .count = 60}, kT0 + 1);
  subs = {more};
  claims = {ClaimRequest{"w2", {Target::emulator}, {}}};
  out = this->store().submit_and_claim(subs, claims, kT0 + 1);
  ASSERT_TRUE(out.claims[0].has_value());
  EXPECT_EQ(out.claims[0]->jobs.size(), 50u);
  EXPECT_EQ(this->store().queued_by_org(), (OrgCounts{{"a", 10}}));
}

}  // namespace qg::sched::contract

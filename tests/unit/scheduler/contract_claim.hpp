#pragma once
// The JobStore contract. Claiming: what one claim hands out (a group whole, up to group_max or
// max_jobs from its head, never a job twice) and submit_and_claim, which hands a new submission
// straight to a waiting worker.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, SubmissionEntersItsGroupWhole) {
  auto out = this->submit({.count = 20}, kT0);
  auto c = this->claim("w1", kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->group_key, "org/app/emulator");
  EXPECT_EQ(c->org_id, "org");
  EXPECT_EQ(c->app_version_id, "app");
  EXPECT_EQ(c->target, Target::emulator);
  EXPECT_EQ(this->ids_of(*c), out.job_ids);
  for (const auto& j : c->jobs) {
    EXPECT_EQ(j.status, JobStatus::assigned);
    EXPECT_EQ(j.attempt, 1u);
    EXPECT_EQ(j.worker_id, "w1");
    EXPECT_EQ(j.lease_id, c->lease_id);
  }
}

TYPED_TEST_P(JobStoreContract, GroupMaxCapsClaimSize) {
  this->settings_.group_max = 3;
  this->reset();
  auto out = this->submit({.count = 7}, kT0);
  std::vector<std::size_t> sizes;
  std::vector<std::string> all;
  while (auto c = this->claim("w", kT0)) {
    sizes.push_back(c->jobs.size());
    for (auto& id : this->ids_of(*c)) all.push_back(id);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 1}));
  EXPECT_EQ(all, out.job_ids);
}

TYPED_TEST_P(JobStoreContract, ClaimReturnsNothingWhenNothingIsClaimable) {
  EXPECT_FALSE(this->claim("w", kT0).has_value());
  this->submit({.target = Target::device}, kT0);
  EXPECT_FALSE(this->claim("w", kT0, {}, {Target::emulator}).has_value());
  EXPECT_TRUE(this->claim("w", kT0, {}, {Target::emulator, Target::device}).has_value());
}

TYPED_TEST_P(JobStoreContract, ClaimedJobIsNeverClaimedAgain) {
  this->submit({.count = 3}, kT0);
  ASSERT_TRUE(this->claim("w1", kT0).has_value());
  EXPECT_FALSE(this->claim("w2", kT0).has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
}

TYPED_TEST_P(JobStoreContract, SubmitAndClaimHandsTheNewGroupToTheWaitingWorker) {
  NewSubmission s;
  s.submission_id = this->ids_.next(kT0);
  s.org_id = "org";
  s.app_version_id = "app";
  for (int i = 0; i < 2; ++i) {
    s.job_ids.push_back(this->ids_.next(kT0));
    s.test_paths.push_back("t" + std::to_string(i));
  }
  ClaimRequest r1{"w1", {Target::emulator}, {}};
  ClaimRequest r2{"w2", {Target::emulator}, {}};
  std::vector<NewSubmission> subs = {s};
  std::vector<ClaimRequest> claims = {r1, r2};
  auto out = this->store().submit_and_claim(subs, claims, kT0);
  ASSERT_EQ(out.submits.size(), 1u);
  ASSERT_TRUE(out.submits[0].outcome);
  ASSERT_EQ(out.claims.size(), 2u);
  ASSERT_TRUE(out.claims[0].has_value());
  EXPECT_EQ(this->ids_of(*out.claims[0]), s.job_ids);
  EXPECT_EQ(out.claims[0]->jobs[0].worker_id, "w1");
  EXPECT_EQ(out.claims[0]->jobs[0].status, JobStatus::assigned);
  EXPECT_FALSE(out.claims[1].has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
}

// A submission handed straight to a waiting worker (submit_and_claim with nothing else
// claimable) ends in the state that queueing it and then claiming it gives: the same job
// fields, counts, lease and list entries, and the lease expires and is fenced the same way.
TYPED_TEST_P(JobStoreContract, GroupHandedToAWaitingWorkerAtSubmitEndsAsIfQueuedThenClaimed) {
  auto make = [&](std::int64_t now) {
    NewSubmission s;
    s.submission_id = this->ids_.next(now);
    s.org_id = "org";
    s.app_version_id = "app";
    s.priority = Priority::high;
    s.retries = 1;
    s.idempotency_key = "key";
    for (int i = 0; i < 3; ++i) {
      s.job_ids.push_back(this->ids_.next(now));
      s.test_paths.push_back("tests/t" + std::to_string(i) + ".spec.js");
    }
    return s;
  };
  ClaimRequest w1{"w1", {Target::emulator, Target::device}, {}};
  struct Seen {
    std::vector<proto::Job> jobs;
    StatsSnapshot stats;
    std::size_t listed = 0;
  };
  auto observe = [&](const Claim& c) {
    Seen seen;
    auto ids = this->ids_of(c);
    for (auto& j : this->store().get(ids)) seen.jobs.push_back(j.value_or(proto::Job{}));
    seen.stats = this->store().stats(kT0 + 1);
    ListQuery q;
    q.limit = 10;
    seen.listed = this->store().list(q).jobs.size();
    q.org_id = "org";
    seen.listed += this->store().list(q).jobs.size();
    q.app_version_id = "app";
    seen.listed += this->store().list(q).jobs.size();
    return seen;
  };

  auto queued = make(kT0);
  ASSERT_TRUE(this->store().submit(queued, kT0).job_ids.size() == 3u);
  auto via_queue = this->store().claim_group(w1, kT0);
  ASSERT_TRUE(via_queue.has_value());
  auto expected = observe(*via_queue);

  this->reset();
  auto handed = make(kT0);
  std::vector<NewSubmission> subs = {handed};
  std::vector<ClaimRequest> claims = {w1};
  auto out = this->store().submit_and_claim(subs, claims, kT0);
  ASSERT_TRUE(out.submits.at(0).outcome);
  EXPECT_EQ(out.submits[0].outcome->job_ids, handed.job_ids);
  ASSERT_TRUE(out.claims.at(0).has_value());
  const auto& c = *out.claims[0];
  EXPECT_EQ(c.group_key, "org/app/emulator");
  EXPECT_EQ(this->ids_of(c), handed.job_ids);
  auto seen = observe(c);
  ASSERT_EQ(seen.jobs.size(), expected.jobs.size());
  for (std::size_t i = 0; i < seen.jobs.size(); ++i) {
    const auto& a = seen.jobs[i];
    const auto& e = expected.jobs[i];
    EXPECT_EQ(a.status, JobStatus::assigned);
    EXPECT_EQ(a.status, e.status);
    EXPECT_EQ(a.attempt, e.attempt);
    EXPECT_EQ(a.worker_id, e.worker_id);
    EXPECT_EQ(a.lease_id, c.lease_id);
    EXPECT_EQ(a.test_path, e.test_path);
    EXPECT_EQ(a.priority, e.priority);
    EXPECT_EQ(a.retries, e.retries);
    EXPECT_EQ(a.max_attempts, e.max_attempts);
    EXPECT_EQ(a.created_at_ms, e.created_at_ms);
    EXPECT_EQ(a.submission_id, handed.submission_id);
    EXPECT_EQ(c.jobs[i].status, JobStatus::assigned);
    EXPECT_EQ(c.jobs[i].attempt, 1u);
    // The claim hands the worker the job as stored, every field.
    EXPECT_TRUE(c.jobs[i] == a) << "job " << i << " (" << a.id << ") differs between the claim and the store";
  }
  EXPECT_EQ(seen.stats.by_status, expected.stats.by_status);
  EXPECT_EQ(seen.stats.by_org, expected.stats.by_org);
  EXPECT_EQ(seen.listed, 9u);
  EXPECT_EQ(seen.listed, expected.listed);
  EXPECT_EQ(this->store().queue_depth(), 0u);
  EXPECT_FALSE(this->claim("w2", kT0 + 1).has_value());

  // The idempotency key was taken: a repeat writes nothing and claims nothing.
  auto again = make(kT0 + 2);
  again.idempotency_key = "key";
  std::vector<NewSubmission> repeat = {again};
  std::vector<ClaimRequest> w2 = {ClaimRequest{"w2", {Target::emulator}, {}}};
  auto dup = this->store().submit_and_claim(repeat, w2, kT0 + 2);
  ASSERT_TRUE(dup.submits.at(0).outcome);
  EXPECT_TRUE(dup.submits[0].outcome->duplicate);
  EXPECT_EQ(dup.submits[0].outcome->job_ids, handed.job_ids);
  EXPECT_FALSE(dup.claims.at(0).has_value());

  // The lease behaves as any claim's: a report is accepted, expiry requeues the rest (after
  // the back-off), and the lost worker's late report is fenced off.
  ASSERT_TRUE(this->report(c, 0, JobStatus::passed, kT0 + 3, std::nullopt, "w1").accepted);
  const std::int64_t lease = this->settings_.lease.count();
  auto expired = this->store().expire_leases(kT0 + lease, 10);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease_id, c.lease_id);
  EXPECT_EQ(expired[0].jobs.size(), 2u);
  EXPECT_EQ(this->report(c, 1, JobStatus::passed, kT0 + lease + 1, std::nullopt, "w1").reason, "stale_attempt");
  EXPECT_EQ(this->store().promote_due(kT0 + lease + 1000, 10), 2u);  // after the back-off
  auto again_claimed = this->claim("w2", kT0 + lease + 1000);
  ASSERT_TRUE(again_claimed.has_value());
  EXPECT_EQ(this->ids_of(*again_claimed), std::vector<std::string>(handed.job_ids.begin() + 1, handed.job_ids.end()));
  EXPECT_EQ(again_claimed->jobs[0].attempt, 2u);
}

// The waiting worker's claim at submit still takes the best group: one already queued goes
// before the new one, and a claim of fewer jobs than submitted leaves the rest queued.
TYPED_TEST_P(JobStoreContract, SubmitAndClaimStillTakesTheOlderGroupAndOnlyWhatTheClaimAsks) {
  auto older = this->submit({.app = "old", .count = 2}, kT0).job_ids;
  auto make = [&](const std::string& app, std::size_t n, Target target, std::int64_t now) {
    NewSubmission s;
    s.submission_id = this->ids_.next(now);
    s.org_id = "org";
    s.app_version_id = app;
    s.target = target;
    for (std::size_t i = 0; i < n; ++i) {
      s.job_ids.push_back(this->ids_.next(now));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    return s;
  };
  std::vector<NewSubmission> subs = {make("new", 2, Target::emulator, kT0 + 1000)};
  std::vector<ClaimRequest> claims = {ClaimRequest{"w1", {Target::emulator}, {}}};
  auto out = this->store().submit_and_claim(subs, claims, kT0 + 1000);
  ASSERT_TRUE(out.claims.at(0).has_value());
  EXPECT_EQ(this->ids_of(*out.claims[0]), older);
  EXPECT_EQ(this->store().queue_depth(), 2u);
  auto next = this->claim("w2", kT0 + 1001);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(this->ids_of(*next), subs[0].job_ids);

  // A claim for another target leaves the submission queued.
  subs = {make("dev", 1, Target::device, kT0 + 2000)};
  out = this->store().submit_and_claim(subs, claims, kT0 + 2000);
  ASSERT_TRUE(out.submits.at(0).outcome);
  EXPECT_FALSE(out.claims.at(0).has_value());
  EXPECT_EQ(this->job(subs[0].job_ids[0]).status, JobStatus::queued);

  // A claim of two takes the head of a new submission of five; three stay queued, in order.
  subs = {make("five", 5, Target::emulator, kT0 + 3000)};
  claims[0].max_jobs = 2;
  out = this->store().submit_and_claim(subs, claims, kT0 + 3000);
  ASSERT_TRUE(out.claims.at(0).has_value());
  EXPECT_EQ(this->ids_of(*out.claims[0]),
            std::vector<std::string>(subs[0].job_ids.begin(), subs[0].job_ids.begin() + 2));
  auto rest = this->claim("w3", kT0 + 3001, {}, {Target::emulator});
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(this->ids_of(*rest), std::vector<std::string>(subs[0].job_ids.begin() + 2, subs[0].job_ids.end()));
}

// ClaimRequest::max_jobs: a claim takes at most that many jobs from the head of the group
// (0: group_max; group_max still caps a larger ask); the rest keeps the group's place.
TYPED_TEST_P(JobStoreContract, MaxJobsTakesPartOfTheGroupFromItsHead) {
  auto jobs = this->submit({.count = 4}, kT0).job_ids;
  auto claim = [&](std::uint32_t max_jobs) {
    ClaimRequest r;
    r.worker_id = "w";
    r.targets = {Target::emulator};
    r.max_jobs = max_jobs;
    return this->store().claim_group(r, kT0 + 1);
  };
  auto ids_of = [](const Claim& c) {
    std::vector<std::string> out;
    for (const auto& j : c.jobs) out.push_back(j.id);
    return out;
  };
  auto c = claim(3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(ids_of(*c), std::vector<std::string>(jobs.begin(), jobs.begin() + 3));
  c = claim(3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(ids_of(*c), std::vector<std::string>{jobs[3]});
  EXPECT_FALSE(claim(3).has_value());

  this->submit({.count = 60}, kT0 + 2);
  c = claim(0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 50u);
  this->submit({.count = 60}, kT0 + 3);
  c = claim(100);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 50u);
}

TYPED_TEST_P(JobStoreContract, GroupClaimedInPartKeepsItsRank) {
  auto older = this->submit({.app = "a", .count = 4}, kT0).job_ids;
  this->submit({.app = "b", .count = 4}, kT0 + 10'000);
  ClaimRequest r;
  r.worker_id = "w";
  r.targets = {Target::emulator};
  r.max_jobs = 2;
  auto c = this->store().claim_group(r, kT0 + 20'000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "a");
  c = this->store().claim_group(r, kT0 + 20'000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "a");
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, older[2]);
  EXPECT_EQ(c->jobs[1].id, older[3]);
  EXPECT_EQ(this->store().queue_depth(), 4u);
}

}  // namespace qg::sched::contract

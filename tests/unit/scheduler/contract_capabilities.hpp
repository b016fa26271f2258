#pragma once
// The JobStore contract. Capabilities: a submission's requirements (worker labels its jobs
// need) are part of its group's identity, and a claim takes a group only when the worker's
// labels hold every requirement exactly; requirement-free work, rank order and fair share work
// across groups with and without requirements as they do without any.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <map>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

using Labels = std::map<std::string, std::string>;

inline std::optional<Claim> claim_labelled(JobStore& store, const std::string& worker, const Labels& labels,
                                           std::int64_t now, std::vector<Target> targets = {Target::emulator}) {
  ClaimRequest r;
  r.worker_id = worker;
  r.targets = std::move(targets);
  r.labels = labels;
  return store.claim_group(r, now);
}

// A group with requirements goes only to a worker whose labels hold them all; a worker
// without them (no labels, one of two, another value, another target) takes other work or
// nothing. The jobs carry their requirements, and the group's key names them.
TYPED_TEST_P(JobStoreContract, GroupWithRequirementsIsClaimedOnlyByAMatchingWorker) {
  const Labels needs{{"os", "android14"}, {"model", "pixel7"}};
  auto with = this->submit({.app = "b1", .count = 3, .needs = needs}, kT0);
  this->submit({.app = "b1", .count = 2}, kT0 + 1000);  // the same build without: a group of its own
  auto& s = this->store();
  EXPECT_FALSE(claim_labelled(s, "w1", {{"os", "android14"}}, kT0 + 2000, {Target::device}));
  auto plain = claim_labelled(s, "w1", {}, kT0 + 2000);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->group_key, "org/b1/emulator");
  EXPECT_EQ(plain->jobs.size(), 2u);
  EXPECT_FALSE(plain->jobs[0].requirements);
  EXPECT_FALSE(claim_labelled(s, "w2", {}, kT0 + 2000));
  EXPECT_FALSE(claim_labelled(s, "w2", {{"os", "android14"}}, kT0 + 2000));
  EXPECT_FALSE(claim_labelled(s, "w2", {{"os", "android13"}, {"model", "pixel7"}}, kT0 + 2000));
  EXPECT_FALSE(claim_labelled(s, "w2", {{"os", "android14"}, {"model", "pixel7"}}, kT0 + 2000, {Target::device}));
  auto matched = claim_labelled(s, "w3", {{"os", "android14"}, {"model", "pixel7"}, {"rack", "3"}}, kT0 + 2000);
  ASSERT_TRUE(matched);
  EXPECT_EQ(matched->group_key, "org/b1/emulator?model=pixel7,os=android14");
  EXPECT_EQ(matched->target, Target::emulator);
  EXPECT_EQ(matched->app_version_id, "b1");
  ASSERT_EQ(matched->jobs.size(), 3u);
  EXPECT_EQ(matched->jobs[0].requirements, needs);
  EXPECT_EQ(this->job(with.job_ids[0]).requirements, needs);
  EXPECT_EQ(this->job(with.job_ids[0]).target, Target::emulator);
  EXPECT_FALSE(claim_labelled(s, "w4", {{"os", "android14"}, {"model", "pixel7"}}, kT0 + 2000));
}

// Submissions of one build with the same requirements form one group (claimed whole); other
// requirements, another. The queue lists each with its requirements. Values with bytes a key
// would not hold (space, '/', ',', '=', '?', '%') keep their meaning.
TYPED_TEST_P(JobStoreContract, SameRequirementsShareAGroupAndOthersDoNot) {
  const Labels odd{{"model", "Pixel 7/8,a=b?%"}, {"os", "android14"}};
  this->submit({.app = "b", .count = 2, .needs = odd}, kT0);
  this->submit({.app = "b", .count = 2, .needs = odd}, kT0 + 10);
  this->submit({.app = "b", .count = 1, .needs = {{"os", "android14"}}}, kT0 + 20);
  auto page = this->store().queue("", 10, kT0 + 100);
  ASSERT_EQ(page.groups.size(), 2u);
  for (const auto& g : page.groups) {
    EXPECT_EQ(g.target, Target::emulator);
    EXPECT_TRUE(g.claimable);
  }
  EXPECT_EQ(page.groups[0].requirements, odd);  // the older group first
  EXPECT_EQ(page.groups[0].depth, 4u);
  EXPECT_EQ(page.groups[1].requirements, (Labels{{"os", "android14"}}));
  auto c = claim_labelled(this->store(), "w", odd, kT0 + 200);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->jobs.size(), 4u);
  EXPECT_EQ(c->jobs[0].requirements, odd);
  auto next = claim_labelled(this->store(), "w2", odd, kT0 + 200);  // its labels hold {os} too
  ASSERT_TRUE(next);
  EXPECT_EQ(next->jobs.size(), 1u);
  EXPECT_FALSE(claim_labelled(this->store(), "w3", odd, kT0 + 200));
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 300).groups.empty());
}

// Rank order holds across a worker's sets: an older group with requirements goes before a
// fresher one without, for a worker that serves both; a labelled worker takes requirement-free
// work as any worker does. Work taken back (a lease expired) returns to its own group, which
// only a matching worker claims again, and a set emptied and filled again is found again.
TYPED_TEST_P(JobStoreContract, RankOrderHoldsAcrossRequirementSetsAndRequeuesStayInTheirSet) {
  this->settings_.group_max = 2;
  this->reset();
  const Labels os{{"os", "a14"}};
  this->submit({.app = "plain", .count = 2}, kT0 + 1000);
  this->submit({.app = "req", .count = 2, .needs = os}, kT0);
  auto first = claim_labelled(this->store(), "w", os, kT0 + 2000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->app_version_id, "req");
  auto second = claim_labelled(this->store(), "w2", os, kT0 + 2000);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->app_version_id, "plain");
  EXPECT_FALSE(claim_labelled(this->store(), "w3", os, kT0 + 2000));
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(this->report(*second, i, JobStatus::passed, kT0 + 3000, std::nullopt, "w2").accepted);
  }
  // first's lease expires: its jobs go back to the group with requirements.
  const std::int64_t later = kT0 + 2000 + this->settings_.lease.count() + 1;
  EXPECT_EQ(this->store().expire_leases(later, 10).size(), 1u);
  const std::int64_t due = later + 60'000;  // past any back-off
  this->store().promote_due(due, 100);
  EXPECT_FALSE(claim_labelled(this->store(), "w4", {}, due));
  auto again = claim_labelled(this->store(), "w5", os, due);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->group_key, "org/req/emulator?os=a14");
  EXPECT_EQ(again->jobs.size(), 2u);
  EXPECT_EQ(again->jobs[0].attempt, 2u);
  // The set is empty now; a new submission with the same requirements fills it again.
  EXPECT_FALSE(claim_labelled(this->store(), "w6", os, due));
  this->submit({.app = "req2", .count = 1, .needs = os}, due);
  auto refilled = claim_labelled(this->store(), "w6", os, due + 1);
  ASSERT_TRUE(refilled);
  EXPECT_EQ(refilled->app_version_id, "req2");
}

// Fair share still alternates orgs of one tier when one org's work has requirements and the
// other's has none, for a worker that serves both.
TYPED_TEST_P(JobStoreContract, FairShareAlternatesAcrossRequirementSets) {
  this->settings_.group_max = 2;
  this->reset();
  const Labels os{{"os", "a14"}};
  for (int app = 0; app < 6; ++app) {
    this->submit({.org = "flood", .app = "f" + std::to_string(app), .count = 2, .needs = os}, kT0 + app);
  }
  this->submit({.org = "small", .app = "s", .count = 6}, kT0 + 5000);
  std::vector<std::string> order;
  for (int k = 0; k < 6; ++k) {
    auto c = claim_labelled(this->store(), "w" + std::to_string(k), os, kT0 + 6000);
    ASSERT_TRUE(c) << k;
    order.push_back(c->org_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"flood", "small", "flood", "small", "flood", "small"}));
}

// A worker waiting when a submission with requirements comes (submit_and_claim) gets it only
// when its labels hold them; otherwise the group stays queued for one that does.
TYPED_TEST_P(JobStoreContract, SubmitAndClaimHandsAGroupWithRequirementsOnlyToAMatchingWorker) {
  const Labels os{{"os", "a14"}};
  std::vector<NewSubmission> subs{this->submission_of({.app = "x", .count = 2, .needs = os}, kT0)};
  ClaimRequest plain;
  plain.worker_id = "w1";
  plain.targets = {Target::emulator};
  auto out = this->store().submit_and_claim(subs, std::vector<ClaimRequest>{plain}, kT0);
  ASSERT_EQ(out.claims.size(), 1u);
  EXPECT_FALSE(out.claims[0]);
  std::vector<NewSubmission> more{this->submission_of({.app = "y", .count = 1, .needs = os}, kT0 + 1)};
  ClaimRequest labelled = plain;
  labelled.worker_id = "w2";
  labelled.labels = {{"os", "a14"}, {"rack", "1"}};
  out = this->store().submit_and_claim(more, std::vector<ClaimRequest>{labelled}, kT0 + 1);
  ASSERT_EQ(out.claims.size(), 1u);
  ASSERT_TRUE(out.claims[0]);
  EXPECT_EQ(out.claims[0]->app_version_id, "x");  // the older group first
  EXPECT_EQ(out.claims[0]->jobs.at(0).requirements, os);
  EXPECT_EQ(out.claims[0]->jobs.at(0).status, JobStatus::assigned);
}

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. Claim order: which jobs and which group a claim takes first. Within a
// group by priority band and age (ageing across bands); across groups by org tier (premium,
// then enterprise, then standard), then priority, then age; an installed build wins within
// the affinity slack.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <algorithm>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, WithinGroupHighBeforeMediumBeforeLowThenOldest) {
  auto low = this->submit({.priority = Priority::low}, kT0);
  auto high1 = this->submit({.priority = Priority::high}, kT0 + 1);
  auto medium = this->submit({.priority = Priority::medium}, kT0 + 2);
  auto high2 = this->submit({.priority = Priority::high}, kT0 + 3);
  auto c = this->claim("w", kT0 + 4);
  ASSERT_TRUE(c.has_value());
  std::vector<std::string> expected = {high1.job_ids[0], high2.job_ids[0], medium.job_ids[0], low.job_ids[0]};
  EXPECT_EQ(this->ids_of(*c), expected);
}

// Ageing reaches the jobs inside a group: they go by rank across its priority bands, so a low
// job that has waited longer than a band's head start goes before that band's fresher jobs.
// Equal ranks go to the higher band.
TYPED_TEST_P(JobStoreContract, WithinGroupJobsGoByRankAcrossBands) {
  const std::int64_t high = this->settings_.high_head_start.count();
  const std::int64_t medium = this->settings_.medium_head_start.count();
  auto low = this->submit({.priority = Priority::low}, kT0);                          // ranks kT0
  auto late_medium = this->submit({.priority = Priority::medium}, kT0 + medium + 1);  // kT0 + 1
  auto early_high = this->submit({.priority = Priority::high}, kT0 + high - 1);       // kT0 - 1
  auto tied_high = this->submit({.priority = Priority::high}, kT0 + high);            // kT0
  auto c = this->claim("w", kT0 + high + 1);
  ASSERT_TRUE(c.has_value());
  std::vector<std::string> expected = {early_high.job_ids[0], tied_high.job_ids[0], low.job_ids[0],
                                       late_medium.job_ids[0]};
  EXPECT_EQ(this->ids_of(*c), expected);
}

// A group ranks by the job a claim would take from it first: a fresher job of a higher band
// entering it does not take away the age its waiting jobs have earned. Both ways into a
// group's lists: a submit, and a batch sent ahead of its reply.
TYPED_TEST_P(JobStoreContract, GroupRanksByTheBestOfItsBands) {
  const std::int64_t medium = this->settings_.medium_head_start.count();
  for (bool sent : {false, true}) {
    SCOPED_TRACE(sent ? "sent batches" : "submits");
    this->reset();
    auto put = [&](const std::string& app, Priority priority, std::int64_t now) {
      return this->submit_or_send(sent, {.app = app, .priority = priority}, now).job_ids.at(0);
    };
    auto a_low = put("a", Priority::low, kT0);                      // a ranks kT0
    put("b", Priority::low, kT0 + 10);                              // b ranks kT0 + 10
    auto a_medium = put("a", Priority::medium, kT0 + medium + 20);  // ranks kT0 + 20
    auto c = this->claim("w", kT0 + medium + 30);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->app_version_id, "a");
    EXPECT_EQ(this->ids_of(*c), (std::vector<std::string>{a_low, a_medium}));
  }
}

// A build whose high-priority jobs keep coming as fast as claims take them still lets its low
// job out: once that has waited longer than the high head start, it ranks first.
TYPED_TEST_P(JobStoreContract, BusyGroupDoesNotStarveItsLowJobs) {
  this->settings_.group_max = 2;
  this->reset();
  const std::string low = this->submit({.priority = Priority::low}, kT0).job_ids[0];
  const std::int64_t minute = 60'000;
  const std::int64_t rounds = this->settings_.high_head_start.count() / minute;
  for (std::int64_t k = 1; k <= rounds + 1; ++k) {
    const std::int64_t now = kT0 + k * minute;
    this->submit({.count = 2, .priority = Priority::high}, now);
    auto c = this->claim("w", now);
    ASSERT_TRUE(c.has_value());
    auto ids = this->ids_of(*c);
    // Round `rounds`: the high jobs rank kT0, equal to the low job's rank, and the higher
    // band goes first.
    EXPECT_EQ(std::find(ids.begin(), ids.end(), low) != ids.end(), k == rounds + 1) << "round " << k;
  }
}

// Both ways into new groups: a submit, and a batch sent ahead of its reply (which ranks a new
// group from the rank the store works out for the batch, not from a job it reads).
TYPED_TEST_P(JobStoreContract, AcrossGroupsTierThenPriorityThenAge) {
  this->settings_.org_tiers["ent"] = OrgTier::enterprise;
  for (bool sent : {false, true}) {
    SCOPED_TRACE(sent ? "sent batches" : "submits");
    this->reset();
    auto put = [&](const SubmitSpec& spec, std::int64_t now) { this->submit_or_send(sent, spec, now); };
    put({.org = "std", .app = "old-medium", .priority = Priority::medium}, kT0);
    put({.org = "std", .app = "high", .priority = Priority::high}, kT0 + 1000);
    put({.org = "std", .app = "new-medium", .priority = Priority::medium}, kT0 + 2000);
    put({.org = "ent", .app = "low", .priority = Priority::low}, kT0 + 3000);
    std::vector<std::string> order;
    while (auto c = this->claim("w", kT0 + 5000)) order.push_back(c->group_key);
    std::vector<std::string> expected = {"ent/low/emulator", "std/high/emulator", "std/old-medium/emulator",
                                         "std/new-medium/emulator"};
    EXPECT_EQ(order, expected);
  }
}

// The tier order of the specification: premium, then enterprise, then standard, for jobs
// submitted at the same moment (the standard org's first, so submit order cannot explain it).
TYPED_TEST_P(JobStoreContract, PremiumBeforeEnterpriseBeforeStandard) {
  this->settings_.org_tiers["prem"] = OrgTier::premium;
  this->settings_.org_tiers["ent"] = OrgTier::enterprise;
  for (bool sent : {false, true}) {
    SCOPED_TRACE(sent ? "sent batches" : "submits");
    this->reset();
    for (const char* org : {"std", "ent", "prem"}) this->submit_or_send(sent, {.org = org, .app = "app"}, kT0);
    std::vector<std::string> order;
    while (auto c = this->claim("w", kT0 + 1000)) order.push_back(c->group_key);
    std::vector<std::string> expected = {"prem/app/emulator", "ent/app/emulator", "std/app/emulator"};
    EXPECT_EQ(order, expected);
  }
}

TYPED_TEST_P(JobStoreContract, LowGroupThatWaitedLongerThanHeadStartBeatsNewHighGroup) {
  const std::int64_t head_start = this->settings_.high_head_start.count();
  this->submit({.app = "low", .priority = Priority::low}, kT0);
  this->submit({.app = "high-late", .priority = Priority::high}, kT0 + head_start + 1);
  auto c = this->claim("w", kT0 + head_start + 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "low");

  // Within the head start, high still wins.
  this->reset();
  this->submit({.app = "low", .priority = Priority::low}, kT0);
  this->submit({.app = "high-early", .priority = Priority::high}, kT0 + head_start - 1);
  c = this->claim("w", kT0 + head_start);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "high-early");
}

TYPED_TEST_P(JobStoreContract, InstalledBuildWinsWithinAffinitySlack) {
  const std::int64_t slack = this->settings_.affinity_slack.count();
  this->submit({.app = "a"}, kT0);
  this->submit({.app = "b"}, kT0 + slack);
  this->submit({.app = "c"}, kT0 + slack + 1);
  auto c = this->claim("w1", kT0 + 10000, {"org/c"});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "a") << "c is outside the slack";
  this->reset();
  this->submit({.app = "a"}, kT0);
  this->submit({.app = "b"}, kT0 + slack);
  c = this->claim("w1", kT0 + 10000, {"org/b"});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "b");
  c = this->claim("w2", kT0 + 10000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->app_version_id, "a");
}

}  // namespace qg::sched::contract

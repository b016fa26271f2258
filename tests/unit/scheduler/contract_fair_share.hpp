#pragma once
// The JobStore contract. Fair share inside a tier: orgs of one tier share the devices (leases)
// in proportion to their weights while each has work queued; ageing bounds it (a group further
// than fair_share_slack behind the best is not run first), and tiers still come first.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <map>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

// Claims `n` groups by workers w0, w1, ... (none reports, so each holds its device) and counts
// them by org.
inline std::map<std::string, int> claims_by_org(JobStore& store, int n, std::int64_t now,
                                                std::vector<std::string>* order = nullptr) {
  std::map<std::string, int> by_org;
  for (int k = 0; k < n; ++k) {
    ClaimRequest r;
    r.worker_id = "w" + std::to_string(k);
    r.targets = {Target::emulator};
    auto c = store.claim_group(r, now);
    if (!c) {
      ADD_FAILURE() << "claim " << k << " found nothing";
      break;
    }
    by_org[c->org_id] += 1;
    if (order) order->push_back(c->org_id);
  }
  return by_org;
}

// An org that floods the queue first does not hold every device: the other org of its tier,
// queued later, gets every other claim (equal weights) instead of waiting for the flood.
TYPED_TEST_P(JobStoreContract, FairShareAlternatesOrgsOfOneTierOfEqualWeight) {
  this->settings_.group_max = 2;
  this->reset();
  for (int app = 0; app < 8; ++app) {
    this->submit({.org = "flood", .app = "f" + std::to_string(app), .count = 20, .priority = Priority::high}, kT0);
  }
  this->submit({.org = "small", .app = "s", .count = 8, .priority = Priority::high}, kT0 + 5000);
  std::vector<std::string> order;
  auto by_org = claims_by_org(this->store(), 8, kT0 + 6000, &order);
  EXPECT_EQ(by_org["small"], 4);
  EXPECT_EQ(by_org["flood"], 4);
  EXPECT_EQ(order.at(0), "flood");  // equal shares: the better rank
  EXPECT_EQ(order.at(1), "small");

  // Off, rank order alone: the flood takes every claim.
  this->settings_.fair_share_slack = std::chrono::milliseconds(0);
  this->reset();
  this->submit({.org = "flood", .app = "f", .count = 40, .priority = Priority::high}, kT0);
  this->submit({.org = "small", .app = "s", .count = 8, .priority = Priority::high}, kT0 + 5000);
  EXPECT_EQ(claims_by_org(this->store(), 4, kT0 + 6000)["flood"], 4);
}

// An org with more ready groups than a claim reads candidates of (16 per target), all ranked
// ahead, does not hide another org: fair share reads each org's best group too.
TYPED_TEST_P(JobStoreContract, FairShareFindsAnOrgBehindManyGroupsOfAnother) {
  this->settings_.group_max = 5;
  this->reset();
  for (int app = 0; app < 40; ++app)
    this->submit({.org = "flood", .app = "f" + std::to_string(app), .count = 5}, kT0 + app);
  this->submit({.org = "small", .app = "s", .count = 10}, kT0 + 1000);
  std::vector<std::string> order;
  claims_by_org(this->store(), 4, kT0 + 2000, &order);
  EXPECT_EQ(order, (std::vector<std::string>{"flood", "small", "flood", "small"}));
  // Its group taken whole, small leaves the per-org index with it: the flood goes on alone.
  EXPECT_EQ(claims_by_org(this->store(), 3, kT0 + 3000)["flood"], 3);
}

// Weights 3:1 give the heavier org three devices for each of the other's.
TYPED_TEST_P(JobStoreContract, FairShareFollowsOrgWeights) {
  this->settings_.group_max = 1;
  this->settings_.org_weights = {{"heavy", 3.0}};
  this->reset();
  this->submit({.org = "light", .app = "l", .count = 20}, kT0);
  this->submit({.org = "heavy", .app = "h", .count = 20}, kT0 + 1000);
  auto by_org = claims_by_org(this->store(), 8, kT0 + 2000);
  EXPECT_EQ(by_org["heavy"], 6);
  EXPECT_EQ(by_org["light"], 2);
}

// A device given back (a lease ended by its reports, or expired) no longer counts for its org.
TYPED_TEST_P(JobStoreContract, FairShareCountsOnlyLeasesStillHeld) {
  this->settings_.group_max = 1;
  this->reset();
  this->submit({.org = "a", .app = "x", .count = 10}, kT0);
  this->submit({.org = "b", .app = "y", .count = 10}, kT0 + 1000);
  auto a1 = this->claim("w", kT0 + 2000);
  auto b1 = this->claim("w2", kT0 + 2000);
  ASSERT_TRUE(a1 && b1);
  EXPECT_EQ(a1->org_id, "a");
  EXPECT_EQ(b1->org_id, "b");
  // a gives its device back: a holds none, b one, so a goes next.
  ASSERT_TRUE(this->report(*a1, 0, JobStatus::passed, kT0 + 3000).accepted);
  auto next = this->claim("w", kT0 + 3000);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->org_id, "a");
  // b's lease expires: b holds none, a one, so b goes next.
  const std::int64_t later = kT0 + 2000 + this->settings_.lease.count() + 1;
  ASSERT_TRUE(this->store().renew_lease("w", next->lease_id, later - 1));
  EXPECT_EQ(this->store().expire_leases(later, 10).size(), 1u);
  auto after = this->claim("w3", later);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->org_id, "b");
}

// Fair share never overrides a tier, nor runs a group that is further than the slack behind
// the best (the ageing bound): there, rank order decides.
TYPED_TEST_P(JobStoreContract, FairShareKeepsTiersAndTheAgeingBound) {
  this->settings_.group_max = 1;
  this->settings_.org_tiers = {{"gold", OrgTier::premium}};
  this->settings_.fair_share_slack = std::chrono::milliseconds(2 * 3600 * 1000);  // wider than the tier's head start
  this->reset();
  this->submit({.org = "gold", .app = "g", .count = 10}, kT0);
  this->submit({.org = "plain", .app = "p", .count = 10}, kT0);
  EXPECT_EQ(claims_by_org(this->store(), 4, kT0 + 1000)["gold"], 4);

  this->settings_.fair_share_slack = std::chrono::milliseconds(60'000);
  this->reset();
  this->submit({.org = "old", .app = "o", .count = 10}, kT0);
  this->submit({.org = "late", .app = "l", .count = 10}, kT0 + 60'001);  // beyond the slack
  auto by_org = claims_by_org(this->store(), 3, kT0 + 70'000);
  EXPECT_EQ(by_org["old"], 3);
  this->submit({.org = "soon", .app = "s", .count = 10}, kT0 + 59'000);  // within it
  auto c = this->claim("w9", kT0 + 70'000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->org_id, "soon");
}

}  // namespace qg::sched::contract

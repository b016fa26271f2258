#pragma once
// The JobStore contract. Races: two handles on the same data (Backend::make_peer) claiming or
// expiring leases from two threads at once; each job is handed out, and each lease expired,
// exactly once.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, RacingClaimsNeverHandOutAJobTwice) {
  this->settings_.group_max = 4;
  this->reset();
  std::size_t total = 0;
  for (int g = 0; g < 20; ++g) {
    total += this->submit({.app = "a" + std::to_string(g), .count = 5}, kT0 + g).job_ids.size();
  }
  auto peer = TypeParam::make_peer(this->settings_, this->store_);
  std::vector<std::string> got[2];
  auto run = [&](JobStore& s, std::vector<std::string>& out, const std::string& worker) {
    ClaimRequest r{worker, {Target::emulator}, {}};
    while (auto c = s.claim_group(r, kT0 + 100)) {
      for (const auto& j : c->jobs) out.push_back(j.id);
    }
  };
  std::thread t1([&] { run(this->store(), got[0], "w1"); });
  std::thread t2([&] { run(*peer, got[1], "w2"); });
  t1.join();
  t2.join();
  std::set<std::string> unique(got[0].begin(), got[0].end());
  unique.insert(got[1].begin(), got[1].end());
  EXPECT_EQ(got[0].size() + got[1].size(), total);
  EXPECT_EQ(unique.size(), total);
}

TYPED_TEST_P(JobStoreContract, LeaseExpiryIsAppliedExactlyOnceWhenStoresRace) {
  this->settings_.group_max = 1;
  this->reset();
  this->submit({.count = 30}, kT0);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(this->claim("w" + std::to_string(i), kT0).has_value());
  auto peer = TypeParam::make_peer(this->settings_, this->store_);
  std::vector<ExpiredLease> got[2];
  auto run = [&](JobStore& s, std::vector<ExpiredLease>& out) {
    while (true) {
      auto batch = s.expire_leases(kT0 + 60'000, 3);
      if (batch.empty()) break;
      for (auto& e : batch) out.push_back(std::move(e));
    }
  };
  std::thread t1([&] { run(this->store(), got[0]); });
  std::thread t2([&] { run(*peer, got[1]); });
  t1.join();
  t2.join();
  std::set<std::string> leases;
  std::size_t jobs = 0;
  for (auto& side : got) {
    for (auto& e : side) {
      leases.insert(e.lease_id);
      jobs += e.jobs.size();
    }
  }
  EXPECT_EQ(got[0].size() + got[1].size(), 30u);
  EXPECT_EQ(leases.size(), 30u);
  EXPECT_EQ(jobs, 30u);
  EXPECT_EQ(this->store().queue_depth(), 30u);
}

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. Device health: a worker whose groups end in infrastructure failures
// quarantine_after times in a row (one failure per group, however many jobs it held) claims
// nothing; after the cooldown it may claim one job (a probe); a sound report ends the
// quarantine, a failed probe renews it; an operator may end it at once.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <string>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, WorkerFailingInstallsInARowIsQuarantinedThenProbed) {
  this->settings_.quarantine_after = 2;
  this->settings_.quarantine_cooldown = std::chrono::milliseconds(60'000);
  this->settings_.group_max = 3;
  this->settings_.backoff.base = std::chrono::milliseconds(0);
  this->reset();
  this->submit({.app = "a", .count = 30, .max_attempts = 10}, kT0);
  auto fail_group = [&](const Claim& c, std::int64_t now) {
    for (std::size_t i = 0; i < c.jobs.size(); ++i) {
      ASSERT_TRUE(this->report(*&c, i, JobStatus::error, now).accepted);
    }
    this->store().promote_due(now + 1000, 100);
  };
  // One group whose install failed is one failure (three jobs reported): not quarantined.
  auto c = this->claim("w", kT0 + 1);
  ASSERT_TRUE(c && c->jobs.size() == 3u);
  fail_group(*c, kT0 + 2);
  EXPECT_TRUE(this->store().quarantined().empty());
  // A second group in a row: quarantined until the cooldown ends.
  c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c);
  fail_group(*c, kT0 + 4);
  auto q = this->store().quarantined();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.begin()->first, "w");
  EXPECT_EQ(q.begin()->second, kT0 + 4 + 60'000);
  EXPECT_FALSE(this->claim("w", kT0 + 5).has_value());
  EXPECT_FALSE(this->claim("w", kT0 + 4 + 59'999).has_value());
  EXPECT_TRUE(this->claim("other", kT0 + 5).has_value());  // others still get work
  // Also not through a submit handed straight to it.
  {
    std::vector<NewSubmission> subs = {this->submission_of({.app = "fresh", .count = 1}, kT0 + 6)};
    ClaimRequest r;
    r.worker_id = "w";
    r.targets = {Target::emulator};
    std::vector<ClaimRequest> claims = {r};
    auto out = this->store().submit_and_claim(subs, claims, kT0 + 6);
    EXPECT_FALSE(out.claims.at(0).has_value());
  }

  // After the cooldown: one job, a probe; a second claim before another cooldown gets none.
  const std::int64_t probe_at = kT0 + 4 + 60'000;
  auto probe = this->claim("w", probe_at);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->jobs.size(), 1u);
  EXPECT_FALSE(this->claim("w", probe_at + 1).has_value());
  // The probe fails: quarantined again, a cooldown from now.
  fail_group(*probe, probe_at + 2);
  EXPECT_EQ(this->store().quarantined().at("w"), probe_at + 2 + 60'000);
  // The next probe passes: healthy, whole groups again.
  probe = this->claim("w", probe_at + 2 + 60'000);
  ASSERT_TRUE(probe && probe->jobs.size() == 1u);
  ASSERT_TRUE(this->report(*probe, 0, JobStatus::passed, probe_at + 60'003).accepted);
  EXPECT_TRUE(this->store().quarantined().empty());
  auto whole = this->claim("w", probe_at + 60'004);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->jobs.size(), 3u);
  // A failed test is the device working: it breaks the run of failures.
  fail_group(*whole, probe_at + 60'005);
  c = this->claim("w", probe_at + 60'006);
  ASSERT_TRUE(c);
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, probe_at + 60'007).accepted);
  for (std::size_t i = 1; i < c->jobs.size(); ++i) this->report(*c, i, JobStatus::passed, probe_at + 60'007);
  c = this->claim("w", probe_at + 60'008);
  ASSERT_TRUE(c);
  fail_group(*c, probe_at + 60'009);
  EXPECT_TRUE(this->store().quarantined().empty());  // one failure since the failed test

  // An operator ends a quarantine at once.
  c = this->claim("w", probe_at + 60'010);
  ASSERT_TRUE(c);
  fail_group(*c, probe_at + 60'011);
  ASSERT_EQ(this->store().quarantined().size(), 1u);
  EXPECT_TRUE(this->store().unquarantine("w"));
  EXPECT_FALSE(this->store().unquarantine("w"));
  EXPECT_TRUE(this->store().quarantined().empty());
  c = this->claim("w", probe_at + 60'012);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

TYPED_TEST_P(JobStoreContract, QuarantineOffNeverQuarantines) {
  this->settings_.quarantine_after = 0;
  this->settings_.group_max = 1;
  this->settings_.backoff.base = std::chrono::milliseconds(0);
  this->reset();
  this->submit({.count = 10, .max_attempts = 20}, kT0);
  for (int k = 0; k < 6; ++k) {
    auto c = this->claim("w", kT0 + 10 * k);
    ASSERT_TRUE(c.has_value()) << k;
    ASSERT_TRUE(this->report(*c, 0, JobStatus::error, kT0 + 10 * k + 1).accepted);
    this->store().promote_due(kT0 + 10 * k + 5, 100);
  }
  EXPECT_TRUE(this->store().quarantined().empty());
}

}  // namespace qg::sched::contract

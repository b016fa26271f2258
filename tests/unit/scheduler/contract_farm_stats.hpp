#pragma once
// The JobStore contract. Farm statistics (qg/scheduler/farm_stats.hpp): final statuses, test
// and install durations and runs per install, per (org, target), over the last hour and day;
// buckets that leave their window with simulated time; one org's figures alone on request.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

// The record of key ("<org>/<target>") and window, if STATS would send one.
inline std::optional<proto::FarmStat> farm_record(const std::vector<proto::FarmStat>& records, const std::string& org,
                                                  Target target, const std::string& window) {
  for (const auto& r : records) {
    if (r.org_id == org && r.target == target && r.window == window) return r;
  }
  return std::nullopt;
}

// A quantile read from the bins is within 2^(1/8) of the sample (farm_stats.hpp).
inline void expect_near_bin(std::int64_t got, std::int64_t want) {
  EXPECT_LE(std::abs(static_cast<double>(got - want)), 0.0906 * static_cast<double>(want)) << got << " vs " << want;
}

TYPED_TEST_P(JobStoreContract, FarmStatsCountStatusesDurationsAndInstallsPerOrgAndTarget) {
  this->submit({.org = "a", .count = 4}, kT0);
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 4u);
  // Two passes in one batch (the first carries the install), a failure and a pass alone.
  std::vector<proto::Report> batch = {this->report_of(*c, 0, JobStatus::passed, 1),
                                      this->report_of(*c, 1, JobStatus::passed, 1)};
  batch[0].duration_ms = 1000;
  batch[0].install_ms = 30'000;
  batch[1].duration_ms = 2000;
  auto outcomes = this->store().report_many(batch, kT0 + 100, false);
  ASSERT_TRUE(outcomes[0].accepted && outcomes[1].accepted);
  auto failed = this->report_of(*c, 2, JobStatus::failed, 1);
  failed.duration_ms = 4000;
  failed.exit_code = 1;
  ASSERT_TRUE(this->store().report(failed, kT0 + 200).accepted);
  auto last = this->report_of(*c, 3, JobStatus::passed, 1);
  last.duration_ms = 8000;
  ASSERT_TRUE(this->store().report(last, kT0 + 300).accepted);
  // A refused report counts nothing.
  EXPECT_FALSE(this->store().report(last, kT0 + 400).accepted);

  // Org b: a job cancelled while queued (device), one still queued (browserstack).
  auto cancelled = this->submit({.org = "b", .target = Target::device}, kT0 + 500);
  EXPECT_EQ(this->store().cancel_job(cancelled.job_ids[0], kT0 + 600).outcome, "cancelled");
  this->submit({.org = "b", .target = Target::browserstack}, kT0 + 700);

  const auto now = kT0 + 10'000;
  const auto all = this->store().farm_stats(now);
  for (const char* window : {"hour", "day"}) {
    auto a = farm_record(all, "a", Target::emulator, window);
    ASSERT_TRUE(a.has_value()) << window;
    EXPECT_EQ(a->by_status, (std::map<std::string, std::uint64_t>{{"passed", 3}, {"failed", 1}}));
    EXPECT_EQ(a->finished, 4u);
    EXPECT_DOUBLE_EQ(a->success_rate, 0.75);
    EXPECT_EQ(a->tests_run, 4u);
    EXPECT_EQ(a->installs, 1u);
    EXPECT_DOUBLE_EQ(a->tests_per_install, 4.0);
    expect_near_bin(a->install_p50_ms, 30'000);
    expect_near_bin(a->test_p50_ms, 2000);  // the 2nd of 1, 2, 4, 8 s
    expect_near_bin(a->test_p95_ms, 8000);
    EXPECT_EQ(a->oldest_queued_ms, 0);
  }
  auto b_device = farm_record(all, "b", Target::device, "hour");
  ASSERT_TRUE(b_device.has_value());
  EXPECT_EQ(b_device->by_status.at("cancelled"), 1u);
  EXPECT_DOUBLE_EQ(b_device->success_rate, 0.0);  // cancelled jobs are not judged
  auto b_queued = farm_record(all, "b", Target::browserstack, "day");
  ASSERT_TRUE(b_queued.has_value());
  EXPECT_EQ(b_queued->finished, 0u);
  EXPECT_EQ(b_queued->oldest_queued_ms, now - (kT0 + 700));

  // One org's figures alone.
  const auto only_b = this->store().farm_stats(now, "b");
  EXPECT_FALSE(only_b.empty());
  EXPECT_TRUE(std::ranges::all_of(only_b, [](const auto& r) { return r.org_id == "b"; }));
  EXPECT_TRUE(farm_record(only_b, "b", Target::device, "day").has_value());
  EXPECT_TRUE(this->store().farm_stats(now, "nobody").empty());
}

TYPED_TEST_P(JobStoreContract, FarmStatsLeaveTheHourAfterAnHourAndTheDayAfterADay) {
  this->submit({.org = "a"}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::passed, kT0).accepted);
  const auto finished = [&](std::int64_t now, const char* window) -> std::uint64_t {
    auto r = farm_record(this->store().farm_stats(now), "a", Target::emulator, window);
    return r ? r->finished : 0;
  };
  constexpr std::int64_t kMinute = 60'000;
  EXPECT_EQ(finished(kT0 + 58 * kMinute, "hour"), 1u);
  EXPECT_EQ(finished(kT0 + 61 * kMinute, "hour"), 0u);
  EXPECT_EQ(finished(kT0 + 61 * kMinute, "day"), 1u);
  EXPECT_EQ(finished(kT0 + 23 * 60 * kMinute, "day"), 1u);
  EXPECT_EQ(finished(kT0 + 24 * 60 * kMinute + 10 * kMinute, "day"), 0u);
  // A later finish lands in the buckets of its own time.
  this->submit({.org = "a"}, kT0 + 90 * kMinute);
  auto later = this->claim("w", kT0 + 90 * kMinute);
  ASSERT_TRUE(later.has_value());
  ASSERT_TRUE(this->report(*later, 0, JobStatus::failed, kT0 + 90 * kMinute).accepted);
  EXPECT_EQ(finished(kT0 + 91 * kMinute, "hour"), 1u);
  EXPECT_EQ(finished(kT0 + 91 * kMinute, "day"), 2u);
}

}  // namespace qg::sched::contract

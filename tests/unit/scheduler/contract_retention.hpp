#pragma once
// The JobStore contract. Retention: sweep_retention deletes jobs past their retention (finished
// and dead ones each after their own), a batch at a time, with their idempotency keys and
// index entries, and leaves every other job, the queues and the list cursors working.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <chrono>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

inline constexpr std::int64_t kHour = 3'600'000;

TYPED_TEST_P(JobStoreContract, FinishedJobsGoAfterRetentionWithTheirIdempotencyKeys) {
  this->settings_.retention = std::chrono::hours(1);
  this->settings_.dead_retention = std::chrono::hours(2);
  this->reset();
  auto& store = this->store();
  auto single = this->submit({.app = "a", .idempotency_key = "k1"}, kT0);
  auto suite = this->send({.app = "a", .count = 3, .idempotency_key = "k2"}, kT0);
  auto kept = this->submit({.app = "b"}, kT0);
  auto c = this->claim("w", kT0 + 1, {}, {Target::emulator});
  ASSERT_TRUE(c);
  ASSERT_EQ(c->jobs.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) ASSERT_TRUE(this->report(*c, i, JobStatus::passed, kT0 + 10).accepted);

  EXPECT_EQ(store.sweep_retention(kT0 + 10 + kHour - 1, 100).deleted, 0u) << "not yet past retention";
  EXPECT_EQ(store.get(single.job_ids).at(0).has_value(), true);
  auto swept = store.sweep_retention(kT0 + 10 + kHour, 100);
  EXPECT_EQ(swept.deleted, 4u);
  EXPECT_FALSE(swept.more);
  for (const auto& j : store.get(suite.job_ids)) EXPECT_FALSE(j.has_value());
  EXPECT_FALSE(store.get(single.job_ids).at(0).has_value());
  EXPECT_TRUE(store.get(kept.job_ids).at(0).has_value()) << "a queued job is never swept";

  // The keys went with their jobs: the same keys now make new submissions.
  EXPECT_FALSE(this->submit({.app = "a", .idempotency_key = "k1"}, kT0 + 2 * kHour).duplicate);
  EXPECT_FALSE(this->submit({.app = "a", .count = 2, .idempotency_key = "k2"}, kT0 + 2 * kHour).duplicate);
  auto page = store.list({.org_id = "org", .app_version_id = "a", .limit = 50});
  EXPECT_EQ(page.jobs.size(), 3u) << "only the new submissions' jobs are listed";
  auto stats = store.stats(kT0 + 2 * kHour);
  EXPECT_EQ(stats.by_status.count("passed"), 0u) << "counts cover the jobs kept";
  EXPECT_EQ(store.sweep_retention(kT0 + 3 * kHour, 100).deleted, 0u);
}

TYPED_TEST_P(JobStoreContract, SweepDeletesAtMostItsBatchAndSaysWhenMoreAreDue) {
  this->settings_.retention = std::chrono::seconds(30);
  this->reset();
  auto& store = this->store();
  for (int i = 0; i < 5; ++i) this->submit({.app = "a"}, kT0 + i);
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->jobs.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) ASSERT_TRUE(this->report(*c, i, JobStatus::failed, kT0 + 20).accepted);
  const std::int64_t later = kT0 + 20 + 30'000;
  auto first = store.sweep_retention(later, 2);
  EXPECT_EQ(first.deleted, 2u);
  EXPECT_TRUE(first.more);
  EXPECT_EQ(store.sweep_retention(later, 2).deleted, 2u);
  EXPECT_EQ(store.sweep_retention(later, 2).deleted, 1u);
  auto last = store.sweep_retention(later, 2);
  EXPECT_EQ(last.deleted, 0u);
  EXPECT_FALSE(last.more);
  EXPECT_TRUE(store.list({.limit = 50}).jobs.empty());
}

TYPED_TEST_P(JobStoreContract, DeadJobsGoAfterDeadRetentionAndRetentionOffKeepsJobs) {
  this->settings_.retention = std::nullopt;
  this->settings_.dead_retention = std::chrono::hours(2);
  this->reset();
  auto& store = this->store();
  auto dead = this->submit({.app = "a", .max_attempts = 1}, kT0);
  auto passed = this->submit({.app = "b"}, kT0);
  auto c1 = this->claim("w", kT0 + 1, {}, {Target::emulator});
  ASSERT_TRUE(c1);
  ASSERT_TRUE(this->report(*c1, 0, JobStatus::error, kT0 + 2).accepted);
  auto c2 = this->claim("w", kT0 + 3, {}, {Target::emulator});
  ASSERT_TRUE(c2);
  ASSERT_TRUE(this->report(*c2, 0, JobStatus::passed, kT0 + 4).accepted);
  EXPECT_EQ(this->job(dead.job_ids[0]).status, JobStatus::dead);

  EXPECT_EQ(store.sweep_retention(kT0 + 2 + 2 * kHour - 1, 100).deleted, 0u);
  EXPECT_EQ(store.sweep_retention(kT0 + 2 + 2 * kHour, 100).deleted, 1u);
  EXPECT_FALSE(store.get(dead.job_ids).at(0).has_value());
  EXPECT_EQ(store.sweep_retention(kT0 + 1000 * kHour, 100).deleted, 0u) << "retention off keeps finished jobs";
  EXPECT_TRUE(store.get(passed.job_ids).at(0).has_value());
  EXPECT_EQ(store.retention(), std::optional<std::chrono::milliseconds>(std::chrono::hours(2)));
}

// A job cancelled while queued may leave its entry in its group's list; once swept, that
// entry must not come back as a job to claim.
TYPED_TEST_P(JobStoreContract, SweptCancelledQueuedJobLeavesNothingToClaim) {
  this->settings_.retention = std::chrono::seconds(1);
  this->reset();
  auto& store = this->store();
  auto s = this->submit({.app = "a", .count = 3}, kT0);
  EXPECT_EQ(store.cancel_job(s.job_ids[0], kT0 + 1).outcome, "cancelled");
  EXPECT_EQ(store.sweep_retention(kT0 + 2000, 100).deleted, 1u);
  EXPECT_EQ(store.queue_depth(), 2u);
  auto c = this->claim("w", kT0 + 2001);
  ASSERT_TRUE(c);
  EXPECT_EQ(this->ids_of(*c), (std::vector<std::string>{s.job_ids[1], s.job_ids[2]}));
  EXPECT_FALSE(this->claim("w2", kT0 + 2002).has_value());
}

TYPED_TEST_P(JobStoreContract, ListCursorStaysValidAcrossASweep) {
  this->settings_.retention = std::chrono::seconds(1);
  this->reset();
  auto& store = this->store();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(this->submit({.app = "a"}, kT0 + i).job_ids[0]);
  ListQuery q{.limit = 2};
  auto page1 = store.list(q);
  ASSERT_EQ(page1.jobs.size(), 2u);
  EXPECT_EQ(page1.jobs[0].id, ids[5]);
  // The three oldest finish and go.
  auto c = this->claim("w", kT0 + 10, {}, {Target::emulator});
  ASSERT_TRUE(c);
  for (std::size_t i = 0; i < c->jobs.size(); ++i) {
    const auto& id = c->jobs[i].id;
    if (id == ids[0] || id == ids[1] || id == ids[2]) {
      ASSERT_TRUE(this->report(*c, i, JobStatus::passed, kT0 + 20).accepted);
    }
  }
  EXPECT_EQ(store.sweep_retention(kT0 + 1020, 100).deleted, 3u);
  q.cursor = page1.next_cursor;
  auto page2 = store.list(q);
  std::vector<std::string> got;
  for (const auto& j : page2.jobs) got.push_back(j.id);
  q.cursor = page2.next_cursor;
  while (!q.cursor.empty()) {
    auto more = store.list(q);
    for (const auto& j : more.jobs) got.push_back(j.id);
    q.cursor = more.next_cursor;
  }
  EXPECT_EQ(got, (std::vector<std::string>{ids[3]})) << "the page after the cursor, without the swept jobs";
}

}  // namespace qg::sched::contract

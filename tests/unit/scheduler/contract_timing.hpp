#pragma once
// The JobStore contract. Timing history (qg/scheduler/timing_history.hpp): what accepted
// reports record per (org, target, test), per (org, target), per (org, build, device) and per
// (org, target, build); the bound per org that evicts the summary written longest ago; expiry
// with the retention of finished jobs; and the estimates made from it (qg/scheduler/eta.hpp):
// queue places, the median of the org's tests for a test never seen, no estimate without a
// live worker.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <optional>
#include <string>
#include <vector>

#include "contract_fixture.hpp"
#include "qg/scheduler/eta.hpp"

namespace qg::sched::contract {

inline std::optional<timing::Summary> timing_of(JobStore& store, const std::string& org, const std::string& field,
                                                std::int64_t now) {
  std::vector<timing::Key> keys{{org, field}};
  return store.timing(keys, now).at(0);
}

TYPED_TEST_P(JobStoreContract, TimingHistoryRecordsTestsAndInstallsOfAcceptedReports) {
  this->submit({.org = "a", .count = 3}, kT0);
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c.has_value());
  // A batch of passes (the first carries the install), then a failure and an infrastructure
  // error alone: the error's duration is not a test's.
  std::vector<proto::Report> batch = {this->report_of(*c, 0, JobStatus::passed, 1),
                                      this->report_of(*c, 1, JobStatus::passed, 1)};
  batch[0].duration_ms = 1000;
  batch[0].install_ms = 30'000;
  batch[1].duration_ms = 2000;
  auto outcomes = this->store().report_many(batch, kT0 + 100, false);
  ASSERT_TRUE(outcomes[0].accepted && outcomes[1].accepted);
  auto error = this->report_of(*c, 2, JobStatus::error, 1);
  error.duration_ms = 99'000;
  ASSERT_TRUE(this->store().report(error, kT0 + 200).accepted);
  // A refused report records nothing.
  EXPECT_FALSE(this->store().report_many(batch, kT0 + 300, false).at(0).accepted);

  const auto now = kT0 + 1000;
  auto& s = this->store();
  auto t0 = timing_of(s, "a", timing::test_field(Target::emulator, "tests/t0.spec.js"), now);
  ASSERT_TRUE(t0.has_value());
  EXPECT_EQ(*t0, (timing::Summary{1000, 1000, 1000, 1, kT0 / 1000}));
  // The org's tests on the target: 1000 then 2000 ms. Mean by weight 1/2; the quantiles move
  // a sixteenth of the mean (94 ms) toward the sample, the 90th nine times as far up.
  auto all = timing_of(s, "a", timing::tests_field(Target::emulator), now);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, (timing::Summary{1500, 1094, 1846, 2, kT0 / 1000}));
  for (const auto& field : {timing::install_field("app", "w"), timing::build_install_field(Target::emulator, "app"),
                            timing::installs_field(Target::emulator)}) {
    auto install = timing_of(s, "a", field, now);
    ASSERT_TRUE(install.has_value()) << field;
    EXPECT_EQ(install->mean_ms, 30'000) << field;
    EXPECT_EQ(install->samples, 1u) << field;
  }
  EXPECT_FALSE(timing_of(s, "a", timing::test_field(Target::emulator, "tests/t2.spec.js"), now).has_value());
  EXPECT_FALSE(timing_of(s, "b", timing::tests_field(Target::emulator), now).has_value());
  EXPECT_EQ(s.timing_fields("a"), 6u);  // t0, t1, T, i, I, N

  // The same test again: its mean moves halfway (the second sample weighs 1/2).
  this->submit({.org = "a", .count = 1}, kT0 + 2000);
  auto again = this->claim("w", kT0 + 2010);
  ASSERT_TRUE(again.has_value());
  auto pass = this->report_of(*again, 0, JobStatus::passed, 1);
  pass.duration_ms = 3000;
  ASSERT_TRUE(s.report(pass, kT0 + 2100).accepted);
  t0 = timing_of(s, "a", timing::test_field(Target::emulator, "tests/t0.spec.js"), kT0 + 3000);
  ASSERT_TRUE(t0.has_value());
  EXPECT_EQ(t0->mean_ms, 2000);
  EXPECT_EQ(t0->samples, 2u);
}

TYPED_TEST_P(JobStoreContract, TimingHistoryKeepsAtMostItsBoundPerOrgDroppingTheOldest) {
  this->settings_.timing_history_fields = 4;
  this->reset();
  this->submit({.org = "a", .count = 4}, kT0);
  this->submit({.org = "b", .app = "other", .count = 1}, kT0);
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 4u);
  // One test a second: each report writes its test's summary and the org's (T).
  for (std::size_t i = 0; i < 4; ++i) {
    auto r = this->report_of(*c, i, JobStatus::passed, 1);
    r.duration_ms = 1000 * static_cast<std::int64_t>(i + 1);
    ASSERT_TRUE(this->store().report(r, kT0 + 1000 * static_cast<std::int64_t>(i + 1)).accepted);
  }
  auto& s = this->store();
  const auto now = kT0 + 10'000;
  EXPECT_EQ(s.timing_fields("a"), 4u);
  EXPECT_FALSE(timing_of(s, "a", timing::test_field(Target::emulator, "tests/t0.spec.js"), now).has_value());
  for (int i = 1; i < 4; ++i) {
    const auto field = timing::test_field(Target::emulator, "tests/t" + std::to_string(i) + ".spec.js");
    EXPECT_TRUE(timing_of(s, "a", field, now).has_value()) << field;
  }
  auto all = timing_of(s, "a", timing::tests_field(Target::emulator), now);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->samples, 4u);
  // Another org's history is its own.
  auto other = this->claim("w", kT0 + 5000);
  ASSERT_TRUE(other.has_value());
  ASSERT_EQ(other->org_id, "b");
  auto outcome = this->store().report(this->report_of(*other, 0, JobStatus::passed, 1), kT0 + 5100);
  ASSERT_TRUE(outcome.accepted) << outcome.reason;
  EXPECT_EQ(s.timing_fields("a"), 4u);
  EXPECT_EQ(s.timing_fields("b"), 2u);
}

TYPED_TEST_P(JobStoreContract, TimingHistoryExpiresWithTheRetentionOfFinishedJobs) {
  this->settings_.retention = std::chrono::hours(1);
  this->reset();
  this->submit({.org = "a", .count = 2}, kT0);
  auto c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(c.has_value());
  auto r = this->report_of(*c, 0, JobStatus::passed, 1);
  r.duration_ms = 4000;
  ASSERT_TRUE(this->store().report(r, kT0 + 100).accepted);
  const auto field = timing::tests_field(Target::emulator);
  const std::int64_t hour = 3'600'000;
  EXPECT_TRUE(timing_of(this->store(), "a", field, kT0 + hour - 1).has_value());
  EXPECT_FALSE(timing_of(this->store(), "a", field, kT0 + hour).has_value());
  // A sample after the expiry starts the summary afresh.
  auto late = this->report_of(*c, 1, JobStatus::passed, 1);
  late.duration_ms = 8000;
  ASSERT_TRUE(this->store().report(late, kT0 + hour + 1000).accepted);
  auto fresh = timing_of(this->store(), "a", field, kT0 + hour + 2000);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(*fresh, (timing::Summary{8000, 8000, 8000, 1, (kT0 + hour + 1000) / 1000}));
}

// Org a's history: `history` (a submission of org a, build "h", tests tests/t<i>.spec.js)
// claimed by worker "w", its first install 20 s, its tests 10 s each but a fourth, which took
// `fourth_ms`.
inline void ten_second_history(JobStore& store, const NewSubmission& history, std::int64_t now,
                               std::int64_t fourth_ms = 0) {
  store.submit(history, now);
  ClaimRequest req;
  req.worker_id = "w";
  req.targets = {Target::emulator};
  auto c = store.claim_group(req, now + 10);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), history.job_ids.size());
  for (std::size_t i = 0; i < c->jobs.size(); ++i) {
    proto::Report r;
    r.worker_id = "w";
    r.lease_id = c->lease_id;
    r.job_id = c->jobs[i].id;
    r.attempt = c->jobs[i].attempt;
    r.status = JobStatus::passed;
    r.duration_ms = i == 3 ? fourth_ms : 10'000;
    if (i == 0) r.install_ms = 20'000;
    ASSERT_TRUE(store.report(r, now + 100).accepted);
  }
}

inline proto::WorkerInfo live_worker(const std::string& id, Target target, std::int64_t now) {
  proto::WorkerInfo w;
  w.worker_id = id;
  w.device_id = id;
  w.targets = {target};
  w.state = "idle";
  w.last_seen_ms = now;
  return w;
}

TYPED_TEST_P(JobStoreContract, EstimatesPlaceQueuedJobsBehindTheGroupsAhead) {
  ten_second_history(this->store(), this->submission_of({.org = "a", .app = "h", .count = 3}, kT0), kT0);
  const auto now = kT0 + 60'000;
  this->store().upsert_worker(live_worker("dev1", Target::emulator, now));
  auto first = this->submit({.org = "a", .app = "x", .count = 3}, now + 1);
  auto second = this->submit({.org = "a", .app = "y", .count = 2}, now + 2);
  std::vector<std::string> ids = first.job_ids;
  ids.insert(ids.end(), second.job_ids.begin(), second.job_ids.end());
  std::vector<proto::Job> jobs;
  for (auto& j : this->store().get(ids)) jobs.push_back(j.value());
  EtaEstimator estimator;
  auto answer = estimator.estimate(this->store(), jobs, now + 10);
  ASSERT_EQ(answer.jobs.size(), 5u);
  // The first group starts at once on the idle worker: install (the org's, 20 s, as build x
  // has none) + the tests before it + its own 10 s.
  EXPECT_EQ(answer.jobs[0].queued_ahead, 0u);
  EXPECT_EQ(answer.jobs[0].eta_ms, 30'000);
  EXPECT_EQ(answer.jobs[2].queued_ahead, 2u);
  EXPECT_EQ(answer.jobs[2].eta_ms, 50'000);
  // The second waits for the first (3 × 10 s + 20 s), then installs and runs.
  EXPECT_EQ(answer.jobs[3].queued_ahead, 3u);
  EXPECT_EQ(answer.jobs[3].eta_ms, 80'000);
  EXPECT_EQ(answer.jobs[4].queued_ahead, 4u);
  EXPECT_EQ(answer.jobs[4].eta_ms, 90'000);
  EXPECT_EQ(answer.queued_ahead, 0u);
  EXPECT_EQ(answer.eta_ms, 90'000);
}

TYPED_TEST_P(JobStoreContract, EstimatesGiveATestNeverSeenTheMedianOfItsOrgsTests) {
  // Tests of 10, 10, 10 and 26 s: mean 14 s, median estimate 10.875 s (a 875 ms step up).
  ten_second_history(this->store(), this->submission_of({.org = "a", .app = "h", .count = 4}, kT0), kT0, 26'000);
  const auto now = kT0 + 60'000;
  auto all = timing_of(this->store(), "a", timing::tests_field(Target::emulator), now);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->mean_ms, 14'000);
  EXPECT_EQ(all->p50_ms, 10'875);
  this->store().upsert_worker(live_worker("dev1", Target::emulator, now));
  NewSubmission unseen = this->submission_of({.org = "a", .app = "x"}, now + 1);
  unseen.test_paths = {"tests/never-run.spec.js"};
  auto out = this->store().submit(unseen, now + 1);
  std::vector<proto::Job> one{this->job(out.job_ids.at(0))};
  auto answer = EtaEstimator().estimate(this->store(), one, now + 10);
  ASSERT_EQ(answer.jobs.size(), 1u);
  // At once on the idle worker: the org's install (20 s) and the median.
  EXPECT_EQ(answer.jobs[0].queued_ahead, 0u);
  EXPECT_EQ(answer.jobs[0].eta_ms, 30'875);
}

TYPED_TEST_P(JobStoreContract, EstimatesGiveQueuePlaceButNoTimeWithoutALiveWorker) {
  ten_second_history(this->store(), this->submission_of({.org = "a", .app = "h", .count = 3}, kT0), kT0);
  const auto now = kT0 + 60'000;
  this->store().upsert_worker(live_worker("dev1", Target::device, now));             // serves another target
  this->store().upsert_worker(live_worker("gone", Target::emulator, now - 60'000));  // lost
  auto s = this->submit({.org = "a", .app = "x", .count = 2}, now + 1);
  std::vector<proto::Job> jobs;
  for (auto& j : this->store().get(s.job_ids)) jobs.push_back(j.value());
  EtaEstimator estimator;
  auto answer = estimator.estimate(this->store(), jobs, now + 10);
  ASSERT_EQ(answer.jobs.size(), 2u);
  EXPECT_EQ(answer.jobs[1].queued_ahead, 1u);
  EXPECT_FALSE(answer.jobs[1].eta_ms.has_value());
  EXPECT_FALSE(answer.eta_ms.has_value());
  // A final job gets no estimate.
  auto c = this->claim("w", now + 20);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::passed, now + 30).accepted);
  auto done = this->job(c->jobs[0].id);
  std::vector<proto::Job> finals{done};
  EXPECT_TRUE(EtaEstimator().estimate(this->store(), finals, now + 40).jobs.empty());
}

}  // namespace qg::sched::contract

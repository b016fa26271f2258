#pragma once
// The JobStore contract: one suite body, instantiated once per implementation
// (memory_store_test.cpp, tests/integration/redis_store_redistest.cpp).
//
// A Backend type provides:
//   static void start(); static void stop();                 // per test suite
//   static std::shared_ptr<JobStore> make(const StoreSettings&);
//   static std::shared_ptr<JobStore> make_peer(const StoreSettings&, std::shared_ptr<JobStore> first);
// make_peer gives a second handle on the same data (a second RedisJobStore on the same
// server and prefix; for memory, the same instance) for the racing tests.
//
// Time is passed in; nothing here sleeps.

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "qg/common/ids.hpp"
#include "qg/scheduler/job_store.hpp"

// Tests name only the SubmitSpec fields they care about (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace qg::sched::contract {

using proto::JobStatus;
using proto::Priority;
using proto::Target;

inline constexpr std::int64_t kT0 = 1'700'000'000'000;

inline std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ":";
}

struct SubmitSpec {
  std::string org = "org";
  std::string app = "app";
  std::size_t count = 1;
  Priority priority = Priority::medium;
  Target target = Target::emulator;
  std::uint32_t retries = 0;
  std::uint32_t max_attempts = 0;
  std::string idempotency_key;
};

template <class Backend>
class JobStoreContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Backend::start(); }
  static void TearDownTestSuite() { Backend::stop(); }

  void SetUp() override {
    settings_.group_window = std::chrono::milliseconds(0);
    settings_.group_max = 50;
    settings_.lease = std::chrono::milliseconds(10000);
    settings_.backoff.base = std::chrono::milliseconds(1000);
    settings_.backoff.jitter = 0;
    reset();
  }

  // A fresh store (and fresh key prefix) with the current settings_.
  void reset() {
    settings_.key_prefix = unique_prefix();
    store_ = Backend::make(settings_);
  }

  JobStore& store() { return *store_; }

  SubmitOutcome submit(const SubmitSpec& spec, std::int64_t now) {
    return store().submit(submission_of(spec, now), now);
  }

  // The same submission in a batch of its own sent ahead of its reply (send_submits), as the
  // broker sends most of them.
  SubmitOutcome send(const SubmitSpec& spec, std::int64_t now) {
    store().send_submits({submission_of(spec, now)}, now);
    auto done = store().take_submits(true);
    if (!done) {
      ADD_FAILURE() << "the sent batch did not come back";
      return {};
    }
    if (done->failure != JobStore::SentSubmits::Failure::none) {
      ADD_FAILURE() << "the sent batch failed: " << done->error;
      return {};
    }
    if (done->results.size() != 1 || !done->results[0].outcome) {
      ADD_FAILURE() << "the sent submission was refused: " << (done->results.empty() ? "" : done->results[0].error);
      return {};
    }
    return *done->results[0].outcome;
  }

  // submit() or send(): the two ways a submission reaches the store.
  SubmitOutcome submit_or_send(bool sent, const SubmitSpec& spec, std::int64_t now) {
    return sent ? send(spec, now) : submit(spec, now);
  }

  NewSubmission submission_of(const SubmitSpec& spec, std::int64_t now) {
    NewSubmission s;
    s.submission_id = ids_.next(now);
    s.org_id = spec.org;
    s.app_version_id = spec.app;
    s.priority = spec.priority;
    s.target = spec.target;
    s.retries = spec.retries;
    s.max_attempts = spec.max_attempts;
    s.idempotency_key = spec.idempotency_key;
    for (std::size_t i = 0; i < spec.count; ++i) {
      s.job_ids.push_back(ids_.next(now));
      s.test_paths.push_back("tests/t" + std::to_string(i) + ".spec.js");
    }
    return s;
  }

  // A submission of n tests of org/app, made at kT0, not yet given to the store.
  NewSubmission new_submission(const std::string& app, std::size_t n, const std::string& idem = "") {
    NewSubmission s;
    s.submission_id = ids_.next(kT0);
    s.org_id = "org";
    s.app_version_id = app;
    s.idempotency_key = idem;
    for (std::size_t i = 0; i < n; ++i) {
      s.job_ids.push_back(ids_.next(kT0));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    return s;
  }

  std::optional<Claim> claim(const std::string& worker, std::int64_t now, std::vector<std::string> installed = {},
                             std::vector<Target> targets = {Target::emulator, Target::device, Target::browserstack}) {
    ClaimRequest r;
    r.worker_id = worker;
    r.targets = std::move(targets);
    r.installed = std::move(installed);
    return store().claim_group(r, now);
  }

  // A report by worker "w" of the claim's job at index, not yet given to the store.
  static proto::Report report_of(const Claim& c, std::size_t index, JobStatus status, std::uint32_t attempt) {
    proto::Report r;
    r.worker_id = "w";
    r.lease_id = c.lease_id;
    r.job_id = c.jobs.at(index).id;
    r.attempt = attempt;
    r.status = status;
    return r;
  }

  ReportOutcome report(const Claim& c, std::size_t index, JobStatus status, std::int64_t now,
                       std::optional<std::uint32_t> attempt = std::nullopt) {
    proto::Report r;
    r.worker_id = "w";
    r.lease_id = c.lease_id;
    r.job_id = c.jobs.at(index).id;
    r.attempt = attempt.value_or(c.jobs.at(index).attempt);
    r.status = status;
    r.exit_code = status == JobStatus::passed ? 0 : 1;
    r.duration_ms = 5;
    r.log_tail = "log";
    if (status == JobStatus::error) r.error = "install failed";
    return store().report(r, now);
  }

  proto::Job job(const std::string& id) {
    std::vector<std::string> ids{id};
    auto found = store().get(ids);
    EXPECT_TRUE(found.at(0).has_value()) << id;
    return found.at(0).value_or(proto::Job{});
  }

  static std::vector<std::string> ids_of(const Claim& c) {
    std::vector<std::string> out;
    for (const auto& j : c.jobs) out.push_back(j.id);
    return out;
  }

  StoreSettings settings_;
  std::shared_ptr<JobStore> store_;
  IdGenerator ids_;
};

TYPED_TEST_SUITE_P(JobStoreContract);

TYPED_TEST_P(JobStoreContract, SubmitThenGetReturnsQueuedJobs) {
  auto out = this->submit({.org = "acme", .app = "v1", .count = 3, .priority = Priority::high, .retries = 2}, kT0);
  ASSERT_EQ(out.job_ids.size(), 3u);
  EXPECT_FALSE(out.duplicate);
  std::vector<std::string> ids = out.job_ids;
  ids.push_back("missing");
  auto jobs = this->store().get(ids);
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_FALSE(jobs[3].has_value());
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(jobs[i].has_value());
    const auto& j = *jobs[i];
    EXPECT_EQ(j.id, out.job_ids[i]);
    EXPECT_EQ(j.org_id, "acme");
    EXPECT_EQ(j.app_version_id, "v1");
    EXPECT_EQ(j.test_path, "tests/t" + std::to_string(i) + ".spec.js");
    EXPECT_EQ(j.priority, Priority::high);
    EXPECT_EQ(j.status, JobStatus::queued);
    EXPECT_EQ(j.attempt, 0u);
    EXPECT_EQ(j.max_attempts, 3u);
    EXPECT_EQ(j.retries, 2u);
    EXPECT_EQ(j.created_at_ms, kT0);
    EXPECT_EQ(j.submission_id, out.submission_id);
    EXPECT_TRUE(j.lease_id.empty());
  }
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

TYPED_TEST_P(JobStoreContract, IdempotentSubmitReturnsSameIdsAndWritesNothing) {
  auto first = this->submit({.count = 2, .idempotency_key = "k1"}, kT0);
  auto second = this->submit({.count = 5, .idempotency_key = "k1"}, kT0 + 10);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.submission_id, first.submission_id);
  EXPECT_EQ(second.job_ids, first.job_ids);
  EXPECT_EQ(this->store().queue_depth(), 2u);
  // Same key in another org is a different submission.
  auto other = this->submit({.org = "other", .count = 1, .idempotency_key = "k1"}, kT0);
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

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

// Entries that cancels left behind are skipped while bands are merged, however many there are
// at the front of a band.
TYPED_TEST_P(JobStoreContract, CancelledEntriesAreSkippedAcrossBands) {
  this->settings_.group_max = 2;
  this->reset();
  auto medium = this->submit({.count = 3, .priority = Priority::medium}, kT0).job_ids;
  auto low = this->submit({.priority = Priority::low}, kT0 + 1).job_ids;
  this->store().cancel_job(medium[0], kT0 + 2);
  this->store().cancel_job(medium[1], kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(this->ids_of(*c), (std::vector<std::string>{medium[2], low[0]}));
  EXPECT_FALSE(this->claim("w", kT0 + 4).has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 5).groups.empty());
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

TYPED_TEST_P(JobStoreContract, GroupWindowHoldsGroupUntilPromoteDue) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->reset();
  this->submit({.count = 2}, kT0);
  this->submit({.count = 1}, kT0 + 1000);
  EXPECT_FALSE(this->claim("w", kT0 + 1000).has_value());
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 5000));
  auto page = this->store().queue("", 10, kT0 + 1000);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_FALSE(page.groups[0].claimable);
  EXPECT_EQ(page.groups[0].depth, 3u);
  EXPECT_EQ(this->store().promote_due(kT0 + 4999, 100), 0u);
  EXPECT_FALSE(this->claim("w", kT0 + 4999).has_value());
  EXPECT_EQ(this->store().promote_due(kT0 + 5000, 100), 1u);
  auto c = this->claim("w", kT0 + 5000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

TYPED_TEST_P(JobStoreContract, GroupMaxOpensWindowEarly) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->settings_.group_max = 3;
  this->reset();
  this->submit({.count = 2}, kT0);
  EXPECT_FALSE(this->claim("w", kT0 + 1).has_value());
  this->submit({.count = 1}, kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

// The same through sent batches (on Redis another script): jobs entering a band that holds
// some already keep the window shut until the group is full, then open it.
TYPED_TEST_P(JobStoreContract, SentBatchesFillingAGroupOpenItsWindowEarly) {
  this->settings_.group_window = std::chrono::milliseconds(5000);
  this->settings_.group_max = 3;
  this->reset();
  auto& store = this->store();
  auto send = [&](NewSubmission s, std::int64_t now) {
    store.send_submits({std::move(s)}, now);
    auto done = store.take_submits(true);
    ASSERT_TRUE(done);
    ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
    ASSERT_TRUE(done->results.at(0).outcome);
  };
  send(this->new_submission("app", 1), kT0);
  send(this->new_submission("app", 1), kT0 + 1);
  EXPECT_FALSE(this->claim("w", kT0 + 2).has_value());
  send(this->new_submission("app", 1), kT0 + 3);
  auto c = this->claim("w", kT0 + 4);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
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

TYPED_TEST_P(JobStoreContract, ReportIsAcceptedOnceAndLaterReportsAreRejected) {
  this->submit({.count = 2}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto first = this->report(*c, 0, JobStatus::passed, kT0 + 10);
  EXPECT_TRUE(first.accepted);
  ASSERT_TRUE(first.job.has_value());
  EXPECT_EQ(first.job->status, JobStatus::passed);
  EXPECT_FALSE(first.job->flaky);
  EXPECT_FALSE(first.requeued);
  // What the report said is kept, the lease is left, the rest of the job is as claimed.
  const auto kept = this->job(c->jobs[0].id);
  for (const auto& j : {*first.job, kept}) {
    EXPECT_EQ(j.id, c->jobs[0].id);
    EXPECT_EQ(j.exit_code, 0);
    EXPECT_EQ(j.duration_ms, 5);
    EXPECT_EQ(j.log_tail, "log");
    EXPECT_EQ(j.last_error, "");
    EXPECT_EQ(j.attempt, 1u);
    EXPECT_EQ(j.worker_id, "w");
    EXPECT_TRUE(j.lease_id.empty());
    EXPECT_EQ(j.updated_at_ms, kT0 + 10);
    EXPECT_EQ(j.created_at_ms, kT0);
    EXPECT_EQ(j.test_path, c->jobs[0].test_path);
  }
  auto again = this->report(*c, 0, JobStatus::failed, kT0 + 11);
  EXPECT_FALSE(again.accepted);
  EXPECT_EQ(again.reason, "already_final");
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);

  auto stale = this->report(*c, 1, JobStatus::passed, kT0 + 12, 0);
  EXPECT_FALSE(stale.accepted);
  EXPECT_EQ(stale.reason, "stale_attempt");
  Claim wrong = *c;
  wrong.lease_id = "not-the-lease";
  auto lost = this->report(wrong, 1, JobStatus::passed, kT0 + 13);
  EXPECT_FALSE(lost.accepted);
  EXPECT_EQ(lost.reason, "lost_lease");
  Claim missing = *c;
  missing.jobs[1].id = "no-such-job";
  EXPECT_EQ(this->report(missing, 1, JobStatus::passed, kT0 + 14).reason, "not_found");
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
}

TYPED_TEST_P(JobStoreContract, FinalStateNeverChanges) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, kT0 + 1).accepted);
  const auto id = c->jobs[0].id;
  EXPECT_EQ(this->store().cancel_job(id, kT0 + 2).outcome, "already_final");
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 3), std::optional<JobStatus>(JobStatus::failed));
  EXPECT_TRUE(this->store().expire_leases(kT0 + 1'000'000, 100).empty());
  EXPECT_EQ(this->store().promote_due(kT0 + 1'000'000, 100), 0u);
  EXPECT_FALSE(this->claim("w", kT0 + 1'000'000).has_value());
  EXPECT_EQ(this->job(id).status, JobStatus::failed);
}

TYPED_TEST_P(JobStoreContract, FailureWithRetriesLeftRequeuesAndPassMarksFlaky) {
  this->submit({.count = 1, .retries = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::failed, kT0 + 1);
  EXPECT_TRUE(r.accepted);
  EXPECT_TRUE(r.requeued);
  ASSERT_TRUE(r.job.has_value());
  EXPECT_EQ(r.job->status, JobStatus::queued);
  EXPECT_TRUE(r.job->lease_id.empty());
  auto c2 = this->claim("w", kT0 + 2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  auto pass = this->report(*c2, 0, JobStatus::passed, kT0 + 3);
  ASSERT_TRUE(pass.accepted && pass.job.has_value());
  EXPECT_EQ(pass.job->status, JobStatus::passed);
  EXPECT_TRUE(pass.job->flaky);

  // Out of retries: the failure is final.
  this->submit({.count = 1, .retries = 1}, kT0 + 10);
  c = this->claim("w", kT0 + 10);
  ASSERT_TRUE(this->report(*c, 0, JobStatus::failed, kT0 + 11).requeued);
  c = this->claim("w", kT0 + 12);
  ASSERT_TRUE(c.has_value());
  auto last = this->report(*c, 0, JobStatus::timed_out, kT0 + 13);
  EXPECT_TRUE(last.accepted);
  EXPECT_FALSE(last.requeued);
  EXPECT_EQ(last.job->status, JobStatus::timed_out);
}

TYPED_TEST_P(JobStoreContract, InfrastructureErrorRequeuesAfterBackoff) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::error, kT0 + 100);
  EXPECT_TRUE(r.accepted);
  EXPECT_TRUE(r.requeued);
  EXPECT_EQ(r.job->status, JobStatus::queued);
  EXPECT_EQ(r.job->last_error, "install failed");
  EXPECT_FALSE(this->claim("w", kT0 + 100).has_value());
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 1100));
  EXPECT_EQ(this->store().promote_due(kT0 + 1099, 10), 0u);
  EXPECT_EQ(this->store().promote_due(kT0 + 1100, 10), 1u);
  auto c2 = this->claim("w", kT0 + 1100);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  // Second error: back-off doubles.
  ASSERT_TRUE(this->report(*c2, 0, JobStatus::error, kT0 + 2000).requeued);
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + 4000));
}

TYPED_TEST_P(JobStoreContract, ExhaustedAttemptsEndDeadAndRetryDeadRevives) {
  this->submit({.count = 1, .max_attempts = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto r = this->report(*c, 0, JobStatus::error, kT0 + 1);
  EXPECT_TRUE(r.accepted);
  EXPECT_FALSE(r.requeued);
  EXPECT_EQ(r.job->status, JobStatus::dead);
  const auto id = c->jobs[0].id;
  EXPECT_EQ(this->store().retry_dead("nope", kT0 + 2), std::nullopt);
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 2), std::optional<JobStatus>(JobStatus::queued));
  EXPECT_EQ(this->job(id).status, JobStatus::queued);
  auto c2 = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->jobs[0].id, id);
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  EXPECT_EQ(this->store().retry_dead(id, kT0 + 4), std::optional<JobStatus>(JobStatus::assigned));
  // Revived with a fresh budget of one attempt: the next error is dead again.
  EXPECT_EQ(this->report(*c2, 0, JobStatus::error, kT0 + 5).job->status, JobStatus::dead);
}

TYPED_TEST_P(JobStoreContract, LeaseExpiryRequeuesUnfinishedJobs) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 0, JobStatus::passed, kT0 + 1).accepted);
  EXPECT_EQ(this->store().next_due_ms(), std::optional<std::int64_t>(kT0 + lease));
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease - 1, 10).empty());
  auto expired = this->store().expire_leases(kT0 + lease, 10);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease_id, c->lease_id);
  EXPECT_EQ(expired[0].worker_id, "w");
  ASSERT_EQ(expired[0].jobs.size(), 2u);
  for (const auto& j : expired[0].jobs) {
    EXPECT_EQ(j.status, JobStatus::queued);
    EXPECT_TRUE(j.lease_id.empty());
  }
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);
  // The late report of the lost worker is fenced off.
  EXPECT_EQ(this->report(*c, 1, JobStatus::passed, kT0 + lease + 1).reason, "lost_lease");
  EXPECT_EQ(this->store().promote_due(kT0 + lease + 1000, 10), 2u);
  auto c2 = this->claim("w2", kT0 + lease + 1000);
  ASSERT_TRUE(c2.has_value());
  ASSERT_EQ(c2->jobs.size(), 2u);
  EXPECT_EQ(c2->jobs[0].attempt, 2u);
  EXPECT_EQ(this->report(*c, 1, JobStatus::passed, kT0 + lease + 1001).reason, "stale_attempt");
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

TYPED_TEST_P(JobStoreContract, RenewLeaseKeepsLeaseAlive) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(this->store().renew_lease("w", c->lease_id, kT0 + lease - 1));
  EXPECT_FALSE(this->store().renew_lease("other", c->lease_id, kT0 + lease - 1));
  EXPECT_FALSE(this->store().renew_lease("w", "no-such-lease", kT0 + lease - 1));
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->store().expire_leases(kT0 + 2 * lease - 1, 10).size(), 1u);
  EXPECT_FALSE(this->store().renew_lease("w", c->lease_id, kT0 + 2 * lease));
}

TYPED_TEST_P(JobStoreContract, RenewLeasesJudgesEachRenewalOnItsOwn) {
  const std::int64_t lease = this->settings_.lease.count();
  this->submit({.app = "b1", .count = 1}, kT0);
  this->submit({.app = "b2", .count = 1}, kT0);
  auto c1 = this->claim("w1", kT0);
  auto c2 = this->claim("w2", kT0);
  ASSERT_TRUE(c1.has_value());
  ASSERT_TRUE(c2.has_value());
  const std::vector<JobStore::LeaseRenewal> renewals = {
      {"w1", c1->lease_id}, {"w1", c2->lease_id}, {"w2", "no-such-lease"}, {"w2", c2->lease_id}};
  EXPECT_EQ(this->store().renew_leases(renewals, kT0 + lease - 1), (std::vector<bool>{true, false, false, true}));
  // Both real leases now run a lease from kT0 + lease - 1.
  EXPECT_TRUE(this->store().expire_leases(kT0 + lease, 10).empty());
  EXPECT_EQ(this->store().expire_leases(kT0 + 2 * lease - 1, 10).size(), 2u);
  EXPECT_TRUE(this->store().renew_leases({}, kT0).empty());
}

TYPED_TEST_P(JobStoreContract, ProgressRecordsStatusOfHeldJobsOnly) {
  this->submit({.count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  proto::Progress p{"w", c->lease_id, c->jobs[0].id, 1, JobStatus::running};
  EXPECT_TRUE(this->store().progress(p, kT0 + 1));
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::running);
  p.attempt = 2;
  EXPECT_FALSE(this->store().progress(p, kT0 + 2));
  p.attempt = 1;
  p.lease_id = "other";
  EXPECT_FALSE(this->store().progress(p, kT0 + 2));
}

TYPED_TEST_P(JobStoreContract, ReleaseHandsUnstartedJobsBackAtOnce) {
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->store().progress({"w", c->lease_id, c->jobs[0].id, 1, JobStatus::running}, kT0 + 1));
  auto ids = this->ids_of(*c);
  EXPECT_EQ(this->store().release("other", c->lease_id, ids, kT0 + 2), 0u);
  EXPECT_EQ(this->store().release("w", c->lease_id, ids, kT0 + 2), 2u);
  auto c2 = this->claim("w2", kT0 + 2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(this->ids_of(*c2), (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_EQ(this->job(ids[0]).status, JobStatus::running);
}

TYPED_TEST_P(JobStoreContract, CancelQueuedRunningFinalAndUnknownJobs) {
  auto out = this->submit({.count = 2}, kT0);
  auto queued_only = this->submit({.app = "other", .count = 1, .target = Target::device}, kT0);
  auto c = this->claim("w", kT0, {}, {Target::emulator});
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(this->report(*c, 1, JobStatus::passed, kT0 + 1).accepted);

  auto q = this->store().cancel_job(queued_only.job_ids[0], kT0 + 2);
  EXPECT_EQ(q.outcome, "cancelled");
  EXPECT_EQ(q.status, JobStatus::cancelled);
  EXPECT_EQ(this->job(queued_only.job_ids[0]).status, JobStatus::cancelled);
  EXPECT_FALSE(this->claim("w", kT0 + 3).has_value());

  auto running = this->store().cancel_job(out.job_ids[0], kT0 + 2);
  EXPECT_EQ(running.outcome, "cancel_requested");
  EXPECT_EQ(running.status, JobStatus::assigned);
  auto final_one = this->store().cancel_job(out.job_ids[1], kT0 + 2);
  EXPECT_EQ(final_one.outcome, "already_final");
  EXPECT_EQ(final_one.status, JobStatus::passed);
  EXPECT_EQ(this->store().cancel_job("nope", kT0 + 2).outcome, "not_found");
  // The worker then reports the cancelled job; it ends cancelled, not retried.
  auto r = this->report(*c, 0, JobStatus::cancelled, kT0 + 3);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.job->status, JobStatus::cancelled);
}

TYPED_TEST_P(JobStoreContract, CancelBuildCancelsEveryNonFinalJob) {
  auto a = this->submit({.app = "v1", .count = 3}, kT0);
  auto other = this->submit({.app = "v2", .count = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto results = this->store().cancel_build("org", "v1", kT0 + 1);
  ASSERT_EQ(results.size(), 3u);
  std::map<std::string, std::string> outcome;
  for (const auto& r : results) outcome[r.job_id] = r.outcome;
  for (const auto& id : a.job_ids) {
    EXPECT_EQ(outcome[id], this->job(id).status == JobStatus::cancelled ? "cancelled" : "cancel_requested");
  }
  EXPECT_EQ(this->job(other.job_ids[0]).status, c->app_version_id == "v2" ? JobStatus::assigned : JobStatus::queued);
  EXPECT_TRUE(this->store().cancel_build("org", "nothing", kT0).empty());
}

TYPED_TEST_P(JobStoreContract, ListPagesNewestFirstWithFiltersCoveringAllJobsOnce) {
  std::vector<proto::Job> all;
  for (int i = 0; i < 12; ++i) {
    auto org = i % 3 == 0 ? "o1" : "o2";
    auto app = i % 2 == 0 ? "a" : "b";
    auto out =
        this->submit({.org = org, .app = app, .count = static_cast<std::size_t>(1 + i % 4)}, kT0 + (i / 2) * 1000);
    for (const auto& j : this->store().get(out.job_ids)) all.push_back(*j);
  }
  // One claimed group, so the status filter has something to find.
  auto c = this->claim("w", kT0 + 100000);
  ASSERT_TRUE(c.has_value());
  std::set<std::string> claimed;
  for (const auto& j : c->jobs) claimed.insert(j.id);

  auto collect = [&](ListQuery q) {
    std::vector<std::string> ids;
    int pages = 0;
    do {
      auto page = this->store().list(q);
      for (const auto& j : page.jobs) ids.push_back(j.id);
      q.cursor = page.next_cursor;
      EXPECT_LE(page.jobs.size(), q.limit);
      ++pages;
    } while (!q.cursor.empty() && pages < 1000);
    return ids;
  };
  auto expect = [&](auto pred) {
    std::vector<proto::Job> want;
    for (const auto& j : all) {
      if (pred(j)) want.push_back(j);
    }
    std::sort(want.begin(), want.end(), [](const proto::Job& x, const proto::Job& y) {
      return std::tie(x.created_at_ms, x.id) > std::tie(y.created_at_ms, y.id);
    });
    std::vector<std::string> ids;
    for (const auto& j : want) ids.push_back(j.id);
    return ids;
  };
  ListQuery q;
  q.limit = 4;
  EXPECT_EQ(collect(q), expect([](const proto::Job&) { return true; }));
  q.org_id = "o2";
  EXPECT_EQ(collect(q), expect([](const proto::Job& j) { return j.org_id == "o2"; }));
  q.app_version_id = "b";
  EXPECT_EQ(collect(q), expect([](const proto::Job& j) { return j.org_id == "o2" && j.app_version_id == "b"; }));
  ListQuery by_status;
  by_status.limit = 1;
  by_status.status = JobStatus::assigned;
  EXPECT_EQ(collect(by_status), expect([&](const proto::Job& j) { return claimed.contains(j.id); }));
  by_status.status = std::nullopt;
  by_status.target = Target::device;
  EXPECT_TRUE(collect(by_status).empty());
}

TYPED_TEST_P(JobStoreContract, QueueAndStatsCount) {
  this->submit({.org = "o1", .app = "a", .count = 3, .priority = Priority::low}, kT0);
  this->submit({.org = "o1", .app = "b", .count = 2, .priority = Priority::high}, kT0 + 1);
  this->submit({.org = "o2", .app = "c", .count = 4, .target = Target::device}, kT0 + 2);
  auto page = this->store().queue("", 2, kT0 + 1000);
  ASSERT_EQ(page.groups.size(), 2u);
  EXPECT_EQ(page.groups[0].key, "o1/b/emulator");
  EXPECT_EQ(page.groups[0].depth, 2u);
  EXPECT_EQ(page.groups[0].highest_priority, Priority::high);
  EXPECT_EQ(page.groups[0].oldest_age_ms, 999);
  EXPECT_TRUE(page.groups[0].claimable);
  EXPECT_EQ(page.groups[1].key, "o1/a/emulator");
  EXPECT_EQ(page.by_status["queued"], 9u);
  EXPECT_EQ(page.by_priority["low"], 3u);
  EXPECT_EQ(page.by_priority["high"], 2u);
  EXPECT_EQ(page.by_priority["medium"], 4u);
  ASSERT_FALSE(page.next_cursor.empty());
  auto rest = this->store().queue(page.next_cursor, 2, kT0 + 1000);
  ASSERT_EQ(rest.groups.size(), 1u);
  EXPECT_EQ(rest.groups[0].key, "o2/c/device");

  auto c = this->claim("w", kT0 + 1000, {}, {Target::device});
  ASSERT_TRUE(c.has_value());
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(this->report(*c, i, JobStatus::passed, kT0 + 2000).accepted);
  auto stats = this->store().stats(kT0 + 2000);
  EXPECT_EQ(stats.by_status["queued"], 5u);
  EXPECT_EQ(stats.by_status["assigned"], 1u);
  EXPECT_EQ(stats.by_status["passed"], 3u);
  EXPECT_EQ(stats.by_org["o1"], 5u);
  EXPECT_EQ(stats.by_org["o2"], 4u);
  EXPECT_DOUBLE_EQ(stats.jobs_per_sec, 3.0 / 60.0);
  EXPECT_EQ(this->store().stats(kT0 + 2000 + 61'000).jobs_per_sec, 0.0);
  EXPECT_EQ(this->store().queue_depth(), 5u);
}

TYPED_TEST_P(JobStoreContract, WakeupFdBecomesReadableAfterSubmit) {
  this->store().drain_wakeups();
  pollfd p{this->store().wakeup_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 0);
  this->submit({.count = 1}, kT0);
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  this->store().drain_wakeups();
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TYPED_TEST_P(JobStoreContract, WorkerRegistryRoundTripsAndPingAnswers) {
  EXPECT_TRUE(this->store().ping());
  proto::WorkerInfo w;
  w.worker_id = "w1";
  w.device_id = "pixel:7";
  w.targets = {Target::emulator, Target::device};
  w.labels = {{"os", "android 14"}, {"odd", "a:b\nc"}};
  w.installed = {"org/app"};
  w.state = "busy";
  w.lease_id = "L1";
  w.group_key = "org/app/emulator";
  w.last_seen_ms = kT0;
  this->store().upsert_worker(w);
  auto ws = this->store().workers();
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].worker_id, "w1");
  EXPECT_EQ(ws[0].device_id, "pixel:7");
  EXPECT_EQ(ws[0].targets, w.targets);
  EXPECT_EQ(ws[0].labels, w.labels);
  EXPECT_EQ(ws[0].installed, w.installed);
  EXPECT_EQ(ws[0].state, "busy");
  EXPECT_EQ(ws[0].lease_id, "L1");
  EXPECT_EQ(ws[0].group_key, w.group_key);
  EXPECT_EQ(ws[0].last_seen_ms, kT0);
  this->store().remove_worker("w1");
  EXPECT_TRUE(this->store().workers().empty());
}

TYPED_TEST_P(JobStoreContract, SubmitManyAppliesEachInOrderAndRefusesOnlyTheBadOne) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto first = make("a", 2, "k1");
  auto again = make("a", 3, "k1");  // same key in the same batch: a duplicate of `first`
  auto bad = make("b", 2, "");
  bad.job_ids[1] = first.job_ids[0];  // an id that exists: refused, nothing of it written
  auto other = make("c", 1, "");
  std::vector<NewSubmission> batch = {first, again, bad, other};
  auto results = this->store().submit_many(batch, kT0);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].outcome);
  EXPECT_FALSE(results[0].outcome->duplicate);
  ASSERT_TRUE(results[1].outcome);
  EXPECT_TRUE(results[1].outcome->duplicate);
  EXPECT_EQ(results[1].outcome->job_ids, first.job_ids);
  EXPECT_FALSE(results[2].outcome);
  EXPECT_FALSE(results[2].error.empty());
  ASSERT_TRUE(results[3].outcome);
  std::vector<std::string> bad_first{bad.job_ids[0]};
  EXPECT_FALSE(this->store().get(bad_first).at(0).has_value());
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

TYPED_TEST_P(JobStoreContract, SentSubmitsComeBackInSendOrderAndLaterCallsSeeThemApplied) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto first = make("a", 2, "k1");
  auto again = make("a", 4, "k1");  // a later batch sees the first's idempotency key
  auto bad = make("b", 1, "");
  bad.test_paths.clear();  // refused alone, by the checks before the store
  auto other = make("c", 3, "");
  auto& store = this->store();
  EXPECT_EQ(store.submits_in_flight(), 0u);
  store.send_submits({first}, kT0);
  store.send_submits({again, bad}, kT0);
  store.send_submits({}, kT0);  // an empty batch keeps its place too
  store.send_submits({other}, kT0);
  EXPECT_EQ(store.submits_in_flight(), 4u);
  // A later call sees every batch sent before it applied.
  EXPECT_EQ(store.queue_depth(), 5u);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(this->ids_of(*c), first.job_ids);

  auto b1 = store.take_submits(true);
  ASSERT_TRUE(b1);
  ASSERT_EQ(b1->failure, JobStore::SentSubmits::Failure::none) << b1->error;
  ASSERT_EQ(b1->results.size(), 1u);
  ASSERT_TRUE(b1->results[0].outcome);
  EXPECT_FALSE(b1->results[0].outcome->duplicate);
  EXPECT_EQ(b1->results[0].outcome->job_ids, first.job_ids);
  EXPECT_EQ(b1->submissions.at(0).submission_id, first.submission_id);  // handed back

  auto b2 = store.take_submits(true);
  ASSERT_TRUE(b2);
  ASSERT_EQ(b2->results.size(), 2u);
  ASSERT_TRUE(b2->results[0].outcome);
  EXPECT_TRUE(b2->results[0].outcome->duplicate);
  EXPECT_EQ(b2->results[0].outcome->submission_id, first.submission_id);
  EXPECT_FALSE(b2->results[1].outcome);
  EXPECT_FALSE(b2->results[1].error.empty());

  auto b3 = store.take_submits(true);
  ASSERT_TRUE(b3);
  EXPECT_TRUE(b3->results.empty());
  auto b4 = store.take_submits(true);
  ASSERT_TRUE(b4);
  ASSERT_EQ(b4->results.size(), 1u);
  ASSERT_TRUE(b4->results[0].outcome);
  EXPECT_EQ(b4->results[0].outcome->job_ids, other.job_ids);
  EXPECT_EQ(b4->submissions.at(0).app_version_id, "c");

  EXPECT_EQ(store.submits_in_flight(), 0u);
  EXPECT_FALSE(store.take_submits(true));
  EXPECT_EQ(store.submits_fd(), -1);
}

TYPED_TEST_P(JobStoreContract, SentSubmitsRefuseTakenAndRepeatedIdsAloneAndDuplicatesWriteNothing) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto& store = this->store();
  auto first = make("a", 2, "k1");
  store.send_submits({first}, kT0);
  auto taken = make("b", 2, "");
  taken.job_ids[1] = first.job_ids[0];  // an id that exists already
  auto fine = make("c", 1, "");
  store.send_submits({taken, fine}, kT0);
  auto dup = make("d", 3, "k1");  // a known key: nothing of it is written
  auto fine2 = make("e", 1, "");
  store.send_submits({dup, fine2}, kT0);
  auto repeat = make("f", 2, "");
  repeat.job_ids[1] = repeat.job_ids[0];  // the same id twice in one submission
  auto fine3 = make("g", 1, "");
  store.send_submits({repeat, fine3}, kT0);

  std::vector<JobStore::SentSubmits> done;
  while (auto d = store.take_submits(true)) done.push_back(std::move(*d));
  ASSERT_EQ(done.size(), 4u);
  for (std::size_t i = 0; i < done.size(); ++i) {
    ASSERT_EQ(done[i].failure, JobStore::SentSubmits::Failure::none) << "batch " << i << ": " << done[i].error;
  }
  EXPECT_TRUE(done[0].results[0].outcome);
  EXPECT_FALSE(done[1].results[0].outcome);
  EXPECT_NE(done[1].results[0].error.find("exists"), std::string::npos) << done[1].results[0].error;
  ASSERT_TRUE(done[1].results[1].outcome);
  ASSERT_TRUE(done[2].results[0].outcome);
  EXPECT_TRUE(done[2].results[0].outcome->duplicate);
  EXPECT_EQ(done[2].results[0].outcome->job_ids, first.job_ids);
  ASSERT_TRUE(done[2].results[1].outcome);
  EXPECT_FALSE(done[3].results[0].outcome);
  ASSERT_TRUE(done[3].results[1].outcome);

  // The refused and duplicate submissions left no job behind; the first job is untouched.
  std::vector<std::string> gone = {taken.job_ids[0], dup.job_ids[0], dup.job_ids[2], repeat.job_ids[0]};
  for (const auto& j : store.get(gone)) EXPECT_FALSE(j.has_value());
  EXPECT_EQ(this->job(first.job_ids[0]).app_version_id, "a");
  EXPECT_EQ(store.queue_depth(), 5u);  // first (2), fine, fine2, fine3
  // Nor did they leave an index entry or an org count: every job written is listed once, by
  // org and by build, and counted once. (In which order depends on the store: a batch that
  // Redis refuses is written again when it is taken.)
  std::vector<std::string> written = {first.job_ids[0], first.job_ids[1], fine.job_ids[0], fine2.job_ids[0],
                                      fine3.job_ids[0]};
  std::sort(written.begin(), written.end());
  auto listed = [&](const std::string& app) {
    ListQuery q;
    q.org_id = "org";
    q.app_version_id = app;
    q.limit = 100;
    std::vector<std::string> out;
    for (const auto& j : store.list(q).jobs) out.push_back(j.id);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(listed(""), written);
  EXPECT_EQ(listed("b"), std::vector<std::string>{});
  EXPECT_EQ(listed("c"), std::vector<std::string>{fine.job_ids[0]});
  EXPECT_EQ(listed("d"), std::vector<std::string>{});
  EXPECT_EQ(store.stats(kT0).by_org.at("org"), 5u);
}

TYPED_TEST_P(JobStoreContract, SentSubmitIsTakenOnceItsDescriptorSaysSo) {
  auto s = this->new_submission("app", 1);
  auto& store = this->store();
  store.send_submits({s}, kT0);
  // The caller's loop: wait on the descriptor (when there is one), then take without waiting.
  std::optional<JobStore::SentSubmits> done;
  for (int round = 0; round < 1000 && !done; ++round) {
    const int fd = store.submits_fd();
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the reply never made the descriptor readable";
    }
    done = store.take_submits(false);
  }
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  ASSERT_TRUE(done->results.at(0).outcome);
  EXPECT_EQ(this->job(s.job_ids[0]).status, JobStatus::queued);
}

// A sent batch ends in the state submit_many leaves (on Redis the two are different scripts):
// one batch of every kind of submission is given to each, under two orgs, and the two orgs
// are compared through what a user can see: counts, list indexes, duplicates and the order
// in which claims hand the jobs out.
TYPED_TEST_P(JobStoreContract, SentBatchEndsAsSubmitManyDoes) {
  auto& store = this->store();
  struct Shape {
    std::string app;
    std::size_t n;
    std::string idem;
    Priority priority;
    Target target;
  };
  const std::vector<Shape> shapes = {
      {"a", 1, "k1", Priority::low, Target::emulator},    {"a", 3, "k2", Priority::high, Target::emulator},
      {"b", 2, "", Priority::medium, Target::device},     {"a", 1, "", Priority::medium, Target::emulator},
      {"c", 0, "k0", Priority::medium, Target::emulator}, {"a", 2, "", Priority::low, Target::emulator},
      {"b", 1, "k3", Priority::high, Target::device},     {"d", 1, "", Priority::medium, Target::browserstack},
  };
  auto batch_of = [&](const std::string& org) {
    std::vector<NewSubmission> out;
    for (const auto& sh : shapes) {
      auto sub = this->new_submission(sh.app, sh.n, sh.idem);
      sub.org_id = org;
      sub.priority = sh.priority;
      sub.target = sh.target;
      out.push_back(std::move(sub));
    }
    return out;
  };
  // Every job id of a batch as its place in the batch ("s.k"), so the two orgs compare.
  auto place_of = [](const std::vector<NewSubmission>& batch) {
    std::map<std::string, std::string> out;
    for (std::size_t s = 0; s < batch.size(); ++s) {
      for (std::size_t k = 0; k < batch[s].job_ids.size(); ++k)
        out[batch[s].job_ids[k]] = std::to_string(s) + "." + std::to_string(k);
    }
    return out;
  };
  const auto direct = batch_of("x");
  const auto sent = batch_of("y");
  const auto x_place = place_of(direct);
  const auto y_place = place_of(sent);
  for (const auto& r : store.submit_many(direct, kT0)) ASSERT_TRUE(r.outcome) << r.error;
  store.send_submits(sent, kT0);
  auto done = store.take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  for (std::size_t s = 0; s < sent.size(); ++s) {
    ASSERT_TRUE(done->results.at(s).outcome) << done->results[s].error;
    EXPECT_FALSE(done->results[s].outcome->duplicate);
    EXPECT_EQ(done->results[s].outcome->job_ids, sent[s].job_ids);
  }

  const auto stats = store.stats(kT0);
  EXPECT_EQ(stats.by_org.at("x"), 11u);
  EXPECT_EQ(stats.by_org.at("y"), stats.by_org.at("x"));
  EXPECT_EQ(stats.by_status.at("queued"), 22u);
  auto listed = [&](const std::string& org, const std::string& app, const std::map<std::string, std::string>& place) {
    std::vector<std::string> out;
    ListQuery q;
    q.org_id = org;
    q.app_version_id = app;
    q.limit = 100;
    for (const auto& j : store.list(q).jobs) out.push_back(place.at(j.id));
    return out;
  };
  for (const std::string app : {"", "a", "b", "c", "d"}) {
    EXPECT_EQ(listed("y", app, y_place), listed("x", app, x_place)) << "app '" << app << "'";
  }
  // The same keys again: duplicates of the first submissions, with their ids.
  for (std::size_t s : {0u, 1u, 4u, 6u}) {
    for (const auto* batch : {&direct, &sent}) {
      auto again = this->new_submission((*batch)[s].app_version_id, 1, (*batch)[s].idempotency_key);
      again.org_id = (*batch)[s].org_id;
      auto r = store.submit(again, kT0 + 1);
      EXPECT_TRUE(r.duplicate);
      EXPECT_EQ(r.submission_id, (*batch)[s].submission_id);
      EXPECT_EQ(r.job_ids, (*batch)[s].job_ids);
    }
  }
  // Claims hand both orgs' jobs out in the same order, group by group.
  std::map<std::string, std::vector<std::string>> handed;  // org -> "group: places"
  while (auto c = this->claim("w", kT0 + 2)) {
    const auto org = c->group_key.substr(0, 1);
    std::string line = c->group_key.substr(1) + ":";
    for (const auto& j : c->jobs) line += " " + (org == "x" ? x_place : y_place).at(j.id);
    handed[org].push_back(line);
  }
  EXPECT_EQ(handed["x"].size(), 3u);  // a/emulator, b/device, d/browserstack; c has no jobs
  EXPECT_EQ(handed["y"], handed["x"]);
}

// Two submissions of one batch with the same idempotency key: the first is written, the
// second is its duplicate, as when they come one after the other.
TYPED_TEST_P(JobStoreContract, SentBatchThatRepeatsAnIdempotencyKeyWritesTheFirstOnly) {
  auto& store = this->store();
  auto first = this->new_submission("a", 2, "k");
  auto second = this->new_submission("b", 1, "k");
  store.send_submits({first, second}, kT0);
  auto done = store.take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  ASSERT_TRUE(done->results.at(0).outcome);
  EXPECT_FALSE(done->results[0].outcome->duplicate);
  ASSERT_TRUE(done->results.at(1).outcome);
  EXPECT_TRUE(done->results[1].outcome->duplicate);
  EXPECT_EQ(done->results[1].outcome->submission_id, first.submission_id);
  EXPECT_EQ(done->results[1].outcome->job_ids, first.job_ids);
  EXPECT_FALSE(store.get(second.job_ids).at(0).has_value());
  EXPECT_EQ(store.queue_depth(), 2u);
}

// Without the jobs back, reports are judged and applied the same; only ReportOutcome::job
// may be missing.
TYPED_TEST_P(JobStoreContract, ReportManyWithoutJobsAppliesTheSame) {
  this->submit({.count = 3, .retries = 1}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto rep = [&](std::size_t i, JobStatus st, std::uint32_t attempt) {
    auto r = this->report_of(*c, i, st, attempt);
    r.duration_ms = 40 + static_cast<std::int64_t>(i);
    return r;
  };
  std::vector<proto::Report> batch = {rep(0, JobStatus::passed, 1), rep(1, JobStatus::failed, 1),
                                      rep(2, JobStatus::passed, 9)};
  auto out = this->store().report_many(batch, kT0 + 10, false);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].accepted);
  EXPECT_FALSE(out[0].requeued);
  EXPECT_TRUE(out[1].accepted);
  EXPECT_TRUE(out[1].requeued);  // a retry left
  EXPECT_FALSE(out[2].accepted);
  EXPECT_EQ(out[2].reason, "stale_attempt");
  const auto passed = this->job(c->jobs[0].id);
  EXPECT_EQ(passed.status, JobStatus::passed);
  EXPECT_EQ(passed.duration_ms, 40);
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::queued);
  EXPECT_EQ(this->job(c->jobs[2].id).status, JobStatus::assigned);
}

// A batch of reports larger than the store reads at once, without the jobs back: each is
// judged on its own, in order, a job's second report (in another part of the batch) after its
// first, and a pass keeps the duration and log it reports but no error text.
TYPED_TEST_P(JobStoreContract, ReportManyWithoutJobsJudgesALargeBatchInOrder) {
  std::vector<Claim> claims;
  for (int g = 0; g < 5; ++g) {
    this->submit({.app = "v" + std::to_string(g), .count = 50}, kT0);
    auto c = this->claim("w", kT0);
    ASSERT_TRUE(c.has_value());
    ASSERT_EQ(c->jobs.size(), 50u);
    claims.push_back(*c);
  }
  std::vector<proto::Report> batch;
  for (const auto& c : claims) {
    for (std::size_t i = 0; i < c.jobs.size(); ++i) {
      auto r = this->report_of(c, i, JobStatus::passed, 1);
      r.duration_ms = static_cast<std::int64_t>(batch.size());
      r.log_tail = "log " + std::to_string(batch.size());
      r.error = "ignored";
      batch.push_back(r);
    }
  }
  batch[7].attempt = 2;           // refused: stale_attempt
  batch[130].lease_id = "other";  // refused: lost_lease
  batch.push_back(batch[3]);      // the same job again, far from its first report
  batch.push_back(this->report_of(claims[0], 7, JobStatus::passed, 1));  // after its refusal
  auto out = this->store().report_many(batch, kT0 + 10, false);
  ASSERT_EQ(out.size(), 252u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i == 7 || i == 130 || i == 250) {
      EXPECT_FALSE(out[i].accepted) << i;
    } else {
      EXPECT_TRUE(out[i].accepted) << i;
      EXPECT_FALSE(out[i].requeued) << i;
    }
  }
  EXPECT_EQ(out[7].reason, "stale_attempt");
  EXPECT_EQ(out[130].reason, "lost_lease");
  EXPECT_EQ(out[250].reason, "already_final");
  const auto j = this->job(batch[42].job_id);
  EXPECT_EQ(j.status, JobStatus::passed);
  EXPECT_EQ(j.duration_ms, 42);
  EXPECT_EQ(j.log_tail, "log 42");
  EXPECT_EQ(j.last_error, "");
  EXPECT_EQ(this->job(batch[7].job_id).duration_ms, 0);  // its second report passed it
  EXPECT_EQ(this->job(batch[7].job_id).status, JobStatus::passed);
  EXPECT_EQ(this->job(batch[130].job_id).status, JobStatus::assigned);
  const auto stats = this->store().stats(kT0 + 10);
  EXPECT_EQ(stats.by_status.at("passed"), 249u);
  EXPECT_EQ(stats.by_status.at("assigned"), 1u);
}

TYPED_TEST_P(JobStoreContract, ReportManyJudgesEachReportOnItsOwn) {
  this->submit({.count = 3}, kT0);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  auto rep = [&](std::size_t i, JobStatus st, std::uint32_t attempt) { return this->report_of(*c, i, st, attempt); };
  std::vector<proto::Report> batch = {rep(0, JobStatus::passed, 1), rep(0, JobStatus::failed, 1),
                                      rep(1, JobStatus::passed, 7), rep(2, JobStatus::failed, 1)};
  auto out = this->store().report_many(batch, kT0 + 10);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0].accepted);
  EXPECT_FALSE(out[1].accepted);
  EXPECT_EQ(out[1].reason, "already_final");
  EXPECT_FALSE(out[2].accepted);
  EXPECT_EQ(out[2].reason, "stale_attempt");
  EXPECT_TRUE(out[3].accepted);
  ASSERT_TRUE(out[3].job.has_value());
  EXPECT_EQ(out[3].job->status, JobStatus::failed);
  EXPECT_EQ(this->job(c->jobs[0].id).status, JobStatus::passed);
  EXPECT_EQ(this->job(c->jobs[1].id).status, JobStatus::assigned);
  // The lease still holds job 1: it is renewable; once job 1 ends the lease is gone.
  EXPECT_TRUE(this->store().renew_lease("w", c->lease_id, kT0 + 20));
  this->report(*c, 1, JobStatus::passed, kT0 + 30);
  EXPECT_FALSE(this->store().renew_lease("w", c->lease_id, kT0 + 40));
  auto stats = this->store().stats(kT0 + 40);
  EXPECT_EQ(stats.by_status["passed"], 2u);
  EXPECT_EQ(stats.by_status["failed"], 1u);
  EXPECT_EQ(stats.by_status.count("assigned"), 0u);
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
  ASSERT_TRUE(this->report(c, 0, JobStatus::passed, kT0 + 3).accepted);
  const std::int64_t lease = this->settings_.lease.count();
  auto expired = this->store().expire_leases(kT0 + lease, 10);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].lease_id, c.lease_id);
  EXPECT_EQ(expired[0].jobs.size(), 2u);
  EXPECT_EQ(this->report(c, 1, JobStatus::passed, kT0 + lease + 1).reason, "lost_lease");
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

// Jobs cancelled while queued are never handed out, and a group whose jobs were all cancelled
// is not claimable; the claim moves on to the next group.
TYPED_TEST_P(JobStoreContract, CancelledQueuedJobsAreSkippedByClaims) {
  auto a = this->submit({.app = "a", .count = 3}, kT0).job_ids;
  auto b = this->submit({.app = "b", .count = 2}, kT0 + 1).job_ids;
  this->store().cancel_job(a[0], kT0 + 2);
  this->store().cancel_job(a[2], kT0 + 2);
  auto c = this->claim("w", kT0 + 3);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 1u);
  EXPECT_EQ(c->jobs[0].id, a[1]);
  for (const auto& id : b) this->store().cancel_job(id, kT0 + 4);
  EXPECT_FALSE(this->claim("w", kT0 + 5).has_value());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  auto q = this->store().queue("", 100, kT0 + 6);
  EXPECT_TRUE(q.groups.empty());
}

// A group's count of queued jobs leaves out the entries that cancels leave behind in its
// lists. A claim that takes exactly the jobs left empties the group, which then leaves the
// queue at once; a build cancelled whole leaves no group behind; the same build submitted
// again makes a group of its new jobs only.
TYPED_TEST_P(JobStoreContract, EntriesLeftByCancelsAreNotCountedAndAnEmptiedGroupGoes) {
  auto a = this->submit({.app = "a", .count = 5}, kT0).job_ids;
  this->store().cancel_job(a[1], kT0 + 1);
  auto page = this->store().queue("", 10, kT0 + 2);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 4u);
  ClaimRequest r;
  r.worker_id = "w";
  r.targets = {Target::emulator};
  r.max_jobs = 2;
  auto c = this->store().claim_group(r, kT0 + 3);  // passes the cancelled job's entry
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, a[0]);
  EXPECT_EQ(c->jobs[1].id, a[2]);
  page = this->store().queue("", 10, kT0 + 4);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 2u);
  c = this->store().claim_group(r, kT0 + 5);  // exactly the jobs left
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, a[3]);
  EXPECT_EQ(c->jobs[1].id, a[4]);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 6).groups.empty());
  EXPECT_FALSE(this->store().claim_group(r, kT0 + 6).has_value());

  auto b = this->submit({.app = "b", .count = 3}, kT0 + 5).job_ids;
  this->store().cancel_job(b[0], kT0 + 6);
  auto results = this->store().cancel_build("org", "b", kT0 + 7);
  EXPECT_EQ(results.size(), 2u);
  EXPECT_TRUE(this->store().queue("", 10, kT0 + 8).groups.empty());
  EXPECT_EQ(this->store().queue_depth(), 0u);
  EXPECT_FALSE(this->store().claim_group(r, kT0 + 8).has_value());

  auto again = this->submit({.app = "b", .count = 2}, kT0 + 9).job_ids;
  page = this->store().queue("", 10, kT0 + 10);
  ASSERT_EQ(page.groups.size(), 1u);
  EXPECT_EQ(page.groups[0].depth, 2u);
  r.max_jobs = 0;
  c = this->store().claim_group(r, kT0 + 11);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->jobs.size(), 2u);
  EXPECT_EQ(c->jobs[0].id, again[0]);
  EXPECT_EQ(c->jobs[1].id, again[1]);
}

REGISTER_TYPED_TEST_SUITE_P(
    JobStoreContract, SubmitThenGetReturnsQueuedJobs, IdempotentSubmitReturnsSameIdsAndWritesNothing,
    SubmissionEntersItsGroupWhole, WithinGroupHighBeforeMediumBeforeLowThenOldest, WithinGroupJobsGoByRankAcrossBands,
    GroupRanksByTheBestOfItsBands, BusyGroupDoesNotStarveItsLowJobs, CancelledEntriesAreSkippedAcrossBands,
    AcrossGroupsTierThenPriorityThenAge, LowGroupThatWaitedLongerThanHeadStartBeatsNewHighGroup,
    InstalledBuildWinsWithinAffinitySlack, GroupMaxCapsClaimSize, GroupWindowHoldsGroupUntilPromoteDue,
    GroupMaxOpensWindowEarly, SentBatchesFillingAGroupOpenItsWindowEarly, ClaimReturnsNothingWhenNothingIsClaimable,
    ClaimedJobIsNeverClaimedAgain, RacingClaimsNeverHandOutAJobTwice, ReportIsAcceptedOnceAndLaterReportsAreRejected,
    FinalStateNeverChanges, FailureWithRetriesLeftRequeuesAndPassMarksFlaky, InfrastructureErrorRequeuesAfterBackoff,
    ExhaustedAttemptsEndDeadAndRetryDeadRevives, LeaseExpiryRequeuesUnfinishedJobs,
    LeaseExpiryIsAppliedExactlyOnceWhenStoresRace, RenewLeaseKeepsLeaseAlive, RenewLeasesJudgesEachRenewalOnItsOwn,
    ProgressRecordsStatusOfHeldJobsOnly, ReleaseHandsUnstartedJobsBackAtOnce, CancelQueuedRunningFinalAndUnknownJobs,
    CancelBuildCancelsEveryNonFinalJob, ListPagesNewestFirstWithFiltersCoveringAllJobsOnce, QueueAndStatsCount,
    WakeupFdBecomesReadableAfterSubmit, WorkerRegistryRoundTripsAndPingAnswers,
    SubmitManyAppliesEachInOrderAndRefusesOnlyTheBadOne, SentSubmitsComeBackInSendOrderAndLaterCallsSeeThemApplied,
    SentSubmitIsTakenOnceItsDescriptorSaysSo, SentSubmitsRefuseTakenAndRepeatedIdsAloneAndDuplicatesWriteNothing,
    SentBatchEndsAsSubmitManyDoes, SentBatchThatRepeatsAnIdempotencyKeyWritesTheFirstOnly,
    ReportManyWithoutJobsAppliesTheSame, ReportManyWithoutJobsJudgesALargeBatchInOrder,
    ReportManyJudgesEachReportOnItsOwn, SubmitAndClaimHandsTheNewGroupToTheWaitingWorker,
    MaxJobsTakesPartOfTheGroupFromItsHead, GroupClaimedInPartKeepsItsRank, CancelledQueuedJobsAreSkippedByClaims,
    EntriesLeftByCancelsAreNotCountedAndAnEmptiedGroupGoes,
    GroupHandedToAWaitingWorkerAtSubmitEndsAsIfQueuedThenClaimed,
    SubmitAndClaimStillTakesTheOlderGroupAndOnlyWhatTheClaimAsks);

}  // namespace qg::sched::contract

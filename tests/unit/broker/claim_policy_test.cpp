// The claim-size policy: the fair-share rule, its sampling cache, and its inputs.
#include "claim_policy.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <unordered_map>

#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"

namespace qg::broker {
namespace {

using namespace std::chrono_literals;

TEST(FairShare, ManyUnfinishedJobsPerWorkerAsksForMoreThanAnyGroupHolds) {
  EXPECT_EQ(fair_share(835, 8, 5), 105u);  // above group_max: the store hands out whole groups
}

TEST(FairShare, RoundsUpSoThatTheWorkersTogetherCoverTheWork) {
  EXPECT_EQ(fair_share(17, 8, 1), 3u);
  EXPECT_EQ(fair_share(16, 8, 1), 2u);
}

TEST(FairShare, NeverAsksForFewerThanTheFloor) {
  EXPECT_EQ(fair_share(12, 8, 5), 5u);
  EXPECT_EQ(fair_share(0, 8, 5), 5u);
}

TEST(FairShare, AZeroOrOneFloorStillAsksForAtLeastOneJob) {
  EXPECT_EQ(fair_share(0, 8, 0), 1u);
  EXPECT_EQ(fair_share(3, 8, 1), 1u);
}

TEST(FairShare, NoWorkersMeansWholeGroups) { EXPECT_EQ(fair_share(100, 0, 5), 0u); }

TEST(FairShare, SaturatesInsteadOfWrapping) {
  EXPECT_EQ(fair_share(std::numeric_limits<std::uint64_t>::max(), 1, 5), std::numeric_limits<std::uint32_t>::max());
}

TEST(UnfinishedJobs, CountsQueuedAndHeldJobsButNoFinalOnes) {
  std::map<std::string, std::uint64_t> by_status = {{"queued", 10}, {"assigned", 4}, {"installing", 2},
                                                    {"running", 3}, {"passed", 100}, {"failed", 7},
                                                    {"dead", 1},    {"cancelled", 2}};
  EXPECT_EQ(unfinished_jobs(by_status), 19u);
  EXPECT_EQ(unfinished_jobs({}), 0u);
}

struct ClaimSizerTest : ::testing::Test {
  ClaimPolicySettings settings = [] {
    ClaimPolicySettings s;
    s.min_jobs = 2;
    s.refresh = 100ms;
    return s;
  }();
  ClaimSizer sizer{settings};
  int samples = 0;
  ClaimSizer::Sample next{40, 4};
  std::function<ClaimSizer::Sample()> sample = [this] {
    ++samples;
    return next;
  };
};

TEST_F(ClaimSizerTest, SamplesOnFirstUseAndAsksForTheShare) {
  EXPECT_EQ(sizer.max_jobs(1000, sample), 10u);
  EXPECT_EQ(samples, 1);
}

TEST_F(ClaimSizerTest, ReusesASampleUntilItIsOlderThanTheRefresh) {
  sizer.max_jobs(1000, sample);
  next = {8, 4};
  EXPECT_EQ(sizer.max_jobs(1099, sample), 10u);
  EXPECT_EQ(samples, 1);
  EXPECT_EQ(sizer.max_jobs(1100, sample), 2u);
  EXPECT_EQ(samples, 2);
}

TEST_F(ClaimSizerTest, SubmittedJobsCountUntilTheNextSampleWithoutSamplingAgain) {
  next = {0, 4};
  EXPECT_EQ(sizer.max_jobs(1000, sample), 2u);
  sizer.add_submitted(40);
  EXPECT_EQ(sizer.max_jobs(1001, sample), 10u);
  EXPECT_EQ(samples, 1);
  next = {8, 4};  // the store's count once the jobs were claimed and some finished
  EXPECT_EQ(sizer.max_jobs(1100, sample), 2u);
  EXPECT_EQ(samples, 2);
}

TEST_F(ClaimSizerTest, UnsampledJobsCountForThatAnswerOnly) {
  next = {0, 4};
  EXPECT_EQ(sizer.max_jobs(1000, sample, 40), 10u);
  EXPECT_EQ(sizer.max_jobs(1001, sample), 2u);
}

TEST_F(ClaimSizerTest, AFailedSampleMeansWholeGroupsUntilTheNextRefresh) {
  sizer.max_jobs(1000, sample);
  std::function<ClaimSizer::Sample()> failing = [this]() -> ClaimSizer::Sample {
    ++samples;
    throw StoreUnavailable("down");
  };
  EXPECT_EQ(sizer.max_jobs(1100, failing), 0u);
  EXPECT_EQ(sizer.max_jobs(1150, failing), 0u);
  EXPECT_EQ(samples, 2);  // not retried within the refresh
  EXPECT_EQ(sizer.max_jobs(1200, sample), 10u);
}

TEST_F(ClaimSizerTest, AClockThatGoesBackwardsTakesAFreshSample) {
  sizer.max_jobs(1000, sample);
  sizer.max_jobs(500, sample);
  EXPECT_EQ(samples, 2);
}

struct FakeRecord {
  proto::WorkerInfo info;
};

TEST(CountLiveWorkers, CountsWorkersHeardFromRecentlyThatAreNotDraining) {
  std::unordered_map<std::string, FakeRecord> records;
  auto add = [&](const std::string& id, std::int64_t seen, const std::string& state) {
    records[id].info.worker_id = id;
    records[id].info.last_seen_ms = seen;
    records[id].info.state = state;
  };
  add("idle", 10'000, "idle");
  add("busy", 8'000, "busy");
  add("silent", 6'999, "busy");
  add("leaving", 10'000, "draining");
  EXPECT_EQ(count_live_workers(records, 10'000, 3'000), 2u);
}

struct ClaimMaxJobsTest : ::testing::Test {
  std::unique_ptr<sched::JobStore> store = sched::make_memory_store({});
  IdGenerator ids;
  ClaimSizer sizer;  // the broker's
  static constexpr std::int64_t kNow = 1'700'000'000'000;

  void submit(const std::string& app, std::size_t count) {
    sched::NewSubmission s;
    s.submission_id = ids.next(kNow);
    s.org_id = "org";
    s.app_version_id = app;
    for (std::size_t i = 0; i < count; ++i) {
      s.job_ids.push_back(ids.next(kNow));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    store->submit(s, kNow);
  }
};

TEST_F(ClaimMaxJobsTest, SharesTheStoresUnfinishedJobsAmongTheLiveWorkers) {
  submit("a", 30);
  submit("b", 10);
  EXPECT_EQ(claim_max_jobs(sizer, *store, kNow, [] { return 4u; }), 10u);
}

TEST_F(ClaimMaxJobsTest, JobsBeingSubmittedCountForTheClaimMadeWithThem) {
  EXPECT_EQ(claim_max_jobs(
                sizer, *store, kNow, [] { return 2u; }, 40),
            20u);
  submit("a", 40);  // the batch lands in the store with the claim
  sizer.add_submitted(40);
  EXPECT_EQ(claim_max_jobs(sizer, *store, kNow, [] { return 2u; }), 20u);
}

TEST_F(ClaimMaxJobsTest, ClaimedJobsStillCountUntilTheyAreFinal) {
  submit("a", 40);
  sched::ClaimRequest r;
  r.worker_id = "w";
  r.targets = {proto::Target::emulator};
  r.max_jobs = 30;
  ASSERT_TRUE(store->claim_group(r, kNow).has_value());
  EXPECT_EQ(claim_max_jobs(sizer, *store, kNow, [] { return 4u; }), 10u);
}

TEST_F(ClaimMaxJobsTest, AStoreThatThrowsMeansWholeGroups) {
  EXPECT_EQ(claim_max_jobs(sizer, *store, kNow, []() -> std::uint64_t { throw StoreUnavailable("down"); }), 0u);
}

}  // namespace
}  // namespace qg::broker

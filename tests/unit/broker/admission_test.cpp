// Per-org quotas and submit rates: Admission's decisions (limits at the limit and one past,
// bursts, refill, retry_after_ms, many orgs, sampling) on injected time, and the flags'
// parsers. Nothing here sleeps.
#include "client/admission.hpp"

#include <gtest/gtest.h>

#include <string>

#include "qg/broker/quotas.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/messages.hpp"

namespace qg::broker {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kT = 1'000'000;  // a steady clock reading

QuotaSettings quota(std::uint64_t limit) {
  QuotaSettings q;
  q.default_max_queued = limit;
  return q;
}

QuotaSettings rate(double per_second, double burst = 0) {
  QuotaSettings q;
  q.default_rate = {per_second, burst};
  return q;
}

TEST(Admission, AdmitsUpToTheQuotaAndRefusesOnePast) {
  Admission a(quota(10));
  EXPECT_FALSE(a.admit("acme", 4, kT));
  EXPECT_FALSE(a.admit("acme", 6, kT));  // exactly at the limit
  auto refused = a.admit("acme", 1, kT);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::errc::quota_exceeded);
  EXPECT_EQ(refused->queued, 10u);
  EXPECT_EQ(refused->limit, 10u);
  EXPECT_FALSE(refused->rate.has_value());
  // No job was seen to leave the queue: the hint is 2 s.
  EXPECT_EQ(refused->retry_after_ms, 2000u);
}

TEST(Admission, ARefusedSubmissionIsNotCounted) {
  Admission a(quota(10));
  EXPECT_FALSE(a.admit("acme", 8, kT));
  EXPECT_TRUE(a.admit("acme", 3, kT));
  EXPECT_FALSE(a.admit("acme", 2, kT));  // the refused 3 took no room
}

TEST(Admission, ASubmissionLargerThanTheQuotaIsRefusedWithoutARetryHint) {
  Admission a(quota(10));
  auto refused = a.admit("acme", 11, kT);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::errc::quota_exceeded);
  EXPECT_FALSE(refused->retry_after_ms.has_value());  // it would never fit
}

TEST(Admission, EachOrgHasItsOwnQuotaAndNamedOrgsOverrideTheDefault) {
  auto q = quota(5);
  q.max_queued["big"] = 100;
  q.max_queued["free"] = 0;  // exempt
  Admission a(q);
  for (int i = 0; i < 1000; ++i) {
    const std::string org = "org" + std::to_string(i);
    ASSERT_FALSE(a.admit(org, 5, kT)) << org;
    ASSERT_TRUE(a.admit(org, 1, kT)) << org;
  }
  EXPECT_FALSE(a.admit("big", 100, kT));
  EXPECT_TRUE(a.admit("big", 1, kT));
  EXPECT_FALSE(a.admit("free", 1'000'000, kT));
  EXPECT_EQ(a.tracked_orgs(), 1002u);
}

TEST(Admission, ASampleReplacesTheEstimateAndTheDrainSetsTheHint) {
  Admission a(quota(100));
  EXPECT_TRUE(a.sample_due(kT));
  a.sampled({{"acme", 90}}, kT);
  EXPECT_FALSE(a.sample_due(kT + 199));
  EXPECT_TRUE(a.sample_due(kT + 200));
  EXPECT_FALSE(a.admit("acme", 10, kT));  // 90 in the store + 10
  EXPECT_TRUE(a.admit("acme", 1, kT));
  // 200 ms later the store holds 60: 40 jobs left in 200 ms (0.2 per ms, halved by the
  // smoothing from none: 0.1 per ms).
  a.sampled({{"acme", 60}}, kT + 200);
  EXPECT_FALSE(a.admit("acme", 40, kT + 200));
  auto refused = a.admit("acme", 11, kT + 200);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->queued, 100u);
  // 11 over the limit at 0.1 jobs per ms: 110 ms, raised to the 500 ms floor.
  EXPECT_EQ(refused->retry_after_ms, 500u);
  a.sampled({{"acme", 100}}, kT + 400);  // nothing left: the drain estimate halves (0.05)
  refused = a.admit("acme", 100, kT + 400);
  ASSERT_TRUE(refused);
  ASSERT_TRUE(refused->retry_after_ms.has_value());
  EXPECT_NEAR(static_cast<double>(*refused->retry_after_ms), 2000, 1);  // 100 over at 0.05 per ms
}

TEST(Admission, AnOrgAbsentFromTheSampleHasNothingQueued) {
  Admission a(quota(10));
  EXPECT_FALSE(a.admit("acme", 10, kT));
  a.sampled({}, kT + 300);  // its jobs were all claimed
  EXPECT_FALSE(a.admit("acme", 10, kT + 300));
}

TEST(Admission, AnOrgFirstSeenAfterASampleStartsFromIt) {
  Admission a(quota(10));
  a.sampled({{"acme", 9}}, kT);
  EXPECT_FALSE(a.admit("acme", 1, kT));
  EXPECT_TRUE(a.admit("acme", 1, kT));
}

TEST(Admission, AFailedSampleKeepsTheEstimateAndWaitsAPeriod) {
  Admission a(quota(10));
  EXPECT_FALSE(a.admit("acme", 10, kT));
  a.sample_failed(kT);
  EXPECT_FALSE(a.sample_due(kT + 100));
  EXPECT_TRUE(a.sample_due(kT + 200));
  EXPECT_TRUE(a.admit("acme", 1, kT + 100));
}

TEST(Admission, WithoutAQuotaNothingIsSampled) {
  Admission a(rate(10));
  EXPECT_FALSE(a.sample_due(kT));
}

TEST(Admission, ABurstIsAdmittedAtOnceAndTheNextJobWaitsForItsToken) {
  Admission a(rate(10, 5));
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(a.admit("acme", 1, kT)) << i;
  auto refused = a.admit("acme", 1, kT);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::errc::rate_limited);
  EXPECT_EQ(refused->rate, 10.0);
  EXPECT_EQ(refused->burst, 5u);
  EXPECT_FALSE(refused->queued.has_value());
  EXPECT_EQ(refused->retry_after_ms, 100u);  // one token at 10 per second
  EXPECT_TRUE(a.admit("acme", 1, kT + 99));
  EXPECT_FALSE(a.admit("acme", 1, kT + 100));
}

TEST(Admission, TheBucketRefillsAtTheRateUpToTheBurst) {
  Admission a(rate(100, 50));
  EXPECT_FALSE(a.admit("acme", 50, kT));
  EXPECT_TRUE(a.admit("acme", 1, kT));
  EXPECT_FALSE(a.admit("acme", 20, kT + 200));  // 20 tokens in 200 ms
  EXPECT_TRUE(a.admit("acme", 1, kT + 200));
  // Idle for a minute: the bucket holds the burst, no more.
  EXPECT_FALSE(a.admit("acme", 50, kT + 60'000));
  auto refused = a.admit("acme", 10, kT + 60'000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after_ms, 100u);  // 10 tokens at 100 per second
}

TEST(Admission, TheDefaultBurstIsOneSecondsWorth) {
  Admission a(rate(20));
  EXPECT_FALSE(a.admit("acme", 20, kT));
  auto refused = a.admit("acme", 1, kT);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->burst, 20u);
  Admission slow(rate(0.5));
  EXPECT_FALSE(slow.admit("acme", 1, kT));
  refused = slow.admit("acme", 1, kT);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->burst, 1u);
  EXPECT_EQ(refused->retry_after_ms, 2000u);
}

TEST(Admission, ASubmissionLargerThanTheBurstGoesWhenTheBucketIsFullAndLeavesItInDebt) {
  Admission a(rate(10, 5));
  EXPECT_FALSE(a.admit("acme", 25, kT));  // full bucket: admitted, 20 tokens owed
  auto refused = a.admit("acme", 1, kT + 1000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after_ms, 1100u);  // from -10 to 1 token at 10 per second
  // A large one waits for a full bucket (5 tokens), not for 25.
  refused = a.admit("acme", 25, kT + 2000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after_ms, 500u);
  EXPECT_FALSE(a.admit("acme", 25, kT + 2500));
}

TEST(Admission, RatesAreKeptPerOrgAndNamedOrgsOverrideTheDefault) {
  auto q = rate(1, 1);
  q.rates["ci"] = {1000, 1000};
  q.rates["free"] = {0, 0};  // exempt
  Admission a(q);
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(a.admit("org" + std::to_string(i), 1, kT)) << i;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.admit("org" + std::to_string(i), 1, kT)) << i;
  EXPECT_FALSE(a.admit("ci", 1000, kT));
  EXPECT_FALSE(a.admit("free", 1'000'000, kT));
  EXPECT_FALSE(a.admit("free", 1'000'000, kT));
}

TEST(Admission, AQuotaRefusalTakesNoToken) {
  auto q = quota(3);
  q.default_rate = {1, 5};
  Admission a(q);
  EXPECT_FALSE(a.admit("acme", 3, kT));
  EXPECT_EQ(a.admit("acme", 1, kT)->code, proto::errc::quota_exceeded);
  a.sampled({}, kT + 200);                     // the three were claimed
  EXPECT_FALSE(a.admit("acme", 2, kT + 200));  // the two tokens the refusal did not take
}

TEST(Admission, OrgsWithNothingToRememberAreForgottenAtASample) {
  auto q = quota(10);
  q.default_rate = {1000, 1000};
  Admission a(q);
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(a.admit("org" + std::to_string(i), 1, kT));
  a.sampled({{"org7", 1}}, kT + 5000);  // the others' jobs were claimed; buckets full again
  EXPECT_EQ(a.tracked_orgs(), 1u);
  EXPECT_TRUE(a.admit("org7", 10, kT + 5000));
  EXPECT_FALSE(a.admit("org7", 9, kT + 5000));
}

TEST(Admission, WithoutSamplingIdleOrgsAreSweptAsTheirNumberGrows) {
  Admission a(rate(1000, 1000));
  for (int i = 0; i < 10'000; ++i) ASSERT_FALSE(a.admit("org" + std::to_string(i), 1, kT + 10 * i));
  // Each bucket is full again a millisecond later: the sweeps keep the map small.
  EXPECT_LT(a.tracked_orgs(), 5000u);
}

TEST(QuotaFlags, ParseOrgLimitsAndRates) {
  EXPECT_EQ(parse_org_max_queued("acme=1000"), (std::pair<std::string, std::uint64_t>{"acme", 1000}));
  EXPECT_EQ(parse_org_max_queued("a_b-c=0").second, 0u);
  auto [org, r] = parse_org_rate("acme=50:200");
  EXPECT_EQ(org, "acme");
  EXPECT_EQ(r.per_second, 50.0);
  EXPECT_EQ(r.burst, 200.0);
  EXPECT_EQ(parse_rate("0.5").per_second, 0.5);
  EXPECT_EQ(parse_rate("0.5").burst, 0.0);
}

TEST(QuotaFlags, RefuseMalformedValues) {
  for (const char* bad : {"acme", "=5", "acme=", "acme=-1", "acme=1x", "-x=5", "a.b=5", "acme=5=6"}) {
    EXPECT_THROW(parse_org_max_queued(bad), ConfigError) << bad;
  }
  for (const char* bad : {"", "x", "-1", "5:", "5:0", "5:-1", "5:1.5", "inf", "nan"}) {
    EXPECT_THROW(parse_rate(bad), ConfigError) << bad;
  }
  EXPECT_THROW(parse_org_rate("acme"), ConfigError);
}

TEST(QuotaFlags, SettingsSayWhetherAnythingIsLimited) {
  QuotaSettings q;
  EXPECT_FALSE(q.any());
  q.max_queued["acme"] = 0;
  q.rates["acme"] = {0, 0};
  EXPECT_FALSE(q.any());
  q.rates["acme"] = {1, 0};
  EXPECT_TRUE(q.any_rate());
  EXPECT_FALSE(q.any_quota());
}

}  // namespace
}  // namespace qg::broker

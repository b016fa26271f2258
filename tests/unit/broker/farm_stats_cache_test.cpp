// STATS' farm records served from a copy read at most once per farm_stats_ttl: the cache on its
// own, and a broker whose clock moves only when the test moves it.
#include <gtest/gtest.h>

#include "broker_fixture.hpp"
#include "client/farm_stats_cache.hpp"
#include "qg/common/clock.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::FarmStatsCache;
using qg::proto::FarmStat;

std::vector<FarmStat> records(std::initializer_list<const char*> orgs) {
  std::vector<FarmStat> out;
  for (const char* org : orgs) {
    FarmStat f;
    f.org_id = org;
    f.window = "hour";
    out.push_back(f);
  }
  return out;
}

TEST(FarmStatsCache, ReadsOncePerTtlAndAgainWhenItHasPassed) {
  FarmStatsCache cache(2000ms);
  std::vector<FarmStat> store = records({"acme"});
  const auto read = [&] { return store; };
  EXPECT_EQ(cache.all(10'000, read).size(), 1u);
  store = records({"acme", "globex"});
  EXPECT_EQ(cache.all(11'999, read).size(), 1u);  // within the ttl: the copy
  EXPECT_EQ(cache.reads(), 1u);
  EXPECT_EQ(cache.all(12'000, read).size(), 2u);  // ttl passed: read again
  EXPECT_EQ(cache.reads(), 2u);
}

TEST(FarmStatsCache, AClockThatWentBackReadsAgain) {
  FarmStatsCache cache(2000ms);
  const auto read = [] { return records({"acme"}); };
  cache.all(10'000, read);
  cache.all(9'000, read);
  EXPECT_EQ(cache.reads(), 2u);
}

TEST(FarmStatsCache, TtlZeroReadsEveryTime) {
  FarmStatsCache cache(0ms);
  const auto read = [] { return records({"acme"}); };
  cache.all(10'000, read);
  cache.all(10'000, read);
  EXPECT_EQ(cache.reads(), 2u);
}

TEST(FarmStatsCache, AFailedReadKeepsNothing) {
  FarmStatsCache cache(2000ms);
  cache.all(10'000, [] { return records({"acme"}); });
  EXPECT_THROW(cache.all(13'000, []() -> std::vector<FarmStat> { throw std::runtime_error("store down"); }),
               std::runtime_error);
  EXPECT_EQ(cache.all(13'001, [] { return records({"globex"}); }).front().org_id, "globex");
}

TEST(FarmStatsCache, AnOrgGetsItsOwnRecordsOutOfEveryOrgs) {
  FarmStatsCache cache(2000ms);
  const auto read = [] { return records({"acme", "globex", "acme"}); };
  auto own = cache.of_org(10'000, "acme", read);
  ASSERT_EQ(own.size(), 2u);
  for (const auto& f : own) EXPECT_EQ(f.org_id, "acme");
  EXPECT_TRUE(cache.of_org(10'001, "initech", read).empty());
  EXPECT_EQ(cache.reads(), 1u);
}

}  // namespace

namespace qg::broker::testing {

class FarmStatsTtlBrokerTest : public BrokerTest {
 protected:
  const qg::Clock& clock() override { return clock_; }
  qg::ManualClock clock_;
};

// A build queued after a STATS shows in the farm records only once the ttl (2 s) has passed.
TEST_F(FarmStatsTtlBrokerTest, StatsShowsTheFarmAsReadWithinTheLastTtl) {
  auto client = dealer(client_endpoint_);
  submit(client, {"a.spec.ts"}, "build-1");
  qg::proto::StatsRequest stats;
  stats.rid = "s1";
  auto first = request<qg::proto::StatsReply>(client, kClientProtocol, stats);
  ASSERT_EQ(first.farm.size(), 2u);  // acme/emulator: hour and day
  EXPECT_EQ(first.farm[0].oldest_queued_ms, 0);

  clock_.advance(1500ms);
  stats.rid = "s2";
  auto cached = request<qg::proto::StatsReply>(client, kClientProtocol, stats);
  EXPECT_EQ(cached.farm[0].oldest_queued_ms, 0);  // the copy read at the first STATS

  clock_.advance(500ms);
  stats.rid = "s3";
  auto fresh = request<qg::proto::StatsReply>(client, kClientProtocol, stats);
  ASSERT_EQ(fresh.farm.size(), 2u);
  EXPECT_EQ(fresh.farm[0].oldest_queued_ms, 2000);  // read again: the job has waited 2 s
}

}  // namespace qg::broker::testing

// RedisConnection and the Redis JobStore behind Redis Sentinel (redis-sentinel://): a real
// primary, replica and three sentinels (qg::testing::RedisSentinelSet). The primary is found
// by asking the sentinels, a failover (kill -9 of the primary, or a forced one) is followed,
// the store keeps its jobs and reloads its function library on the promoted replica, the
// sentinels' credentials, and --redis-min-replicas's WAIT.

#include <gtest/gtest.h>

#include <csignal>

#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/scheduler/job_store.hpp"
#include "qg/testing/process.hpp"
#include "qg/testing/sentinel.hpp"

namespace qg {
namespace {

using testing::RedisSentinelSet;

constexpr auto kFollowWithin = std::chrono::seconds(15);

class RedisSentinelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  static RedisConnection connect(const std::string& url) {
    return RedisConnection(RedisAddress::parse(url), RedisOptions{}, null_logger());
  }
  // The port of the server `c` is connected to (reconnecting as needed); 0 while it fails.
  static int served_by(RedisConnection& c) {
    try {
      return static_cast<int>(c.command({"CONFIG", "GET", "port"})[1].integer());
    } catch (const StoreUnavailable&) {
      return 0;
    }
  }
  // True once a write through `c` succeeds on the server at `port`, within kFollowWithin.
  static bool writes_reach(RedisConnection& c, int port) {
    return testing::wait_until(
        [&] {
          try {
            c.command({"SET", "qg:test:probe", "1"});
            return served_by(c) == port;
          } catch (const StoreUnavailable&) {
            return false;
          }
        },
        kFollowWithin, std::chrono::milliseconds(20));
  }
  sched::NewSubmission submission(std::size_t n, std::int64_t now) {
    sched::NewSubmission s;
    s.submission_id = ids_.next(now);
    s.org_id = "org";
    s.app_version_id = "app";
    for (std::size_t i = 0; i < n; ++i) {
      s.job_ids.push_back(ids_.next(now));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    return s;
  }

  IdGenerator ids_;
};

TEST_F(RedisSentinelTest, ConnectsToThePrimaryTheSentinelsName) {
  RedisSentinelSet set;
  auto c = connect(set.url());
  EXPECT_EQ(served_by(c), set.server(0).port());
  c.command({"SET", "k", "v"});
  EXPECT_EQ(set.cli(set.server(1).port(), {"GET", "k"}).find("v"), 0u);  // replicated
}

TEST_F(RedisSentinelTest, FollowsTheSentinelsToThePromotedReplicaAfterThePrimaryIsKilled) {
  RedisSentinelSet set;
  auto c = connect(set.url() + "?db=2");
  c.command({"SET", "before", "1"});
  set.kill_primary();
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(writes_reach(c, set.server(1).port())) << "no failover followed (logs in " << set.dir() << ")";
  const auto followed = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(followed, kFollowWithin);
  EXPECT_EQ(c.command({"GET", "before"}).opt_str(), "1");  // the same database, db 2, on the new primary
  EXPECT_EQ(set.primary_port(), set.server(1).port());
}

TEST_F(RedisSentinelTest, FollowsAForcedFailoverThatDemotesAPrimaryThatStaysUp) {
  RedisSentinelSet set;
  auto c = connect(set.url());
  ASSERT_EQ(served_by(c), set.server(0).port());
  // The old primary stays up as a replica: Sentinel drops its clients, or a write meets READONLY.
  set.cli(set.sentinel_port(0), {"SENTINEL", "FAILOVER", RedisSentinelSet::kMasterName});
  ASSERT_TRUE(set.wait_for_primary(set.server(1).port(), kFollowWithin));
  ASSERT_TRUE(writes_reach(c, set.server(1).port()));
  EXPECT_NE(set.cli(set.server(0).port(), {"ROLE"}).find("slave"), std::string::npos);
}

TEST_F(RedisSentinelTest, AWriteMeetingReadonlyAsksTheSentinelsAgainAndNeverTakesAReplica) {
  RedisSentinelSet set;
  auto c = connect(set.url());
  ASSERT_EQ(served_by(c), set.server(0).port());
  const auto generation = c.generation();
  // The primary turned into a replica behind the sentinels' back: the connection is still
  // open to it, and a write meets READONLY.
  const auto primary = std::to_string(set.server(0).port());
  set.cli(set.server(1).port(), {"REPLICAOF", "NO", "ONE"});
  set.cli(set.server(0).port(), {"REPLICAOF", "127.0.0.1", std::to_string(set.server(1).port())});
  EXPECT_THROW(c.command({"SET", "k", "v"}), StoreUnavailable);
  // The next call asks the sentinels, who still name the old primary; its ROLE says replica,
  // so it is not used.
  try {
    c.command({"SET", "k", "v"});
    ADD_FAILURE() << "a write went to a replica";
  } catch (const StoreUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("is not the primary"), std::string::npos) << e.what();
  }
  // Put back as the sentinels see it: the connection reaches the primary again.
  set.cli(set.server(0).port(), {"REPLICAOF", "NO", "ONE"});
  set.cli(set.server(1).port(), {"REPLICAOF", "127.0.0.1", primary});
  EXPECT_TRUE(writes_reach(c, set.server(0).port()));
  EXPECT_GT(c.generation(), generation);
}

TEST_F(RedisSentinelTest, TheStoreKeepsItsJobsAndReloadsItsLibraryOnThePromotedReplica) {
  RedisSentinelSet set;
  sched::StoreSettings settings;
  auto store = sched::make_redis_store(RedisAddress::parse(set.url()), settings);
  settings.min_replicas = 1;
  auto replicated = sched::make_redis_store(RedisAddress::parse(set.url()), settings);
  const std::int64_t t0 = 1'700'000'000'000;
  // Acknowledged only once the replica has it (WAIT): it survives the primary's death.
  const auto before = replicated->submit(submission(2, t0), t0);
  set.kill_primary();
  ASSERT_TRUE(set.wait_for_primary(set.server(1).port(), kFollowWithin)) << "logs in " << set.dir();
  // A promoted replica without the function library (one set up after the library was
  // loaded, or flushed): the store loads it again.
  set.cli(set.server(1).port(), {"FUNCTION", "FLUSH"});
  std::optional<sched::SubmitOutcome> after;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        try {
          after = store->submit(submission(1, t0 + 1), t0 + 1);
          return true;
        } catch (const StoreUnavailable&) {
          return false;
        }
      },
      kFollowWithin, std::chrono::milliseconds(20)));
  auto jobs = store->get(before.job_ids);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_TRUE(jobs[0].has_value() && jobs[1].has_value());
  EXPECT_EQ(store->queue_depth(), 3u);
  // The promoted replica has no replica of its own: with min_replicas 1 a submit is written
  // but not acknowledged.
  std::string refusal;
  testing::wait_until(
      [&] {
        try {
          replicated->submit(submission(1, t0 + 2), t0 + 2);
        } catch (const StoreUnavailable& e) {
          refusal = e.what();
        }
        return refusal.find("replicas required") != std::string::npos;
      },
      kFollowWithin, std::chrono::milliseconds(20));
  EXPECT_NE(refusal.find("0 of the 1 replicas required"), std::string::npos) << refusal;
}

TEST_F(RedisSentinelTest, SentSubmitsWaitForTheReplicasInTheSameRoundTrip) {
  RedisSentinelSet set;
  sched::StoreSettings settings;
  settings.min_replicas = 1;
  auto store = sched::make_redis_store(RedisAddress::parse(set.url()), settings);
  const std::int64_t t0 = 1'700'000'000'000;
  store->send_submits({submission(2, t0), submission(1, t0)}, t0);
  auto done = store->take_submits(true);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->failure, sched::JobStore::SentSubmits::Failure::none) << done->error;
  // Two replicas asked of a set that has one: written, refused as unavailable, within the timeout.
  settings.min_replicas = 2;
  settings.min_replicas_timeout = std::chrono::milliseconds(200);
  auto wanting = sched::make_redis_store(RedisAddress::parse(set.url()), settings);
  wanting->send_submits({submission(1, t0)}, t0);
  done = wanting->take_submits(true);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->failure, sched::JobStore::SentSubmits::Failure::unavailable);
  EXPECT_NE(done->error.find("1 of the 2 replicas required"), std::string::npos) << done->error;
}

TEST_F(RedisSentinelTest, SentinelsTakeTheServersCredentialsOrNone) {
  for (const bool sentinel_password : {false, true}) {
    SCOPED_TRACE(sentinel_password ? "sentinels with the password" : "sentinels without a password");
    testing::SentinelSetOptions options;
    options.password = "s3cret";
    options.sentinel_password = sentinel_password;
    RedisSentinelSet set(options);
    auto c = connect(set.url(":s3cret"));
    EXPECT_EQ(served_by(c), set.server(0).port());
    // Wrong credentials: a configuration error at the first connect, never quoting the password.
    auto wrong = connect(set.url(":hunter2"));
    try {
      wrong.connect();
      ADD_FAILURE() << "connected with a wrong password";
    } catch (const RedisAuthError& e) {
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
}

TEST_F(RedisSentinelTest, NoSentinelAnsweringIsUnavailableAndAnUnknownPrimaryIsNamed) {
  RedisSentinelSet set;
  auto nobody = connect("redis-sentinel://127.0.0.1:" + std::to_string(testing::free_port()) + "/qgjob");
  EXPECT_THROW(nobody.connect(), StoreUnavailable);
  auto unknown = connect("redis-sentinel://127.0.0.1:" + std::to_string(set.sentinel_port(0)) + "/other");
  try {
    unknown.connect();
    ADD_FAILURE() << "connected to an unknown primary";
  } catch (const StoreUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("knows no primary named 'other'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qg

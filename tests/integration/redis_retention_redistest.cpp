// Retention on a real redis-server: after a sweep, no key of the store names a swept job or
// its submission, in its name or its contents (every key read by its type); the
// finished-at index is not kept while retention of finished jobs is off.

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/scheduler/job_store.hpp"
#include "qg/testing/process.hpp"

namespace qg::sched {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;

std::string fresh_prefix() {
  static std::atomic<int> n{0};
  return "ret" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ":";
}

class RedisRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.key_prefix = fresh_prefix();
    settings_.retention = std::chrono::seconds(30);
    settings_.dead_retention = std::chrono::seconds(60);
    settings_.default_max_attempts = 1;
  }
  RedisValue redis(std::vector<std::string> args) {
    static RedisConnection c(RedisAddress::parse(server_.url()), RedisOptions{}, null_logger());
    return c.command(args);
  }
  NewSubmission submission(std::size_t n, const std::string& idem, const std::string& app = "a") {
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
  static std::string text(const RedisValue& v) {
    try {
      return v.str();
    } catch (const StoreError&) {
      return std::to_string(v.integer());
    }
  }
  // Every key under the prefix whose name or contents mention `needle`.
  std::vector<std::string> keys_naming(const std::string& needle) {
    std::vector<std::string> out;
    const auto keys = redis({"KEYS", settings_.key_prefix + "*"});
    for (const auto& k : keys.array()) {
      const std::string key = k.str();
      std::string contents = key;
      const std::string type = redis({"TYPE", key}).str();
      std::vector<RedisValue> parts;
      if (type == "string") {
        contents += " " + text(redis({"GET", key}));
      } else if (type == "list") {
        parts = redis({"LRANGE", key, "0", "-1"}).array();
      } else if (type == "zset") {
        parts = redis({"ZRANGE", key, "0", "-1"}).array();
      } else if (type == "hash") {
        parts = redis({"HGETALL", key}).array();
      } else if (type == "set") {
        parts = redis({"SMEMBERS", key}).array();
      }
      for (const auto& p : parts) contents += " " + text(p);
      if (contents.find(needle) != std::string::npos) out.push_back(key + " (" + type + ")");
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static testing::RedisServer& server() {
    static testing::RedisServer s;
    return s;
  }
  testing::RedisServer& server_ = server();
  StoreSettings settings_;
  IdGenerator ids_;
};

TEST_F(RedisRetentionTest, SweptJobsLeaveNoKeyNamingThem) {
  auto store = make_redis_store(server_.url(), settings_);
  store->publish_retention();
  std::vector<NewSubmission> subs = {submission(1, "one"), submission(3, "suite"), submission(2, ""),
                                     submission(1, "", "b")};
  auto cancelled_in_queue = submission(3, "", "c");
  cancelled_in_queue.target = proto::Target::device;
  store->submit_many(subs, kT0);
  store->send_submits({cancelled_in_queue}, kT0);
  ASSERT_TRUE(store->take_submits(true));
  ASSERT_EQ(store->cancel_job(cancelled_in_queue.job_ids[0], kT0 + 1).outcome, "cancelled");
  // Every job of a, b ends: passed, failed, or dead (error with one attempt).
  ClaimRequest worker{"w", {proto::Target::emulator}, {}};
  for (int round = 0; round < 2; ++round) {
    auto claim = store->claim_group(worker, kT0 + 2);
    ASSERT_TRUE(claim);
    for (std::size_t i = 0; i < claim->jobs.size(); ++i) {
      proto::Report r;
      r.worker_id = "w";
      r.lease_id = claim->lease_id;
      r.job_id = claim->jobs[i].id;
      r.attempt = claim->jobs[i].attempt;
      r.status = i % 3 == 0 ? proto::JobStatus::passed : proto::JobStatus::failed;
      if (i == 1 && round == 0) r.status = proto::JobStatus::error;
      ASSERT_TRUE(store->report(r, kT0 + 3).accepted);
    }
  }
  // Sweeps in small batches until nothing more is due, well after both retentions.
  std::size_t deleted = 0;
  for (int call = 0; call < 100; ++call) {
    auto swept = store->sweep_retention(kT0 + 3 + 3 * 60'000, 2);
    deleted += swept.deleted;
    if (!swept.more && swept.deleted == 0) break;
  }
  EXPECT_GE(deleted, 8u);
  for (const auto& s : subs) {
    for (const auto& id : s.job_ids) EXPECT_EQ(keys_naming(id), std::vector<std::string>{}) << id;
    EXPECT_EQ(keys_naming(s.submission_id), std::vector<std::string>{}) << s.submission_id;
  }
  EXPECT_EQ(keys_naming("idem:"), std::vector<std::string>{});
  // The cancelled job's own keys and its group-list entry went; its suite's list and index
  // entries stay while the suite's other jobs are kept.
  const std::string& p = settings_.key_prefix;
  EXPECT_EQ(keys_naming(cancelled_in_queue.job_ids[0]),
            (std::vector<std::string>{p + "idx:all (list)", p + "idx:app:org:c (list)", p + "idx:org:org (list)",
                                      p + "s:" + cancelled_in_queue.submission_id + " (list)"}));
  // The c build's other jobs are still queued and still claimable, and nothing else.
  auto claim = store->claim_group({"w2", {proto::Target::device}, {}}, kT0 + 4 * 60'000);
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->jobs.size(), 2u);
}

TEST_F(RedisRetentionTest, RetentionOffKeepsNoFinishedAtIndex) {
  settings_.retention = std::nullopt;
  auto store = make_redis_store(server_.url(), settings_);
  store->publish_retention();
  auto s = submission(1, "");
  store->submit(s, kT0);
  auto claim = store->claim_group({"w", {proto::Target::emulator}, {}}, kT0 + 1);
  ASSERT_TRUE(claim);
  proto::Report r;
  r.worker_id = "w";
  r.lease_id = claim->lease_id;
  r.job_id = s.job_ids[0];
  r.attempt = 1;
  r.status = proto::JobStatus::passed;
  ASSERT_TRUE(store->report(r, kT0 + 2).accepted);
  EXPECT_EQ(redis({"EXISTS", settings_.key_prefix + "done"}).integer(), 0);
  EXPECT_EQ(store->retention(), std::optional<std::chrono::milliseconds>(std::chrono::seconds(60)));
}

// An index whose head is a job still kept (queued for a target nobody serves) holds the
// entries of the jobs behind it: the sweep deletes those jobs, stops saying "more" (it does
// not spin on an index it cannot trim), and trims every entry once the head's job goes too.
TEST_F(RedisRetentionTest, AKeptJobAtAnIndexHeadEndsTheSweepAndItsEntriesGoWithIt) {
  auto store = make_redis_store(server_.url(), settings_);
  store->publish_retention();
  auto head = submission(1, "", "k");
  head.target = proto::Target::device;
  store->submit(head, kT0);
  std::vector<std::string> behind;
  for (int i = 0; i < 20; ++i) {
    auto s = submission(1, "", "k");
    store->submit(s, kT0 + 1);
    behind.push_back(s.job_ids[0]);
  }
  std::size_t reported = 0;
  for (int round = 0; round < 20 && reported < behind.size(); ++round) {
    auto claim = store->claim_group({"w", {proto::Target::emulator}, {}}, kT0 + 2);
    ASSERT_TRUE(claim);
    for (const auto& job : claim->jobs) {
      proto::Report r;
      r.worker_id = "w";
      r.lease_id = claim->lease_id;
      r.job_id = job.id;
      r.attempt = job.attempt;
      r.status = proto::JobStatus::passed;
      ASSERT_TRUE(store->report(r, kT0 + 3).accepted);
      ++reported;
    }
  }
  ASSERT_EQ(reported, behind.size());
  auto sweep_until_idle = [&](std::int64_t now) {
    std::size_t deleted = 0;
    int call = 0;
    for (; call < 100; ++call) {
      auto swept = store->sweep_retention(now, 5);
      deleted += swept.deleted;
      if (!swept.more && swept.deleted == 0) break;
    }
    EXPECT_LT(call, 100) << "the sweep kept saying more";
    return deleted;
  };
  EXPECT_EQ(sweep_until_idle(kT0 + 3 + 60'000), behind.size());
  const std::string& p = settings_.key_prefix;
  const std::vector<std::string> indexes = {p + "idx:all (list)", p + "idx:app:org:k (list)", p + "idx:org:org (list)"};
  for (const auto& id : behind) EXPECT_EQ(keys_naming(id), indexes) << id;
  EXPECT_EQ(redis({"SCARD", p + "trim"}).integer(), 0) << "nothing is left for the sweep to retry";

  ASSERT_EQ(store->cancel_job(head.job_ids[0], kT0 + 70'000).outcome, "cancelled");
  EXPECT_EQ(sweep_until_idle(kT0 + 70'000 + 60'000), 1u);
  for (const auto& id : behind) EXPECT_EQ(keys_naming(id), std::vector<std::string>{}) << id;
  EXPECT_EQ(keys_naming(head.job_ids[0]), std::vector<std::string>{});
  EXPECT_EQ(redis({"EXISTS", p + "idx:app:org:k"}).integer(), 0);
  EXPECT_EQ(redis({"HEXISTS", p + "idxoff", p + "idx:app:org:k"}).integer(), 0);
}

}  // namespace
}  // namespace qg::sched

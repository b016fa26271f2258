// The JobStore contract against a real redis-server, plus what only Redis can do wrong:
// a flushed script cache, a restart, and a large queue.

#include <memory>

#include "job_store_contract.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/testing/process.hpp"

namespace qg::sched::contract {
namespace {

// One redis-server per test suite; every test gets its own key prefix.
struct RedisBackend {
  static inline std::unique_ptr<testing::RedisServer> server;
  static void start() { server = std::make_unique<testing::RedisServer>(); }
  static void stop() { server.reset(); }
  static std::shared_ptr<JobStore> make(const StoreSettings& settings) {
    return make_redis_store(server->url(), settings);
  }
  // A second store on the same server and prefix, as a second broker or scheduler would be.
  static std::shared_ptr<JobStore> make_peer(const StoreSettings& settings, std::shared_ptr<JobStore>) {
    return make_redis_store(server->url(), settings);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Redis, JobStoreContract, RedisBackend);

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.key_prefix = unique_prefix();
    settings_.backoff.jitter = 0;
  }
  NewSubmission submission(const std::string& app, std::size_t n, std::int64_t now) {
    NewSubmission s;
    s.submission_id = ids_.next(now);
    s.org_id = "org";
    s.app_version_id = app;
    for (std::size_t i = 0; i < n; ++i) {
      s.job_ids.push_back(ids_.next(now));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    return s;
  }
  RedisValue redis(std::initializer_list<std::string_view> args) {
    RedisConnection c(RedisAddress::parse(server_.url()), RedisOptions{}, null_logger());
    return c.command(args);
  }

  testing::RedisServer server_;
  StoreSettings settings_;
  IdGenerator ids_;
  ClaimRequest worker_{"w", {proto::Target::emulator}, {}};
};

TEST_F(RedisStoreTest, UnreachableRedisThrowsStoreUnavailableAtConstruction) {
  auto port = testing::free_port();
  EXPECT_THROW(make_redis_store("redis://127.0.0.1:" + std::to_string(port), settings_), StoreUnavailable);
  EXPECT_THROW(make_redis_store("http://nope", settings_), ConfigError);
}

TEST_F(RedisStoreTest, FlushedFunctionLibraryIsReloadedTransparently) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("a", 2, kT0), kT0);
  redis({"FUNCTION", "FLUSH"});
  store->submit(submission("a", 1, kT0 + 1), kT0 + 1);
  auto c = store->claim_group(worker_, kT0 + 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 3u);
}

TEST_F(RedisStoreTest, SentSubmitMetByAMissingLibraryIsSentAgainAndAppliedOnce) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("a", 1, kT0), kT0);
  redis({"FUNCTION", "FLUSH"});
  auto s = submission("a", 2, kT0 + 1);
  store->send_submits({s}, kT0 + 1);  // its FCALL meets "Function not found"
  auto done = store->take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  ASSERT_TRUE(done->results.at(0).outcome);
  EXPECT_EQ(done->results[0].outcome->job_ids, s.job_ids);
  EXPECT_EQ(store->queue_depth(), 3u);
  EXPECT_EQ(redis({"LLEN", settings_.key_prefix + "q:org/a/emulator:medium"}).integer(), 3);
}

// A sent batch refused by the script it is sent again to once the library went missing (for
// a taken job id, when MSETNX wrote nothing, or for a known idempotency key, when it did)
// takes back the index entries and the org count its transaction wrote, by value: here
// another client's entry came after them.
TEST_F(RedisStoreTest, SentSubmitRefusedAfterAMissingLibraryTakesBackItsNativeWritesByValue) {
  auto store = make_redis_store(server_.url(), settings_);
  auto first = submission("a", 1, kT0);
  first.idempotency_key = "k";
  store->submit(first, kT0);
  const auto all = settings_.key_prefix + "idx:all";
  std::vector<std::string> expected = {first.job_ids[0]};
  for (const bool taken_id : {true, false}) {
    SCOPED_TRACE(taken_id ? "a taken job id" : "a known idempotency key");
    redis({"FUNCTION", "FLUSH"});
    auto refused = submission("b", 2, kT0 + 1);
    if (taken_id) {
      refused.job_ids[1] = first.job_ids[0];
    } else {
      refused.idempotency_key = "k";
    }
    auto fine = submission(taken_id ? "c" : "d", 1, kT0 + 1);
    store->send_submits({refused, fine}, kT0 + 1);
    // The transaction has run once the build's index exists; then another client's entry.
    const auto fine_index = settings_.key_prefix + "idx:app:org:" + fine.app_version_id;
    ASSERT_TRUE(qg::testing::wait_until(
        [&] {
          return redis({"EXISTS", fine_index}).integer() == 1;
        },
        std::chrono::seconds(5)));
    redis({"RPUSH", all, "intruder"});
    expected.push_back("intruder");
    auto done = store->take_submits(true);
    ASSERT_TRUE(done);
    ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
    ASSERT_TRUE(done->results.at(1).outcome) << done->results[1].error;
    expected.push_back(fine.job_ids[0]);
    if (taken_id) {
      EXPECT_FALSE(done->results[0].outcome);
    } else {
      ASSERT_TRUE(done->results[0].outcome);
      EXPECT_TRUE(done->results[0].outcome->duplicate);
    }
    std::vector<std::string> entries;
    const auto listed = redis({"LRANGE", all, "0", "-1"});
    for (const auto& e : listed.array()) entries.push_back(e.str());
    EXPECT_EQ(entries, expected);
    EXPECT_EQ(redis({"EXISTS", settings_.key_prefix + "idx:app:org:b"}).integer(), 0);
    EXPECT_FALSE(store->get(std::vector<std::string>{refused.job_ids[0]}).at(0).has_value());
  }
  const auto org_count = redis({"HGET", settings_.key_prefix + "orgcounts", "org"});
  ASSERT_FALSE(org_count.is_nil());
  EXPECT_EQ(org_count.str(), "3");
}

// A sent batch's specs are written by MSETNX beside the script (they never enter Lua): one
// FCALL and one MSETNX per batch, no MSET in the script, and no sentinel left. The new groups
// are ranked from the rank the store sends, without reading a job (no GET) and without
// looking at their other bands: one ZADD … LT each (and one each for its org's ready groups and
// the org's best rank, for fair share), and one EXISTS, for the pending set.
TEST_F(RedisStoreTest, SentSubmitWritesItsSpecsNativelyAndLeavesNoSentinel) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("warm", 1, kT0), kT0);  // loads the library
  redis({"CONFIG", "RESETSTAT"});
  std::vector<NewSubmission> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(submission("a" + std::to_string(i), 1 + i, kT0));
  store->send_submits(batch, kT0);
  auto done = store->take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  const auto stats = redis({"INFO", "commandstats"}).str();
  EXPECT_NE(stats.find("cmdstat_msetnx:calls=1,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_fcall:calls=1,"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_mset:"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_get:"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_exists:calls=1,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_zadd:calls=15,"), std::string::npos) << stats;
  EXPECT_EQ(redis({"KEYS", settings_.key_prefix + "sx:*"}).size(), 0u);
  for (const auto& s : batch) {
    auto jobs = store->get(s.job_ids);
    for (const auto& j : jobs) {
      ASSERT_TRUE(j.has_value());
      EXPECT_EQ(j->app_version_id, s.app_version_id);
    }
  }
  EXPECT_EQ(store->queue_depth(), 16u);
}

// The idempotency keys of a sent batch are looked up by one EXISTS and written by one MSET,
// not a GET and a SET per submission. (The other EXISTS is the one for the pending set.)
TEST_F(RedisStoreTest, SentBatchLooksUpAndWritesItsIdempotencyKeysOnceEach) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("warm", 1, kT0), kT0);  // loads the library
  redis({"CONFIG", "RESETSTAT"});
  std::vector<NewSubmission> batch;
  for (int i = 0; i < 6; ++i) {
    batch.push_back(submission("a" + std::to_string(i % 2), 1 + i % 3, kT0));
    batch.back().idempotency_key = "key-" + std::to_string(i);
  }
  store->send_submits(batch, kT0);
  auto done = store->take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  const auto stats = redis({"INFO", "commandstats"}).str();
  EXPECT_NE(stats.find("cmdstat_exists:calls=2,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_mset:calls=1,"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_set:"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_get:"), std::string::npos) << stats;
  EXPECT_EQ(redis({"GET", settings_.key_prefix + "idem:org:key-0"}).str(),
            batch[0].submission_id + " " + batch[0].job_ids[0]);
  EXPECT_EQ(redis({"GET", settings_.key_prefix + "idem:org:key-1"}).str(), batch[1].submission_id);
  EXPECT_EQ(store->queue_depth(), 13u);
}

TEST_F(RedisStoreTest, SentSubmitOnALostConnectionComesBackUnavailable) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("a", 1, kT0), kT0);
  server_.kill();
  bool sent = true;
  try {
    store->send_submits({submission("a", 1, kT0 + 1)}, kT0 + 1);
  } catch (const StoreUnavailable&) {
    sent = false;  // the write itself failed: nothing was sent
  }
  if (sent) {
    EXPECT_EQ(store->submits_in_flight(), 1u);
    auto done = store->take_submits(true);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->failure, JobStore::SentSubmits::Failure::unavailable);
    EXPECT_FALSE(done->error.empty());
  }
  EXPECT_EQ(store->submits_in_flight(), 0u);
  server_.start();
  ASSERT_TRUE(testing::wait_until([&] { return store->ping(); }, std::chrono::seconds(15)));
  store->send_submits({submission("b", 2, kT0 + 2)}, kT0 + 2);
  auto done = store->take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  EXPECT_TRUE(done->results.at(0).outcome);
}

// The key layout docs/architecture.md promises: a job is its spec string and, from its first
// transition, its state string; a group's queue is one list per priority band, a suite takes
// one list-index entry, and a lease goes with its last job.
TEST_F(RedisStoreTest, KeyLayoutIsASpecPerJobAStateOnceClaimedAndOneIndexEntryPerSubmission) {
  auto store = make_redis_store(server_.url(), settings_);
  const std::string& p = settings_.key_prefix;
  auto s = submission("a", 3, kT0);
  store->submit(s, kT0);
  EXPECT_EQ(redis({"TYPE", p + "j:" + s.job_ids[0]}).str(), "string");
  EXPECT_EQ(redis({"EXISTS", p + "st:" + s.job_ids[0]}).integer(), 0);  // queued, never claimed
  auto queued = redis({"LRANGE", p + "q:" + s.org_id + "/" + s.app_version_id + "/emulator:medium", "0", "-1"});
  ASSERT_EQ(queued.size(), 3u);
  EXPECT_EQ(queued[0].str(), s.job_ids[0]);
  EXPECT_EQ(redis({"LLEN", p + "idx:all"}).integer(), 1);
  EXPECT_EQ(redis({"LLEN", p + "s:" + s.submission_id}).integer(), 3);

  auto c = store->claim_group(worker_, kT0 + 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(redis({"EXISTS", p + "lease:" + c->lease_id}).integer(), 1);
  EXPECT_EQ(redis({"TYPE", p + "st:" + s.job_ids[0]}).str(), "string");
  for (const auto& job : c->jobs) {
    proto::Report r;
    r.worker_id = worker_.worker_id;  // the lease's holder
    r.job_id = job.id;
    r.lease_id = c->lease_id;
    r.attempt = job.attempt;
    r.status = proto::JobStatus::passed;
    ASSERT_TRUE(store->report(r, kT0 + 2).accepted);
  }
  EXPECT_EQ(redis({"EXISTS", p + "lease:" + c->lease_id}).integer(), 0);
  EXPECT_EQ(redis({"ZCARD", p + "leases"}).integer(), 0);
  auto jobs = store->get(s.job_ids);
  ASSERT_TRUE(jobs[2].has_value());
  EXPECT_EQ(jobs[2]->status, proto::JobStatus::passed);
  EXPECT_EQ(jobs[2]->created_at_ms, kT0);
}

// Capabilities' keys (docs/architecture.md): a group with requirements waits in its
// placement's ready set, listed in <p>reqsets:<target> while that set holds a group; the list
// entry goes with the set's last group, so nothing of a requirement set outlives its work.
TEST_F(RedisStoreTest, ARequirementSetIsListedWhileItHoldsWorkAndLeavesNoKeyAfter) {
  auto store = make_redis_store(server_.url(), settings_);
  const std::string& p = settings_.key_prefix;
  auto s = submission("a", 2, kT0);
  s.requirements = {{"os", "android14"}, {"model", "Pixel 7"}};
  store->submit(s, kT0);
  const std::string placement = "emulator?model=Pixel%207,os=android14";
  EXPECT_EQ(redis({"ZCARD", p + "ready:" + placement}).integer(), 1);
  EXPECT_EQ(redis({"ZCARD", p + "ready:emulator"}).integer(), 0);
  auto listed = redis({"SMEMBERS", p + "reqsets:emulator"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].str(), placement);
  EXPECT_FALSE(store->claim_group(worker_, kT0 + 1));  // no labels: nothing
  ClaimRequest labelled = worker_;
  labelled.labels = {{"os", "android14"}, {"model", "Pixel 7"}};
  auto c = store->claim_group(labelled, kT0 + 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->group_key, "org/a/" + placement);
  EXPECT_EQ(redis({"EXISTS", p + "reqsets:emulator", p + "ready:" + placement, p + "rorg:" + placement}).integer(), 0);
}

// The state a claim writes for jobs never claimed before is packed by the store, not by the
// script; reports compare parts of it byte for byte with what cmsgpack packs, so the two must
// pack alike. Checked for claims and for hand-offs, with a lease id and a worker id long
// enough to need msgpack's str8 form.
TEST_F(RedisStoreTest, StatesPackedByTheStoreAreTheBytesCmsgpackPacks) {
  auto store = make_redis_store(server_.url(), settings_);
  const std::string& p = settings_.key_prefix;
  auto cmsgpack_state = [&](std::int64_t now, const std::string& worker, const std::string& lease) {
    return redis(
               {"EVAL",
                "return '\\158' .. cmsgpack.pack('assigned', 1, tonumber(ARGV[1]), ARGV[2], ARGV[3], 0, 0, '', '', 0, "
                "0, 0, 0, 0)",
                "0", std::to_string(now), worker, lease})
        .str();
  };
  const std::string worker(40, 'w');
  auto s = submission("a", 2, kT0);
  store->submit(s, kT0);
  auto c = store->claim_group(ClaimRequest{worker, {proto::Target::emulator}, {}}, kT0 + 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(redis({"GET", p + "st:" + s.job_ids[0]}).str(), cmsgpack_state(kT0 + 1, worker, c->lease_id));

  auto h = submission("b", 1, kT0 + 2);
  std::vector<NewSubmission> subs = {h};
  std::vector<ClaimRequest> claims = {ClaimRequest{"w-short", {proto::Target::emulator}, {}}};
  auto out = store->submit_and_claim(subs, claims, kT0 + 2);
  ASSERT_TRUE(out.claims.at(0).has_value());
  EXPECT_EQ(redis({"GET", p + "st:" + h.job_ids[0]}).str(),
            cmsgpack_state(kT0 + 2, "w-short", out.claims[0]->lease_id));

  // A pass's new state: the time and the outcome packed by the store, the rest by the script.
  proto::Report r;
  r.worker_id = worker;  // the lease's holder
  r.job_id = s.job_ids[0];
  r.lease_id = c->lease_id;
  r.attempt = 1;
  r.status = proto::JobStatus::passed;
  r.duration_ms = 70000;
  r.log_tail = "ok";
  ASSERT_TRUE(store->report_many(std::span<const proto::Report>(&r, 1), kT0 + 3, false).at(0).accepted);
  const auto passed =
      redis({"EVAL",
             "return '\\158' .. cmsgpack.pack('passed', 1, tonumber(ARGV[1]), ARGV[2], '', 0, 70000, '', "
             "'ok', 0, 0, 0, 0, 0)",
             "0", std::to_string(kT0 + 3), worker})
          .str();
  EXPECT_EQ(redis({"GET", p + "st:" + s.job_ids[0]}).str(), passed);
}

TEST_F(RedisStoreTest, StoreThrowsWhileRedisIsDownAndWorksAfterRestart) {
  auto store = make_redis_store(server_.url(), settings_);
  store->submit(submission("a", 1, kT0), kT0);
  server_.kill();
  EXPECT_THROW(store->submit(submission("a", 1, kT0), kT0), StoreUnavailable);
  EXPECT_THROW(store->claim_group(worker_, kT0), StoreUnavailable);
  EXPECT_FALSE(store->ping());
  server_.start();
  ASSERT_TRUE(testing::wait_until([&] { return store->ping(); }, std::chrono::seconds(15)));
  // The server came back empty (no persistence) and without our scripts.
  auto out = store->submit(submission("b", 2, kT0 + 1), kT0 + 1);
  auto c = store->claim_group(worker_, kT0 + 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 2u);
  // The wakeup subscription comes back too.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        store->drain_wakeups();
        store->submit(submission("c", 1, kT0 + 3), kT0 + 3);
        pollfd p{store->wakeup_fd(), POLLIN, 0};
        return ::poll(&p, 1, 200) == 1;
      },
      std::chrono::seconds(15)));
}

TEST_F(RedisStoreTest, WakeupsReachEveryStoreOnTheSameRedis) {
  auto a = make_redis_store(server_.url(), settings_);
  auto b = make_redis_store(server_.url(), settings_);
  b->drain_wakeups();
  a->submit(submission("a", 1, kT0), kT0);
  pollfd p{b->wakeup_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1);
}

TEST_F(RedisStoreTest, OnlyAStoreAskedForItsWakeupFdSubscribesToWakeups) {
  // qg-scheduler never waits on wakeups: its store must not leave Redis writing every
  // PUBLISH into a socket nobody reads.
  const std::string channel = settings_.key_prefix + "wakeup";
  auto subscribers = [&] { return redis({"PUBSUB", "NUMSUB", channel}).array().at(1).integer(); };
  auto scheduler_side = make_redis_store(server_.url(), settings_);
  scheduler_side->submit(submission("a", 1, kT0), kT0);
  EXPECT_EQ(subscribers(), 0);
  auto broker_side = make_redis_store(server_.url(), settings_);
  (void)broker_side->wakeup_fd();
  EXPECT_EQ(subscribers(), 1);
  scheduler_side->submit(submission("b", 1, kT0 + 1), kT0 + 1);
  pollfd p{broker_side->wakeup_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1);
}

// A submission that a waiting worker takes whole gets its state already assigned: one
// script call, no group queue, ready entry or wakeup written and removed again. With another
// group ready the same call queues it and claims through the queue as usual.
TEST_F(RedisStoreTest, SubmissionHandedToAWaitingWorkerSkipsTheGroupQueue) {
  auto store = make_redis_store(server_.url(), settings_);
  auto calls = [&](std::string_view command) {
    auto info = redis({"INFO", "commandstats"}).str();
    const std::string key = "cmdstat_" + std::string(command) + ":calls=";
    auto at = info.find(key);
    return at == std::string::npos ? 0LL : std::atoll(info.c_str() + at + key.size());
  };
  redis({"CONFIG", "RESETSTAT"});
  std::vector<NewSubmission> subs = {submission("handed", 3, kT0)};
  subs[0].idempotency_key = "key-handed";
  std::vector<ClaimRequest> claims = {worker_};
  auto out = store->submit_and_claim(subs, claims, kT0);
  ASSERT_TRUE(out.claims.at(0).has_value());
  EXPECT_EQ(out.claims[0]->jobs.size(), 3u);
  EXPECT_EQ(calls("fcall"), 1);
  // Its checks are one EXISTS (the claim's ready sets among the keys); the specs, states and
  // idempotency key go in one MSET.
  EXPECT_EQ(calls("exists"), 1);
  EXPECT_EQ(calls("zcard"), 0);
  EXPECT_EQ(calls("mset"), 1);
  EXPECT_EQ(calls("set"), 0);
  EXPECT_EQ(redis({"GET", settings_.key_prefix + "idem:org:key-handed"}).str(), subs[0].submission_id);
  auto pops = [&] { return calls("lpop") + calls("lmpop") + calls("ltrim"); };  // from a group's lists
  EXPECT_EQ(pops(), 0);
  EXPECT_EQ(calls("publish"), 0);
  EXPECT_EQ(calls("hincrby"), 3);  // the org's and the status counts, the org's leases (fair share)
  EXPECT_EQ(calls("incrby"), 0);   // no group count

  store->submit(submission("waiting", 2, kT0 + 1), kT0 + 1);
  redis({"CONFIG", "RESETSTAT"});
  subs = {submission("behind", 1, kT0 + 2)};
  out = store->submit_and_claim(subs, claims, kT0 + 2);
  ASSERT_TRUE(out.claims.at(0).has_value());
  EXPECT_EQ(out.claims[0]->app_version_id, "waiting");
  EXPECT_EQ(calls("fcall"), 1);
  EXPECT_GT(pops(), 0);
  EXPECT_EQ(store->queue_depth(), 1u);
}

TEST_F(RedisStoreTest, TenThousandTestSubmitIsOneCall) {
  auto store = make_redis_store(server_.url(), settings_);
  auto s = submission("big", 10000, kT0);
  auto out = store->submit(s, kT0);
  EXPECT_EQ(out.job_ids.size(), 10000u);
  EXPECT_EQ(store->queue_depth(), 10000u);
}

TEST_F(RedisStoreTest, ClaimStillWorksWithOneHundredThousandQueuedJobs) {
  settings_.group_max = 50;
  auto store = make_redis_store(server_.url(), settings_);
  for (int g = 0; g < 100; ++g) {
    auto s = submission("app" + std::to_string(g), 1000, kT0 + g);
    s.priority = static_cast<proto::Priority>(g % 3);
    store->submit(s, kT0 + g);
  }
  EXPECT_EQ(store->queue_depth(), 100000u);
  auto c = store->claim_group(worker_, kT0 + 1000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->jobs.size(), 50u);
  EXPECT_EQ(c->jobs[0].priority, proto::Priority::high);
  EXPECT_EQ(c->app_version_id, "app2");  // the oldest high-priority group
  auto page = store->queue("", 10, kT0 + 1000);
  EXPECT_EQ(page.groups.size(), 10u);
  EXPECT_EQ(page.by_status["queued"], 100000u - 50u);
  ListQuery q;
  q.limit = 100;
  EXPECT_EQ(store->list(q).jobs.size(), 100u);
}

}  // namespace
}  // namespace qg::sched::contract

// Redis failover under load: a primary, one replica and three Redis Sentinels
// (qg::testing::RedisSentinelSet), two brokers and two schedulers reaching Redis through
// redis-sentinel://, four workers, and a steady submit load through both brokers while the
// primary is killed -9. The sentinels promote the replica; every broker and scheduler follows
// within 15 s; every acknowledged job ends exactly once; with --redis-min-replicas 1 not one
// acknowledged job is lost. Each run prints its measurements ("failover: ..."), the figures
// docs/operations.md ("Redis failover") quotes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "../e2e/cluster.hpp"
#include "qg/testing/sentinel.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using Clock = std::chrono::steady_clock;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::RedisSentinelSet;
using qg::testing::wait_until;

constexpr auto kFollowWithin = 15s;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One thread per broker submitting 4-test submissions at a steady pace, each resent with
// its idempotency key until acknowledged or the load stops.
class SubmitLoad {
 public:
  SubmitLoad(Cluster& cluster, int brokers) {
    for (int b = 0; b < brokers; ++b) {
      threads_.emplace_back(
          [this, endpoint = cluster.client_endpoint(static_cast<std::size_t>(b)), b] { run(endpoint, b); });
    }
  }
  ~SubmitLoad() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return ids_;
  }
  std::size_t refusals() const { return refusals_; }
  // When broker `b` first acknowledged a submit at or after `t` (empty: not yet).
  std::optional<Clock::time_point> first_ack_after(int b, Clock::time_point t) {
    std::lock_guard lock(mutex_);
    for (auto at : acks_[b]) {
      if (at >= t) return at;
    }
    return std::nullopt;
  }

 private:
  void run(const std::string& endpoint, int b) {
    Api api(endpoint);
    auto next = Clock::now();
    for (int n = 0; !stop_; ++n) {
      const std::string key = "b" + std::to_string(b) + "-" + std::to_string(n);
      std::vector<std::string> tests;
      for (int i = 0; i < 4; ++i) tests.push_back("t/" + key + "-" + std::to_string(i) + ".spec.ts");
      std::vector<std::string> ids;
      while (!stop_ && ids.empty()) {
        ids = api.submit("acme", "build-" + std::to_string(n % 5), tests, key, 0, 1s);
        if (ids.empty()) {
          ++refusals_;
          std::this_thread::sleep_for(50ms);  // a client's pause before it resends
        }
      }
      if (ids.empty()) break;
      {
        std::lock_guard lock(mutex_);
        ids_.insert(ids_.end(), ids.begin(), ids.end());
        acks_[b].push_back(Clock::now());
      }
      next += 50ms;  // the pace: 20 submissions (80 jobs) a second per broker
      std::this_thread::sleep_until(next);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> refusals_{0};
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::map<int, std::vector<Clock::time_point>> acks_;
  std::vector<std::thread> threads_;
};

void failover_under_load(bool min_replicas) {
  RedisSentinelSet set;
  ClusterOptions options = qg::testing::with_lease(3000);
  options.external_redis_url = set.url();
  options.brokers = 2;
  options.schedulers = 2;
  if (min_replicas) options.broker_args.insert(options.broker_args.end(), {"--redis-min-replicas", "1"});
  Cluster cluster(options);
  for (int w = 0; w < 4; ++w) {
    qg::testing::WorkerOptions worker;
    worker.worker_id = "w" + std::to_string(w);
    worker.broker_index = w % 2;
    worker.extra_args = qg::testing::fast_worker_args();
    worker.env = {{"FAKE_APPWRIGHT_SLEEP", "0.01"}};
    cluster.add_worker(worker);
  }
  SubmitLoad load(cluster, 2);
  ASSERT_TRUE(wait_until([&] { return load.acknowledged().size() >= 200; }, 30s, 20ms)) << cluster.log("broker-0");

  const int new_primary = set.server(1).port();
  const std::string named = "the primary is 127.0.0.1:" + std::to_string(new_primary);
  const std::vector<std::string> processes = {"broker-0", "broker-1", "scheduler-0", "scheduler-1"};
  const auto acknowledged_before = load.acknowledged().size();
  set.kill_primary();
  const auto killed = Clock::now();
  ASSERT_TRUE(set.wait_for_primary(new_primary, kFollowWithin)) << "no promotion (logs in " << set.dir() << ")";
  const double promoted = seconds_since(killed);
  // Every broker and scheduler logs the new primary once its store reaches it.
  std::map<std::string, double> followed;
  const bool all_followed = wait_until(
      [&] {
        for (const auto& p : processes) {
          if (!followed.count(p) && cluster.log(p).find(named) != std::string::npos)
            followed[p] = seconds_since(killed);
        }
        return followed.size() == processes.size();
      },
      kFollowWithin - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed), 20ms);
  std::string logs;
  for (const auto& p : processes) logs += "--- " + p + "\n" + cluster.log(p);
  ASSERT_TRUE(all_followed) << followed.size() << " of 4 followed\n" << logs;
  // The killed server comes back (as a supervisor would restart it), empty: the sentinels
  // make it a replica of the new primary. Until then, with --redis-min-replicas 1, no submit
  // can be acknowledged (the new primary has no replica).
  set.server(0).start();
  const auto restarted = Clock::now();
  std::array<double, 2> acks_again{};
  for (int b = 0; b < 2; ++b) {
    ASSERT_TRUE(wait_until([&] { return load.first_ack_after(b, killed).has_value(); }, 30s, 20ms)) << logs;
    acks_again[b] = std::chrono::duration<double>(*load.first_ack_after(b, killed) - killed).count();
  }
  // The load goes on a while on the new primary, then stops.
  const auto after = load.acknowledged().size();
  wait_until([&] { return load.acknowledged().size() >= after + 200; }, 20s, 20ms);
  load.stop();
  const auto ids = load.acknowledged();

  // Every acknowledged job is known and ends, once: its final state does not change.
  Api api(cluster.client_endpoint());
  std::vector<std::string> lost;
  std::optional<std::vector<proto::Job>> jobs;
  const bool all_final = wait_until(
      [&] {
        jobs.reset();
        std::vector<proto::Job> found;
        lost.clear();
        for (std::size_t i = 0; i < ids.size(); i += 500) {
          std::vector<std::string> part(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + 500)));
          auto some = api.try_status(part);
          if (!some) {
            // Missing ids make the whole STATUS fail: ask one at a time to name them.
            for (const auto& id : part) {
              auto one = api.try_status({id});
              if (one) {
                found.insert(found.end(), one->begin(), one->end());
              } else {
                lost.push_back(id);
              }
            }
          } else {
            found.insert(found.end(), some->begin(), some->end());
          }
        }
        jobs = std::move(found);
        return std::all_of(jobs->begin(), jobs->end(), [](const proto::Job& j) { return proto::is_final(j.status); });
      },
      120s, 500ms);
  std::printf(
      "failover: min_replicas=%d acknowledged=%zu (%zu before the kill) lost=%zu refused_attempts=%zu "
      "promoted_after=%.2fs followed_after: broker-0 %.2fs broker-1 %.2fs scheduler-0 %.2fs scheduler-1 %.2fs; "
      "acknowledging again after: %.2fs, %.2fs (the killed server restarted after %.2fs)\n",
      min_replicas ? 1 : 0, ids.size(), acknowledged_before, lost.size(), load.refusals(), promoted,
      followed["broker-0"], followed["broker-1"], followed["scheduler-0"], followed["scheduler-1"], acks_again[0],
      acks_again[1], std::chrono::duration<double>(restarted - killed).count());
  ASSERT_TRUE(all_final) << qg::testing::describe(*jobs);
  for (const auto& [p, s] : followed) EXPECT_LT(s, 15.0) << p;
  if (min_replicas) {
    EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged jobs lost, the first " << lost.front();
  }
  // Known jobs end exactly once: their final states hold (read again, unchanged).
  auto again = api.status([&] {
    std::vector<std::string> known;
    for (const auto& j : *jobs) known.push_back(j.id);
    return known;
  }());
  ASSERT_EQ(again.size(), jobs->size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].status, (*jobs)[i].status) << again[i].id;
    EXPECT_EQ(again[i].attempt, (*jobs)[i].attempt) << again[i].id;
  }
  for (const auto& p : processes) {
    EXPECT_TRUE(p[0] == 'b' ? cluster.broker(p.back() - '0').running() : cluster.scheduler(p.back() - '0').running())
        << p;
  }
}

TEST(RedisFailover, WithMinReplicasTheReplicaIsPromotedEveryProcessFollowsAndNoAcknowledgedJobIsLost) {
  failover_under_load(true);
}

TEST(RedisFailover, WithoutMinReplicasEveryProcessFollowsAndEveryKnownJobEndsOnce) { failover_under_load(false); }

}  // namespace

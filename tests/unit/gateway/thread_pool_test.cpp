// The HTTP server's pool: threads started only as tasks need them, never past the limit, queued
// tasks run when a thread comes free, shutdown runs what is queued and joins.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "thread_pool.hpp"

namespace {

using namespace std::chrono_literals;
using qg::gateway::GrowingThreadPool;

TEST(GrowingThreadPool, StartsNoThreadUntilATaskComesAndReusesAnIdleOne) {
  GrowingThreadPool pool(100);
  EXPECT_EQ(pool.threads(), 0u);
  for (int i = 0; i < 5; ++i) {
    std::promise<void> ran;
    pool.enqueue([&] { ran.set_value(); });
    ASSERT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
  }
  // One task at a time: the thread that ran the first, idle again, took the others (a new
  // thread may still be started while the previous one is between finishing and waiting).
  EXPECT_LE(pool.threads(), 2u);
}

TEST(GrowingThreadPool, GrowsToTheLimitAndQueuesPastIt) {
  GrowingThreadPool pool(3);
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  std::atomic<int> started{0}, finished{0};
  for (int i = 0; i < 5; ++i) {
    pool.enqueue([&, go] {
      ++started;
      go.wait();
      ++finished;
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (started.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(started.load(), 3);  // three threads hold three tasks; two wait in the queue
  EXPECT_EQ(pool.threads(), 3u);
  release.set_value();
  pool.shutdown();  // runs the queued two, then joins
  EXPECT_EQ(finished.load(), 5);
}

}  // namespace

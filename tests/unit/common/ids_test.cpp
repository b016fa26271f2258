#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"

namespace {

TEST(IdGenerator, IdsAreTwentySixCharactersAndCarryTheirTime) {
  qg::IdGenerator ids;
  auto id = ids.next(1'700'000'123'456);
  EXPECT_EQ(id.size(), 26u);
  EXPECT_EQ(qg::id_time_ms(id), 1'700'000'123'456);
}

TEST(IdGenerator, LaterIdsSortAfterEarlierOnesEvenWithinOneMillisecond) {
  qg::IdGenerator ids;
  std::string previous = ids.next(1000);
  for (int i = 0; i < 10000; ++i) {
    auto id = ids.next(1000 + i / 100);
    EXPECT_LT(previous, id);
    previous = id;
  }
}

TEST(IdGenerator, ClockGoingBackwardsDoesNotBreakOrdering) {
  qg::IdGenerator ids;
  auto later = ids.next(5000);
  auto earlier_clock = ids.next(4000);
  EXPECT_LT(later, earlier_clock);
}

TEST(IdGenerator, TwoGeneratorsNeverCollideAndThreadsShareOneSafely) {
  qg::IdGenerator a;
  qg::IdGenerator b;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(seen.insert(a.next(42)).second);
    EXPECT_TRUE(seen.insert(b.next(42)).second);
  }
  std::vector<std::vector<std::string>> made(4);
  std::vector<std::thread> threads;
  for (auto& out : made) {
    threads.emplace_back([&a, &out] {
      for (int i = 0; i < 1000; ++i) out.push_back(a.next(43));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : made) {
    for (const auto& id : out) EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(IdGenerator, ForeignStringsAreNotIds) {
  EXPECT_EQ(qg::id_time_ms("short"), -1);
  EXPECT_EQ(qg::id_time_ms("ZZZZZZZZZZZZZZZZZZZZZZZZZu"), -1);  // 'u' is not Crockford base32
}

TEST(ManualClock, MovesOnlyWhenTold) {
  qg::ManualClock clock(1000);
  EXPECT_EQ(clock.now_ms(), 1000);
  clock.advance(std::chrono::milliseconds(250));
  EXPECT_EQ(clock.now_ms(), 1250);
  clock.set(5);
  EXPECT_EQ(clock.now_ms(), 5);
}

}  // namespace

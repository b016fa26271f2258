// The event ring: consecutive ids, reads after an id, "missed" instead of a silent gap, waiting
// readers woken by a push or by close().
#include <gtest/gtest.h>

#include <thread>

#include "event_buffer.hpp"

namespace {

using namespace std::chrono_literals;
using qg::gateway::EventBuffer;
using qg::gateway::StoredEvent;

StoredEvent job(const std::string& id) { return {0, "job", "acme", "app", id, "{}"}; }

TEST(EventBuffer, GivesConsecutiveIdsAndReadsWhatCameAfterAnId) {
  EventBuffer buffer(10);
  EXPECT_EQ(buffer.push(job("a")), 1u);
  EXPECT_EQ(buffer.push(job("b")), 2u);
  EXPECT_EQ(buffer.push(job("c")), 3u);
  auto read = buffer.read_after(1, 100, 0ms);
  ASSERT_EQ(read.events.size(), 2u);
  EXPECT_EQ(read.events[0].job_id, "b");
  EXPECT_EQ(read.events[1].id, 3u);
  EXPECT_FALSE(read.missed);
  EXPECT_EQ(buffer.read_after(1, 1, 0ms).events.size(), 1u);
}

TEST(EventBuffer, SaysMissedWhenEventsAfterTheIdWereDropped) {
  EventBuffer buffer(3);
  for (int i = 0; i < 5; ++i) buffer.push(job(std::to_string(i)));  // ids 1..5, 3..5 kept
  EXPECT_EQ(buffer.oldest_id(), 3u);
  auto lost = buffer.read_after(1, 100, 0ms);
  EXPECT_TRUE(lost.missed);
  EXPECT_TRUE(lost.events.empty());
  auto kept = buffer.read_after(2, 100, 0ms);  // the next one wanted, 3, is still there
  EXPECT_FALSE(kept.missed);
  EXPECT_EQ(kept.events.size(), 3u);
}

TEST(EventBuffer, AReaderWaitsForTheNextPushAndCloseWakesIt) {
  EventBuffer buffer(4);
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    buffer.push(job("late"));
  });
  auto read = buffer.read_after(0, 10, 5s);
  writer.join();
  ASSERT_EQ(read.events.size(), 1u);
  EXPECT_EQ(read.events[0].job_id, "late");

  std::thread closer([&] { buffer.close(); });
  auto closed = buffer.read_after(1, 10, 5s);
  closer.join();
  EXPECT_TRUE(closed.closed);
}

TEST(EventBuffer, AnIdleReadReturnsEmptyAfterItsWait) {
  EventBuffer buffer(4);
  buffer.push(job("a"));
  auto read = buffer.read_after(1, 10, 10ms);
  EXPECT_TRUE(read.events.empty());
  EXPECT_FALSE(read.missed);
  EXPECT_FALSE(read.closed);
}

TEST(EventBuffer, KeepsEachEventAsItsSseFrameWithThePrefixedId) {
  EventBuffer buffer(4, "run7-");
  buffer.push({0, "job", "acme", "app", "j1", R"({"a":1})"});
  buffer.push({0, "worker", "", "", "", "{}"});
  std::vector<std::string> frames;
  auto scan = buffer.scan_after(0, 10, 0ms, [&](const StoredEvent&, std::string_view f) { frames.emplace_back(f); });
  EXPECT_EQ(scan.visited, 2u);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], "id: run7-1\nevent: job\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(frames[1], "id: run7-2\nevent: worker\ndata: {}\n\n");
  EXPECT_EQ(buffer.scan_after(1, 10, 0ms, [](const StoredEvent&, std::string_view) {}).visited, 1u);
}

TEST(EventBuffer, WaitClosedSleepsThroughPushesAndEndsOnClose) {
  EventBuffer buffer(4);
  buffer.push(job("a"));
  EXPECT_FALSE(buffer.wait_closed(5ms));  // a push does not end the wait; only time or close
  std::thread closer([&] { buffer.close(); });
  EXPECT_TRUE(buffer.wait_closed(5s));
  closer.join();
}

}  // namespace

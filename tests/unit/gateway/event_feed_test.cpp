// The event feed's reading of sequence numbers: a gap stores a resync before the event, a
// repeat is stored once, a restart counts from its new number. No sockets are read.
#include <gtest/gtest.h>

#include "event_feed.hpp"
#include "qg/common/logging.hpp"

namespace {

using qg::gateway::EventFeed;

qg::client::Event job_event(const std::string& source, std::uint64_t seq) {
  qg::client::Event e;
  e.command = "JOB";
  qg::proto::JobEvent j;
  j.source = source;
  j.seq = seq;
  j.job_id = "j" + std::to_string(seq);
  j.org_id = "acme";
  j.app_version_id = "v1";
  e.job = j;
  return e;
}

class GatewayEventFeed : public ::testing::Test {
 protected:
  zmq::context_t context_{1};
  qg::gateway::EventBuffer buffer_{16};
  qg::gateway::GatewayMetrics metrics_;
  EventFeed feed_{context_, {"tcp://127.0.0.1:1"}, {}, buffer_, metrics_, qg::null_logger()};
};

TEST_F(GatewayEventFeed, ConsecutiveEventsAreStoredAsJobEvents) {
  auto first = feed_.translate(job_event("b1", 1));
  auto second = feed_.translate(job_event("b1", 2));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].type, "job");
  EXPECT_EQ(second[0].org_id, "acme");
  EXPECT_NE(second[0].data.find("\"seq\":2"), std::string::npos);
}

TEST_F(GatewayEventFeed, AGapStoresAResyncBeforeTheEvent) {
  feed_.translate(job_event("b1", 1));
  auto after_gap = feed_.translate(job_event("b1", 5));
  ASSERT_EQ(after_gap.size(), 2u);
  EXPECT_EQ(after_gap[0].type, "resync");
  EXPECT_NE(after_gap[0].data.find("\"expected_seq\":2"), std::string::npos);
  EXPECT_EQ(after_gap[1].type, "job");
  EXPECT_EQ(metrics_.event_gaps.load(), 1u);
  // Another source's numbers are its own.
  EXPECT_EQ(feed_.translate(job_event("s1", 7)).size(), 1u);
}

TEST_F(GatewayEventFeed, ARepeatIsStoredOnceAndARestartIsNoGap) {
  feed_.translate(job_event("b1", 3));
  EXPECT_TRUE(feed_.translate(job_event("b1", 3)).empty());
  EXPECT_EQ(metrics_.events_duplicate.load(), 1u);
  EXPECT_EQ(feed_.translate(job_event("b1", 1)).size(), 1u);  // restarted
  EXPECT_EQ(feed_.translate(job_event("b1", 2)).size(), 1u);
  EXPECT_EQ(metrics_.event_gaps.load(), 0u);
}

TEST_F(GatewayEventFeed, WorkerEventsLeaveTheLeaseOut) {
  qg::client::Event e;
  e.command = "WORKER";
  e.worker = qg::proto::WorkerEvent{"b1", 1, "w1", "lost", "lease-secret", 5};
  auto stored = feed_.translate(e);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].type, "worker");
  EXPECT_EQ(stored[0].data.find("lease"), std::string::npos);
}

}  // namespace

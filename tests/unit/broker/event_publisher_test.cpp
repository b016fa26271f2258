// Which events a publisher's key lets through events-in: a worker speaks only for its own
// worker id (a heartbeat for another worker would renew that worker's lease), the scheduler
// for any worker's JOB and WORKER events but sends no heartbeat, a local publisher (no
// CURVE) anything, a client key nothing.
#include <gtest/gtest.h>

#include <string>

#include "events/event_check.hpp"

namespace {

using qg::broker::check_event;
using qg::broker::PeerIdentity;

struct Event {
  std::string topic, command, body;
};

Event heartbeat(const std::string& worker) {
  qg::proto::Heartbeat hb;
  hb.worker_id = worker;
  hb.state = "idle";
  return {"hb." + worker, std::string(qg::proto::Heartbeat::command), qg::proto::encode(hb)};
}

Event job_event(const std::string& worker) {
  qg::proto::JobEvent event;
  event.job_id = "j1";
  event.org_id = "acme";
  event.app_version_id = "b1";
  event.status = qg::proto::JobStatus::running;
  event.worker_id = worker;
  return {"job.acme.j1", std::string(qg::proto::JobEvent::command), qg::proto::encode(event)};
}

Event worker_event(const std::string& worker) {
  qg::proto::WorkerEvent event;
  event.worker_id = worker;
  event.state = "lost";
  return {"worker." + worker, std::string(qg::proto::WorkerEvent::command), qg::proto::encode(event)};
}

bool passes(const Event& e, const PeerIdentity& publisher) {
  return check_event(e.topic, qg::proto::kEventProtocol, e.command, e.body, qg::proto::Limits{}, publisher).has_value();
}

TEST(EventPublisher, AWorkerKeySpeaksOnlyForItsOwnWorkerId) {
  const auto w1 = *PeerIdentity::parse("worker:w1");
  EXPECT_TRUE(passes(heartbeat("w1"), w1));
  EXPECT_FALSE(passes(heartbeat("w2"), w1));
  EXPECT_TRUE(passes(job_event("w1"), w1));
  EXPECT_FALSE(passes(job_event("w2"), w1));
  EXPECT_FALSE(passes(job_event(""), w1));
  EXPECT_TRUE(passes(worker_event("w1"), w1));
  EXPECT_FALSE(passes(worker_event("w2"), w1));
}

TEST(EventPublisher, TheSchedulerPublishesJobAndWorkerEventsButNoHeartbeat) {
  const auto scheduler = *PeerIdentity::parse("scheduler");
  EXPECT_TRUE(passes(job_event(""), scheduler));
  EXPECT_TRUE(passes(worker_event("w2"), scheduler));
  EXPECT_FALSE(passes(heartbeat("w2"), scheduler));
}

TEST(EventPublisher, ALocalPublisherSendsAnythingAndAClientKeyNothing) {
  const PeerIdentity local;
  EXPECT_TRUE(passes(heartbeat("w2"), local));
  EXPECT_TRUE(passes(job_event("w9"), local));
  for (const char* client : {"admin", "org:acme"}) {
    const auto peer = *PeerIdentity::parse(client);
    EXPECT_FALSE(passes(heartbeat("w1"), peer)) << client;
    EXPECT_FALSE(passes(job_event("w1"), peer)) << client;
    EXPECT_FALSE(passes(worker_event("w1"), peer)) << client;
  }
}

}  // namespace

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

// Text made to drive a terminal (an escape sequence, a bell, a C1 control, a direction
// override, bytes that are no UTF-8) in any field a subscriber prints: the event is dropped,
// whoever publishes it. Plain UTF-8 passes. Ids follow the id rules, a test path SUBMIT's.
TEST(EventPublisher, EventsWithTextThatWouldDriveATerminalAreDropped) {
  const PeerIdentity local;
  const auto job_with = [](auto change) {
    qg::proto::JobEvent event;
    event.source = "sched-1";
    event.job_id = "j1";
    event.org_id = "acme";
    event.app_version_id = "b1";
    event.worker_id = "w1";
    event.test_path = "login.spec.ts";
    event.message = "exit 1";
    change(event);
    return Event{"job." + event.org_id + "." + event.job_id, std::string(qg::proto::JobEvent::command),
                 qg::proto::encode(event)};
  };
  EXPECT_TRUE(passes(job_with([](auto&) {}), local));
  EXPECT_TRUE(passes(job_with([](auto& e) { e.message = "\xe2\x9c\x98 caf\xc3\xa9 failed"; }), local));
  for (const std::string bad : {"\x1b[2J", "a\x07", "\r", "line\nline", "\x7f",
                                "\x9b"
                                "31m",
                                "\xc2\x9b"
                                "31m",
                                "\xe2\x80\xae"
                                "exe",
                                "\xff", "\xc3"}) {
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.message = bad; }), local)) << bad;
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.source = bad; }), local)) << bad;
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.app_version_id = "b" + bad; }), local)) << bad;
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.job_id = "j" + bad; }), local)) << bad;
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.worker_id = "w" + bad; }), local)) << bad;
  }
  // A test path follows SUBMIT's rule: no C0 control or DEL (clients escape the rest).
  for (const std::string bad : {"\x1b[2J", "a\x07", "\r", "\x7f"}) {
    EXPECT_FALSE(passes(job_with([&](auto& e) { e.test_path = "t" + bad; }), local)) << bad;
  }
  auto worker = worker_event("w1");
  EXPECT_TRUE(passes(worker, local));
  qg::proto::WorkerEvent we;
  we.worker_id = "w1";
  we.state = "lost\x1b]0;title\x07";
  worker.body = qg::proto::encode(we);
  EXPECT_FALSE(passes(worker, local));
  qg::proto::Heartbeat hb;
  hb.worker_id = "w1";
  hb.state = "idle\x1b[2J";
  EXPECT_FALSE(passes({"hb.w1", std::string(qg::proto::Heartbeat::command), qg::proto::encode(hb)}, local));
  hb.state = "busy";
  hb.jobs = {{"j\x1b", 1, qg::proto::JobStatus::running}};
  EXPECT_FALSE(passes({"hb.w1", std::string(qg::proto::Heartbeat::command), qg::proto::encode(hb)}, local));
}

}  // namespace

// GET /api/v1/events through the real gateway and broker: events with ids, filters, resuming
// with Last-Event-ID, a resync when the missed events are no longer buffered (or the id is of
// another run), org tokens held to their org, and the cap on open streams.
#include <gtest/gtest.h>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::EventStream;
using qg::testing::GatewayOptions;
using qg::testing::GatewayStack;
using qg::testing::Json;
using qg::testing::kAcmeToken;
using qg::testing::kAdminToken;

GatewayOptions options(std::vector<std::string> extra = {}) {
  GatewayOptions o;
  o.cluster.redis = false;
  o.gateway_args = {"--stream-keepalive", "0.2"};
  o.gateway_args.insert(o.gateway_args.end(), extra.begin(), extra.end());
  return o;
}

// The job events of `stream` for `job_id`.
std::vector<EventStream::Event> events_of(const EventStream& stream, const std::string& job_id) {
  std::vector<EventStream::Event> out;
  for (const auto& e : stream.events()) {
    if (e.type == "job" && Json::parse(e.data)["job_id"] == job_id) out.push_back(e);
  }
  return out;
}

TEST(GatewayEvents, AStreamCarriesTheFilteredOrgsEventsEachWithAnId) {
  GatewayStack stack(options());
  EventStream stream(stack.port(), "?org_id=acme", kAdminToken);
  ASSERT_TRUE(stream.wait_for(": open")) << stream.text();
  EXPECT_EQ(stream.status(), 200);
  auto acme = stack.submit("acme", "v1", {"a.js"}, "device");
  auto globex = stack.submit("globex", "v1", {"g.js"}, "device");
  const std::string acme_job = acme.body["job_ids"][0];
  ASSERT_TRUE(stream.wait_for(acme_job)) << stream.text();
  // Cancelling makes a second event; the globex event, published before it, was filtered out.
  stack.post("/api/v1/jobs/" + acme_job + "/cancel", Json::object());
  ASSERT_TRUE(stream.wait_for("\"status\":\"cancelled\"")) << stream.text();
  EXPECT_EQ(stream.text().find(globex.body["job_ids"][0].get<std::string>()), std::string::npos);
  auto seen = events_of(stream, acme_job);
  ASSERT_EQ(seen.size(), 2u) << stream.text();
  EXPECT_FALSE(seen[0].id.empty());
  EXPECT_NE(seen[0].id, seen[1].id);
  auto data = Json::parse(seen[0].data);
  EXPECT_EQ(data["org_id"], "acme");
  EXPECT_EQ(data["status"], "queued");
  EXPECT_EQ(data["test_path"], "a.js");
}

TEST(GatewayEvents, WorkerEventsReachStreamsWithoutABuildOrJobFilter) {
  GatewayStack stack(options());
  EventStream all(stack.port(), "", kAdminToken);
  EventStream one_build(stack.port(), "?app_version_id=v1", kAdminToken);
  ASSERT_TRUE(all.wait_for(": open"));
  ASSERT_TRUE(one_build.wait_for(": open"));
  qg::testing::WorkerOptions worker;
  worker.worker_id = "w-joins";
  stack.cluster().add_worker(worker);
  ASSERT_TRUE(all.wait_for("event: worker")) << all.text();
  auto joined = all.events().front();
  EXPECT_EQ(Json::parse(joined.data)["worker_id"], "w-joins");
  EXPECT_EQ(Json::parse(joined.data)["state"], "joined");
  const std::string job = stack.submit("acme", "v1", {"a.js"}, "device").body["job_ids"][0];
  ASSERT_TRUE(one_build.wait_for(job)) << one_build.text();
  EXPECT_EQ(one_build.text().find("event: worker"), std::string::npos);
}

TEST(GatewayEvents, ReconnectingWithLastEventIdGetsWhatWasMissed) {
  GatewayStack stack(options());
  std::string last_id;
  {
    EventStream stream(stack.port(), "", kAdminToken);
    ASSERT_TRUE(stream.wait_for(": open"));
    const std::string first = stack.submit("acme", "v1", {"a.js"}, "device").body["job_ids"][0];
    ASSERT_TRUE(stream.wait_for(first)) << stream.text();
    last_id = events_of(stream, first).back().id;
  }
  // While no stream is open: three more jobs.
  auto missed = stack.submit("acme", "v1", {"b.js", "c.js", "d.js"}, "device");
  ASSERT_EQ(missed.status, 201);
  const std::string last_missed = missed.body["job_ids"][2];
  ASSERT_TRUE(qg::testing::wait_until(
      [&] { return stack.get("/api/v1/health/detailed").body["events"]["received"] == 4; }, 10s, 20ms));

  EventStream resumed(stack.port(), "", kAdminToken, last_id);
  ASSERT_TRUE(resumed.wait_for(last_missed)) << resumed.text();
  EXPECT_EQ(resumed.text().find("resync"), std::string::npos) << resumed.text();
  for (const auto& id : missed.body["job_ids"]) EXPECT_EQ(events_of(resumed, id).size(), 1u) << id;
}

TEST(GatewayEvents, EventsNoLongerBufferedOrAnotherRunsIdGiveAResync) {
  GatewayStack stack(options({"--event-buffer", "4"}));
  std::string old_id;
  {
    EventStream stream(stack.port(), "", kAdminToken);
    ASSERT_TRUE(stream.wait_for(": open"));
    const std::string first = stack.submit("acme", "v1", {"a.js"}, "device").body["job_ids"][0];
    ASSERT_TRUE(stream.wait_for(first));
    old_id = events_of(stream, first).back().id;
  }
  auto many = stack.submit("acme", "v1", {"1.js", "2.js", "3.js", "4.js", "5.js", "6.js"}, "device");
  ASSERT_TRUE(qg::testing::wait_until(
      [&] { return stack.get("/api/v1/health/detailed").body["events"]["received"] == 7; }, 10s, 20ms));

  EventStream late(stack.port(), "", kAdminToken, old_id);
  ASSERT_TRUE(late.wait_for("event: resync")) << late.text();
  auto events = late.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, "resync");
  EXPECT_EQ(events.size(), 1u) << "after a resync the stream follows on from now";
  // New events still arrive after the resync.
  const std::string next = stack.submit("acme", "v1", {"z.js"}, "device").body["job_ids"][0];
  EXPECT_TRUE(late.wait_for(next)) << late.text();

  EventStream foreign(stack.port(), "", kAdminToken, "123-1");
  ASSERT_TRUE(foreign.wait_for("event: resync")) << foreign.text();
  EXPECT_NE(foreign.text().find("not of this gateway run"), std::string::npos);
}

TEST(GatewayEvents, AnOrgTokenStreamsItsOrgOnly) {
  GatewayStack stack(options());
  EventStream refused(stack.port(), "?org_id=globex", kAcmeToken);
  ASSERT_TRUE(refused.wait_for("FORBIDDEN")) << refused.text();
  EXPECT_EQ(refused.status(), 403);

  EventStream own(stack.port(), "", kAcmeToken);
  ASSERT_TRUE(own.wait_for(": open"));
  const std::string globex = stack.submit("globex", "v1", {"g.js"}, "device").body["job_ids"][0];
  const std::string acme = stack.submit("acme", "v1", {"a.js"}, "device").body["job_ids"][0];
  ASSERT_TRUE(own.wait_for(acme)) << own.text();
  EXPECT_EQ(own.text().find(globex), std::string::npos);
}

TEST(GatewayEvents, StreamsOverTheCapAreRefusedWith503) {
  GatewayStack stack(options({"--max-event-streams", "1"}));
  EventStream first(stack.port(), "", kAdminToken);
  ASSERT_TRUE(first.wait_for(": open"));
  EventStream second(stack.port(), "", kAdminToken);
  ASSERT_TRUE(second.wait_for("UNAVAILABLE")) << second.text();
  EXPECT_EQ(second.status(), 503);
  first.stop();
  ASSERT_TRUE(qg::testing::wait_until(
      [&] { return stack.get("/api/v1/health/detailed").body["gateway"]["streams_open"] == 0; }, 10s, 20ms));
  EventStream third(stack.port(), "", kAdminToken);
  EXPECT_TRUE(third.wait_for(": open")) << third.text();
}

}  // namespace

namespace {

// Events that arrive one by one within the coalescing interval go out together: twenty
// submits, one after another, reach the stream in a few writes, not twenty, and every event
// arrives.
TEST(GatewayEvents, EventsArrivingWithinTheCoalescingIntervalGoOutInOneWrite) {
  qg::testing::GatewayOptions o;
  o.cluster.redis = false;
  o.gateway_args = {"--stream-keepalive", "1", "--stream-coalesce-ms", "1000"};
  GatewayStack stack(o);
  EventStream stream(stack.port(), "?org_id=acme", kAdminToken);
  ASSERT_TRUE(stream.wait_for(": open")) << stream.text();
  auto writes = [&] { return stack.get("/api/v1/health/detailed").body["gateway"]["stream_writes"].get<int>(); };
  const int before = writes();
  std::vector<std::string> jobs;
  for (int i = 0; i < 20; ++i) {
    auto reply = stack.submit("acme", "v" + std::to_string(i), {"a.js"});
    ASSERT_EQ(reply.status, 201) << reply.text;
    jobs.push_back(reply.body["job_ids"][0]);
  }
  for (const auto& job : jobs) ASSERT_TRUE(stream.wait_for(job)) << stream.text();
  const int used = writes() - before;
  EXPECT_GE(used, 1);
  // One write a second at most (events or a keepalive line), plus the one that found the first
  // event: twenty writes would mean one per event.
  EXPECT_LT(used, 10) << stream.text();
}

}  // namespace

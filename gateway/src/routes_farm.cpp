// The farm: queue, workers, statistics, health (plain and detailed), scale recommendations.
#include "org_scope.hpp"
#include "qg/common/clock.hpp"
#include "reply_json.hpp"
#include "request_json.hpp"
#include "routes.hpp"
#include "scale.hpp"

namespace qg::gateway {

namespace {

constexpr std::uint32_t kScaleQueuePages = 20;  // of 1000 groups: what scale recommendations read at most
constexpr std::uint32_t kScaleSamples = 200;    // finished jobs per target whose durations are read

void queue(Services& s, Call& call) {
  auto reply = s.brokers.call<proto::QueueReply>(queue_from_query(call.req));
  scope_queue(reply, call.caller);
  write_json(call.res, to_json(reply));
}

void workers(Services& s, Call& call) {
  auto reply = s.brokers.call<proto::WorkersReply>(proto::WorkersRequest{});
  scope_workers(reply, call.caller);
  write_json(call.res, to_json(reply));
}

void stats(Services& s, Call& call) {
  auto reply = s.brokers.call<proto::StatsReply>(proto::StatsRequest{});
  scope_stats(reply, call.caller);
  write_json(call.res, to_json(reply));
}

// 200 when a broker answers that it can serve, 503 otherwise: what a load balancer asks.
void health(Services& s, Call& call) {
  try {
    auto reply = s.brokers.call<proto::HealthReply>(proto::HealthRequest{});
    scope_health(reply, call.caller);
    write_json(call.res, to_json(reply), reply.ok ? 200 : 503);
  } catch (const client::BrokerUnreachable&) {
    write_json(call.res, Json{{"ok", false}, {"detail", "no broker answered"}}, 503);
  }
}

void health_detailed(Services& s, Call& call) {
  Json brokers = Json::array();
  bool any_ok = false;
  for (std::size_t i = 0; i < s.brokers.endpoints().size(); ++i) {
    Json b = Json{{"endpoint", s.brokers.endpoints()[i]}};
    try {
      auto reply = s.brokers.call_one<proto::HealthReply>(proto::HealthRequest{}, i);
      scope_health(reply, call.caller);
      any_ok = any_ok || reply.ok;
      b["reachable"] = true;
      b["health"] = to_json(reply);
    } catch (const client::BrokerUnreachable& e) {
      b["reachable"] = false;
      b["detail"] = e.what();
    }
    brokers.push_back(std::move(b));
  }
  const auto now = SystemClock::instance().now_ms();
  const auto last_event = s.feed.last_event_ms();
  auto& m = s.metrics;
  Json doc = Json{{"ok", any_ok},
                  {"brokers", brokers},
                  {"events",
                   {{"endpoints", s.settings.events},
                    {"last_event_age_ms", last_event == 0 ? Json(nullptr) : Json(now - last_event)},
                    {"buffered", s.events.size()},
                    {"capacity", s.events.capacity()},
                    {"oldest_id", s.events.oldest_id()},
                    {"last_id", s.events.last_id()},
                    {"received", m.events_received.load()},
                    {"unreadable", m.events_unreadable.load()},
                    {"duplicates", m.events_duplicate.load()},
                    {"gaps", m.event_gaps.load()}}},
                  {"gateway",
                   {{"uptime_ms", now - s.started_ms},
                    {"http_requests", m.http_requests.load()},
                    {"http_client_errors", m.http_client_errors.load()},
                    {"http_server_errors", m.http_server_errors.load()},
                    {"broker_calls", m.broker_calls.load()},
                    {"broker_unreachable", m.broker_unreachable.load()},
                    {"streams_open", m.streams_open.load()},
                    {"streams_refused", m.streams_refused.load()},
                    {"stream_resyncs", m.stream_resyncs.load()},
                    {"stream_writes", m.stream_writes.load()},
                    {"tokens", s.auth.enabled() ? Json(s.auth.token_count()) : Json(nullptr)}}}};
  write_json(call.res, doc, any_ok ? 200 : 503);
}

void scale(Services& s, Call& call) {
  require_every_org(call.caller, "scale recommendations");
  ScaleInputs in;
  in.drain_target = s.settings.drain_target;
  in.assumed_test = s.settings.assumed_test;
  in.assumed_install = s.settings.assumed_install;
  proto::QueueRequest page;
  page.limit = 1000;
  in.queue_complete = false;
  for (std::uint32_t i = 0; i < kScaleQueuePages; ++i) {
    auto reply = s.brokers.call<proto::QueueReply>(page);
    in.groups.insert(in.groups.end(), reply.groups.begin(), reply.groups.end());
    if (reply.next_cursor.empty()) {
      in.queue_complete = true;
      break;
    }
    page.cursor = reply.next_cursor;
  }
  in.workers = s.brokers.call<proto::WorkersReply>(proto::WorkersRequest{}).workers;
  for (auto target : {proto::Target::emulator, proto::Target::device, proto::Target::browserstack}) {
    proto::ListRequest recent;
    recent.status = proto::JobStatus::passed;
    recent.target = target;
    recent.limit = kScaleSamples;
    for (const auto& job : s.brokers.call<proto::ListReply>(recent).jobs) {
      in.recent_test_ms[target].push_back(job.duration_ms);
    }
  }
  in.farm = s.brokers.call<proto::StatsReply>(proto::StatsRequest{}).farm;
  Json targets = Json::array();
  for (const auto& r : recommend_scale(in)) {
    targets.push_back(Json{{"target", proto::to_string(r.target)},
                           {"queued_jobs", r.queued_jobs},
                           {"queued_groups", r.queued_groups},
                           {"live_workers", r.live_workers},
                           {"busy_workers", r.busy_workers},
                           {"test_ms", r.test_ms},
                           {"test_ms_measured", r.test_ms_measured},
                           {"test_samples", r.test_samples},
                           {"install_ms", r.install_ms},
                           {"install_ms_measured", r.install_ms_measured},
                           {"install_samples", r.install_samples},
                           {"work_ms", r.work_ms},
                           {"needed_workers", r.needed_workers},
                           {"change", r.change},
                           {"reasoning", r.reasoning}});
  }
  write_json(call.res, Json{{"drain_target_ms", s.settings.drain_target.count()},
                            {"queue_complete", in.queue_complete},
                            {"targets", targets}});
}

}  // namespace

void add_farm_routes(std::vector<Route>& routes, Services& s) {
  const std::string api = kApiPrefix;
  auto none = Json::array();
  routes.push_back({"GET", api + "/queue", std::regex(api + "/queue"), true, [&s](Call& c) { queue(s, c); },
                    operation("Queued groups", "Groups in claim order, a page at a time (the protocol's QUEUE).",
                              Json::array({query_param("cursor", "next_cursor of the previous page"),
                                           query_param("limit", "groups per page, 1..1000 (default 50)", "integer")}),
                              "Queue")});
  routes.push_back({"GET", api + "/workers", std::regex(api + "/workers"), true, [&s](Call& c) { workers(s, c); },
                    operation("Workers", "Every known worker (the protocol's WORKERS).", none, "Workers")});
  routes.push_back(
      {"GET", api + "/stats", std::regex(api + "/stats"), true, [&s](Call& c) { stats(s, c); },
       operation("Statistics", "Jobs by status and org, throughput (the protocol's STATS).", none, "Stats")});
  routes.push_back(
      {"GET", api + "/health", std::regex(api + "/health"), false, [&s](Call& c) { health(s, c); },
       operation("Health", "200 when a broker answers that it can serve, else 503. No token needed.", none, "Health")});
  routes.push_back({"GET", api + "/health/detailed", std::regex(api + "/health/detailed"), true,
                    [&s](Call& c) { health_detailed(s, c); },
                    operation("Detailed health",
                              "Each broker's HEALTH, the event feed and the gateway's counters; 503 when no "
                              "broker is healthy.",
                              none, "DetailedHealth")});
  routes.push_back({"GET", api + "/scale-recommendations", std::regex(api + "/scale-recommendations"), true,
                    [&s](Call& c) { scale(s, c); },
                    operation("Scale recommendations",
                              "Per target, the devices that would finish the queued work within the drain target, "
                              "with the reasoning. Admin only.",
                              none, "ScaleRecommendations")});
}

}  // namespace qg::gateway

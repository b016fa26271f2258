// GET /metrics: Prometheus text. What the brokers know is read at scrape time (QUEUE, WORKERS,
// STATS); what only the event stream tells (durations, waits, installs, jobs by org) is counted
// by JobFlow as events arrive; the rest is the gateway's own counters.
//
// Admin only (or any caller on a gateway without tokens, loopback only): queue depth, workers,
// durations and latencies are figures of every org together and cannot be cut per org, so an
// org token gets FORBIDDEN rather than a partial view that looks complete.
#include <map>
#include <set>

#include "qg/common/clock.hpp"
#include "routes.hpp"

namespace qg::gateway {

namespace {

constexpr std::uint32_t kQueuePages = 20;  // of 1000 groups; past it qg_queue_complete is 0

double d(std::uint64_t v) { return static_cast<double>(v); }

void write_queue(Services& s, PromText& out) {
  std::map<std::pair<std::string, std::string>, std::uint64_t> jobs;   // (target, priority)
  std::map<std::pair<std::string, std::string>, std::int64_t> oldest;  // (target, priority) -> ms
  std::map<std::string, std::uint64_t> groups, batching;               // target
  std::map<std::string, std::uint64_t> by_status, by_priority;
  proto::QueueRequest page;
  page.limit = 1000;
  bool complete = false;
  for (std::uint32_t i = 0; i < kQueuePages; ++i) {
    auto reply = s.brokers.call<proto::QueueReply>(page);
    if (i == 0) {
      by_status = reply.by_status;
      by_priority = reply.by_priority;
    }
    for (const auto& g : reply.groups) {
      const std::string target(proto::to_string(g.target));
      const std::pair key{target, std::string(proto::to_string(g.highest_priority))};
      jobs[key] += g.depth;
      oldest[key] = std::max(oldest[key], g.oldest_age_ms);
      ++groups[target];
      if (!g.claimable) ++batching[target];
    }
    if (reply.next_cursor.empty()) {
      complete = true;
      break;
    }
    page.cursor = reply.next_cursor;
  }
  out.family("qg_queue_jobs", "gauge", "Queued jobs by target and their group's highest priority.");
  for (const auto& [k, n] : jobs) out.sample("qg_queue_jobs", {{"target", k.first}, {"priority", k.second}}, d(n));
  out.family("qg_queue_oldest_age_seconds", "gauge",
             "Age of the oldest queued job by target and its group's highest priority.");
  for (const auto& [k, ms] : oldest) {
    out.sample("qg_queue_oldest_age_seconds", {{"target", k.first}, {"priority", k.second}},
               static_cast<double>(ms) / 1000.0);
  }
  out.family("qg_queue_groups", "gauge", "Queued groups (org, build, target) by target.");
  for (const auto& [t, n] : groups) out.sample("qg_queue_groups", {{"target", t}}, d(n));
  out.family("qg_queue_groups_batching", "gauge", "Queued groups whose batching window is still open, by target.");
  for (const auto& [t, n] : batching) out.sample("qg_queue_groups_batching", {{"target", t}}, d(n));
  out.family("qg_queue_jobs_by_priority", "gauge", "Queued jobs by their own priority (all targets).");
  for (const auto& [p, n] : by_priority) out.sample("qg_queue_jobs_by_priority", {{"priority", p}}, d(n));
  out.family("qg_jobs", "gauge", "Jobs in the store by status.");
  for (const auto& [st, n] : by_status) out.sample("qg_jobs", {{"status", st}}, d(n));
  out.family("qg_queue_complete", "gauge", "1 when the whole queue was read for this scrape, 0 when it was cut short.");
  out.sample("qg_queue_complete", {}, complete ? 1 : 0);
}

void write_workers(Services& s, PromText& out) {
  auto reply = s.brokers.call<proto::WorkersReply>(proto::WorkersRequest{});
  std::map<std::pair<std::string, std::string>, std::uint64_t> by;  // (target, state)
  for (const auto& w : reply.workers) {
    for (auto t : w.targets) ++by[{std::string(proto::to_string(t)), w.state}];
  }
  out.family("qg_workers", "gauge", "Workers by target and state (a worker serving several targets counts in each).");
  for (const auto& [k, n] : by) out.sample("qg_workers", {{"target", k.first}, {"state", k.second}}, d(n));
}

// STATS `farm`: the store's figures per org, target and window (last hour, last day). Unlike the
// qg_test_duration_seconds family (events this gateway saw since it started) they cover every
// broker and survive a gateway restart; quantiles come from the store's log-spaced bins.
void write_farm(const std::vector<proto::FarmStat>& farm, PromText& out) {
  std::vector<std::pair<Labels, const proto::FarmStat*>> rows;
  for (const auto& f : farm) {
    rows.push_back(
        {{{"org_id", f.org_id}, {"target", std::string(proto::to_string(f.target))}, {"window", f.window}}, &f});
  }
  const auto each = [&](const char* name, const char* type, const char* help, auto value) {
    out.family(name, type, help);
    for (const auto& [labels, f] : rows) out.sample(name, labels, value(*f));
  };
  const auto seconds = [](std::int64_t ms) { return static_cast<double>(ms) / 1000.0; };
  out.family("qg_farm_jobs_finished", "gauge", "Jobs that reached each final status in the window, by org and target.");
  for (const auto& [labels, f] : rows) {
    for (const auto& [status, n] : f->by_status) {
      auto with_status = labels;
      with_status.emplace_back("status", status);
      out.sample("qg_farm_jobs_finished", with_status, d(n));
    }
  }
  each("qg_farm_success_ratio", "gauge", "passed / (finished - cancelled) in the window; 0 when nothing was judged.",
       [](const proto::FarmStat& f) { return f.success_rate; });
  each("qg_farm_test_duration_p50_seconds", "gauge", "Median test run time in the window (passed, failed, timed out).",
       [&](const proto::FarmStat& f) { return seconds(f.test_p50_ms); });
  each("qg_farm_test_duration_p95_seconds", "gauge", "95th percentile test run time in the window.",
       [&](const proto::FarmStat& f) { return seconds(f.test_p95_ms); });
  each("qg_farm_install_duration_p50_seconds", "gauge", "Median install time in the window.",
       [&](const proto::FarmStat& f) { return seconds(f.install_p50_ms); });
  each("qg_farm_tests_run", "gauge", "Test reports accepted in the window (retried runs included).",
       [](const proto::FarmStat& f) { return d(f.tests_run); });
  each("qg_farm_installs", "gauge", "Installs the workers ran in the window.",
       [](const proto::FarmStat& f) { return d(f.installs); });
  each("qg_farm_tests_per_install", "gauge", "Tests run per install in the window: what grouping saves.",
       [](const proto::FarmStat& f) { return f.tests_per_install; });
  out.family("qg_farm_oldest_queued_seconds", "gauge", "Age of the oldest queued job now, by org and target.");
  for (const auto& f : farm) {
    if (f.window != "hour") continue;  // the same figure in both windows
    out.sample("qg_farm_oldest_queued_seconds",
               {{"org_id", f.org_id}, {"target", std::string(proto::to_string(f.target))}},
               seconds(f.oldest_queued_ms));
  }
}

void write_stats(Services& s, PromText& out) {
  auto reply = s.brokers.call<proto::StatsReply>(proto::StatsRequest{});
  out.family("qg_broker_jobs_per_second", "gauge",
             "Jobs finished per second over the last minute (the broker's STATS).");
  out.sample("qg_broker_jobs_per_second", {}, reply.jobs_per_sec);
  out.family("qg_broker_rejected_requests", "gauge", "Malformed or invalid requests the answering broker has seen.");
  out.sample("qg_broker_rejected_requests", {}, d(reply.rejected_requests));
  write_farm(reply.farm, out);
}

void write_gateway(Services& s, PromText& out) {
  const auto& m = s.metrics;
  const auto counter = [&out](const char* name, const char* help, std::uint64_t v) {
    out.family(name, "counter", help);
    out.sample(name, {}, d(v));
  };
  const auto gauge = [&out](const char* name, const char* help, double v) {
    out.family(name, "gauge", help);
    out.sample(name, {}, v);
  };
  counter("qg_gateway_http_requests_total", "HTTP requests served by the gateway's routes.", m.http_requests.load());
  counter("qg_gateway_http_client_errors_total", "Requests answered 4xx.", m.http_client_errors.load());
  counter("qg_gateway_http_server_errors_total", "Requests answered 5xx.", m.http_server_errors.load());
  counter("qg_gateway_broker_requests_total", "Requests the gateway sent to brokers.", m.broker_calls.load());
  counter("qg_gateway_broker_unreachable_total", "Broker requests that got no answer in time.",
          m.broker_unreachable.load());
  m.broker_latency.write(out);
  counter("qg_gateway_events_received_total", "Events read from the brokers' streams.", m.events_received.load());
  counter("qg_gateway_events_unreadable_total", "Events that could not be decoded.", m.events_unreadable.load());
  counter("qg_gateway_events_duplicate_total", "The same event through a second broker, kept once.",
          m.events_duplicate.load());
  counter("qg_gateway_event_gaps_total", "Jumps in a source's sequence: events lost upstream (each sends a resync).",
          m.event_gaps.load());
  const auto last = s.events.last_id();
  const auto kept = s.events.size();
  counter("qg_gateway_events_evicted_total", "Events pushed out of the gateway's ring by newer ones.",
          last > kept ? last - kept : 0);
  gauge("qg_gateway_event_buffer_events", "Events in the ring.", d(kept));
  gauge("qg_gateway_event_buffer_capacity", "Events the ring holds at most.", d(s.events.capacity()));
  gauge("qg_gateway_event_streams_open", "Event streams being served.", d(m.streams_open.load()));
  counter("qg_gateway_event_streams_refused_total", "Event streams refused (too many open).", m.streams_refused.load());
  counter("qg_gateway_stream_resyncs_total", "resync events sent to streams (they missed events).",
          m.stream_resyncs.load());
  counter("qg_gateway_stream_writes_total",
          "Writes to event streams; each carries every event that arrived since the last.", m.stream_writes.load());
  const auto last_event = s.feed.last_event_ms();
  if (last_event > 0) {
    gauge("qg_gateway_last_event_age_seconds", "Time since the last event arrived.",
          static_cast<double>(SystemClock::instance().now_ms() - last_event) / 1000.0);
  }
  counter("qg_gateway_token_reloads_total", "Tokens file reloads that took effect.", m.token_reloads.load());
  counter("qg_gateway_token_reload_failures_total", "Tokens file reloads refused (old tokens kept).",
          m.token_reload_failures.load());
}

void metrics(Services& s, Call& call) {
  require_every_org(call.caller, "metrics");
  PromText out;
  out.family("qg_up", "gauge", "1 when a broker answered this scrape's requests.");
  std::string broker_error;
  PromText farm;
  try {
    write_queue(s, farm);
    write_workers(s, farm);
    write_stats(s, farm);
  } catch (const client::BrokerUnreachable& e) {
    broker_error = e.what();
  }
  out.sample("qg_up", {}, broker_error.empty() ? 1 : 0);
  std::string text = out.text() + (broker_error.empty() ? farm.text() : "");
  PromText rest;
  s.metrics.job_flow.write(rest);
  write_gateway(s, rest);
  text += rest.text();
  call.res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  call.res.status = 200;
}

}  // namespace

void add_metrics_route(std::vector<Route>& routes, Services& s) {
  auto op = operation("Prometheus metrics",
                      "Jobs submitted and finished, queue depth and age, workers by state, test and install "
                      "durations, submit-to-start wait, installs, broker latency and event loss, in Prometheus's "
                      "text format. Admin only.",
                      Json::array(), "");
  op["responses"]["200"] = {{"description", "Prometheus text exposition format 0.0.4"},
                            {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}};
  routes.push_back({"GET", "/metrics", std::regex("/metrics"), true, [&s](Call& c) { metrics(s, c); }, op});
}

}  // namespace qg::gateway

#pragma once
// The gateway's own counters. Bumped from any thread (relaxed atomics); read by
// /api/v1/health/detailed and rendered, with the figures of the event stream (job_flow.hpp) and
// the brokers' answers at scrape time, by GET /metrics (routes_metrics.cpp).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "job_flow.hpp"
#include "prometheus_text.hpp"

namespace qg::gateway {

// How long the brokers took to answer the gateway's own requests, by command (answered requests,
// ERROR replies included; unanswered ones are counted in broker_unreachable). Thread-safe.
class BrokerLatency {
 public:
  BrokerLatency() {
    for (const char* c :
         {"SUBMIT", "STATUS", "LIST", "CANCEL", "RETRY", "QUEUE", "WORKERS", "HEALTH", "STATS", "other"}) {
      by_command_.emplace(std::piecewise_construct, std::forward_as_tuple(c), std::forward_as_tuple(latency_buckets()));
    }
  }
  void observe(std::string_view command, std::chrono::steady_clock::duration took) {
    auto it = by_command_.find(command);
    if (it == by_command_.end()) it = by_command_.find("other");
    it->second.observe(std::chrono::duration<double>(took).count());
  }
  void write(PromText& out) const {
    out.family("qg_gateway_broker_request_seconds", "histogram",
               "Time for a broker to answer a request of the gateway, by command.");
    for (const auto& [command, h] : by_command_) {
      out.histogram("qg_gateway_broker_request_seconds", {{"command", command}}, h.snapshot());
    }
  }

 private:
  std::map<std::string, Histogram, std::less<>> by_command_;
};

struct GatewayMetrics {
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_client_errors{0};  // answered 4xx
  std::atomic<std::uint64_t> http_server_errors{0};  // answered 5xx
  std::atomic<std::uint64_t> broker_calls{0};
  std::atomic<std::uint64_t> broker_unreachable{0};  // a broker gave no answer in time
  std::atomic<std::uint64_t> events_received{0};
  std::atomic<std::uint64_t> events_unreadable{0};
  std::atomic<std::uint64_t> events_duplicate{0};  // the same (source, seq) through a second broker
  std::atomic<std::uint64_t> event_gaps{0};        // a source's seq jumped: events were lost upstream
  std::atomic<std::uint64_t> streams_open{0};
  std::atomic<std::uint64_t> streams_refused{0};
  std::atomic<std::uint64_t> stream_resyncs{0};  // resync events sent to streams
  std::atomic<std::uint64_t> stream_writes{0};   // writes to event streams (each carries one or more events)
  std::atomic<std::uint64_t> token_reloads{0};
  std::atomic<std::uint64_t> token_reload_failures{0};
  BrokerLatency broker_latency;
  JobFlow job_flow;  // fed by the event feed
};

}  // namespace qg::gateway

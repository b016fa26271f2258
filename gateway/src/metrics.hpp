#pragma once
// The gateway's own counters. Bumped from any thread (relaxed atomics); read by
// /api/v1/health/detailed, and meant to be rendered as Prometheus text by a metrics module
// beside this one.

#include <atomic>
#include <cstdint>

namespace qg::gateway {

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
  std::atomic<std::uint64_t> token_reloads{0};
  std::atomic<std::uint64_t> token_reload_failures{0};
};

}  // namespace qg::gateway

#pragma once
// qg-gateway: REST (/api/v1) and Server-Sent Events over the qgjob protocol. It is a protocol
// client like qgjob: every answer comes from a broker, and the only state it keeps is a bounded
// buffer of recent events (so that a reconnecting event stream can resume).
//
// Thread contract: construct, start(), then wait() from one thread; stop() and reload_tokens()
// may be called from any thread (a signal-handling thread in main). The destructor stops.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "qg/common/curve_client.hpp"

namespace qg::gateway {

using std::chrono::milliseconds;

struct GatewaySettings {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;  // 0 = any free port (tests read port() back)
  // Brokers' client endpoints, tried in order (the one that last answered first); their event
  // streams are all read.
  std::vector<std::string> brokers{"tcp://127.0.0.1:5555"};
  std::vector<std::string> events{"tcp://127.0.0.1:5558"};
  CurveClientKeys curve;               // the gateway's own key; off when empty
  std::string tokens_file;             // empty = no tokens: every caller is local (loopback only)
  milliseconds request_timeout{5000};  // per broker request; then the next broker is tried
  std::size_t event_buffer = 10000;    // events kept for resuming streams
  std::size_t max_body_bytes = 4u << 20;
  // Threads for REST; each open event stream holds one more, started when it opens (the HTTP
  // pool grows up to http_threads + max_event_streams).
  int http_threads = 64;
  std::size_t max_event_streams = 2000;  // more are refused with 503
  milliseconds stream_keepalive{15000};  // an id-only line this often on an idle event stream
  // At most one write per stream in this time: events arriving meanwhile go out together in
  // the next write (at 1,000 events/s, 20 writes a second per stream instead of 1,000). Adds up
  // to this much delay; 0 = write each event as soon as it is read.
  milliseconds stream_coalesce{50};
  milliseconds drain_target{15 * 60 * 1000};  // scale recommendations: finish the queue within this
  milliseconds assumed_test{60000};           // when no finished job says how long a test takes
  milliseconds assumed_install{60000};        // the protocol does not report install times yet
  std::string static_dir;                     // served at / when set (the dashboard's files)
};

// True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost.
bool is_loopback_host(const std::string& host);

class Gateway {
 public:
  // Throws ConfigError when the settings are unusable: a non-loopback listen address without a
  // tokens file, an unreadable tokens file, no broker.
  Gateway(GatewaySettings settings, std::shared_ptr<spdlog::logger> logger);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the listening socket and starts serving and reading events. Throws ConfigError when
  // the address cannot be bound.
  void start();
  // The bound port (after start()).
  int port() const;
  // Blocks until stop().
  void wait();
  void stop();
  // Reads the tokens file again; on an error the tokens in force stay and false comes back.
  bool reload_tokens();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::gateway

#pragma once
// The broker's ZAP handler (ZeroMQ RFC 27): while the broker's sockets are CURVE servers,
// libzmq asks it about every handshake, on a REP socket bound to inproc://zeromq.zap.01 in
// the broker's context. It admits a client key (--clients-dir) on the "clients" and
// "events-out" domains, a worker or scheduler key (--workers-dir) on the "workers" and
// "events-in" domains, and answers with the user id of the key's identity ("org:acme"), which
// libzmq then attaches to every message of that connection (peer_identity.hpp). Any other key,
// domain or mechanism gets 400, and a log line (at most one a second; the rest are counted
// into the next).
//
// Before any key, every handshake is held to the connection limits (connection_table.hpp): one
// from an address, or to a port, over its limit is refused (counted into
// counters.connections_refused, logged at most once in 10 s). Without CURVE the broker runs the
// handler too (null_mode), so that the limits hold for NULL handshakes as well: it then admits
// every NULL handshake within the limits, with no user id (the peer is local).
//
// A key that subscribed across every capability topic on events-out (events/event_topics.hpp)
// may be barred from events-out for a while (bar_from_events): its next handshakes there are
// refused until then.
//
// The keys are read at construction and again after request_reload(): a key whose file was
// removed is refused on its next handshake. Connections already made stay up (ZAP is asked
// only when a connection is made) until they drop or the broker restarts.
//
// Thread contract: the handler runs on its own thread, started by the constructor (the socket
// is bound before it returns, so no handshake finds the domain unguarded) and joined by the
// destructor. request_reload() may be called from any thread or a signal handler.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "edge/connection_table.hpp"
#include "key_table.hpp"
#include "qg/broker/broker.hpp"

namespace qg::broker {

// The ZAP domains of the broker's four sockets.
inline constexpr const char* kClientsDomain = "clients";
inline constexpr const char* kWorkersDomain = "workers";
inline constexpr const char* kEventsInDomain = "events-in";
inline constexpr const char* kEventsOutDomain = "events-out";

class ZapHandler {
 public:
  // Loads the keys strictly (ConfigError for a bad file or folder), binds the ZAP endpoint
  // (zmq::error_t if another handler holds it in this context) and starts serving. Counts
  // into counters.handshakes_admitted, handshakes_refused and key_reloads.
  ZapHandler(zmq::context_t& context, KeyDirs dirs, std::shared_ptr<spdlog::logger> log, BrokerCounters& counters,
             const ConnectionTable& connections);
  // Without keys: admits NULL handshakes within the connection limits. Throws zmq::error_t
  // when another handler holds the ZAP endpoint in this context.
  ZapHandler(zmq::context_t& context, std::shared_ptr<spdlog::logger> log, BrokerCounters& counters,
             const ConnectionTable& connections);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Asks for the key folders to be read again; done by the handler's thread within ~100 ms.
  void request_reload() noexcept { reload_.store(true); }
  // Refuses handshakes on events-out of keys admitted as `user_id` until `until`. Any thread.
  void bar_from_events(const std::string& user_id, std::chrono::steady_clock::time_point until);

 private:
  void serve();
  void answer_one();
  void reload();
  void note_refusal(const char* domain, const std::string& address, const std::string& key);
  void note_limit(const std::string& domain, const std::string& address, const char* why);
  bool barred(const std::string& user_id);
  void start();

  bool null_mode_ = false;
  KeyDirs dirs_;
  std::shared_ptr<spdlog::logger> log_;
  KeyTable keys_;  // the handler thread's alone after construction
  zmq::socket_t socket_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  BrokerCounters& counters_;
  const ConnectionTable& connections_;
  std::int64_t last_refusal_log_ms_ = 0;
  std::uint64_t unlogged_refusals_ = 0;
  std::int64_t last_limit_log_ms_ = 0;
  std::uint64_t unlogged_limits_ = 0;
  std::mutex barred_mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> barred_;  // user id -> until
  std::thread thread_;  // last: started once everything it uses exists
};

}  // namespace qg::broker

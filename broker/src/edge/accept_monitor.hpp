#pragma once
// Connections libzmq could not accept on the broker's sockets, counted, with a warning when
// the cause is a lack of file descriptors (EMFILE, ENFILE): then workers and clients cannot
// connect, and nothing else would say why.
//
// libzmq reports a failed accept as a socket-monitor event (ZMQ_EVENT_ACCEPT_FAILED, errno as
// its value) sent on an inproc PAIR from its I/O thread with a blocking send: once the PAIR's
// queue is full, that thread, and with it every connection of the context, waits for a
// reader. And while descriptors are short libzmq retries the pending accept at once, so the
// failures come in floods. The events are therefore read on a thread of their own, as fast as
// they come; the warning is logged at most once per kWarnEvery.
//
// The same monitors keep the ConnectionTable (connection_table.hpp): each accepted connection
// is counted under its peer address (ZMQ_EVENT_ACCEPTED carries its descriptor) until it ends
// (ZMQ_EVENT_DISCONNECTED), and one over a connection limit is shut down at once (shutdown(2):
// libzmq sees the end of the stream and closes it as usual), counted into `refused` and
// logged at most once per kWarnEvery. A connection dropped before its handshake finished
// (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: the handshake timeout, the peer gave up, or one shut
// down over a limit) is counted into `handshakes_dropped`.
//
// Thread contract: construct, watch() and destroy on the thread that owns the watched sockets
// (the broker's); the destructor stops the monitors and joins the reading thread, and must
// run while the watched sockets are still open.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "connection_table.hpp"
#include "qg/broker/broker.hpp"

namespace qg::broker {

class AcceptMonitor {
 public:
  static constexpr std::chrono::seconds kWarnEvery{10};

  // Counts into counters.accept_failures, connections_refused, handshakes_dropped and
  // connections_closed (client and worker ports); keeps
  // `connections` (both owned by the caller, outliving this).
  AcceptMonitor(zmq::context_t& context, std::shared_ptr<spdlog::logger> log, BrokerCounters& counters,
                ConnectionTable& connections);
  ~AcceptMonitor();
  AcceptMonitor(const AcceptMonitor&) = delete;
  AcceptMonitor& operator=(const AcceptMonitor&) = delete;

  // Starts monitoring `socket`, which serves `port` (named `role` in the warning). Throws
  // zmq::error_t when libzmq refuses. Call before the socket binds and before start().
  void watch(zmq::socket_t& socket, std::string_view role, Port port);
  // Starts the reading thread.
  void start();

 private:
  void run();
  // Reads what one monitor holds; false when it was empty.
  bool read_one(std::size_t index);
  void warn_if_due(bool force);
  void on_accepted(std::size_t index, int fd);
  void warn_refusals_if_due(bool force);

  zmq::context_t& context_;
  std::shared_ptr<spdlog::logger> log_;
  BrokerCounters& counters_;
  ConnectionTable& connections_;
  std::vector<zmq::socket_t*> watched_;
  std::vector<Port> ports_;
  std::vector<zmq::socket_t> monitors_;  // our end of each watched socket's monitor PAIR
  std::vector<std::string> roles_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Reading thread only: failures since the last warning, the last one's errno and role.
  std::uint64_t unreported_ = 0;
  int last_errno_ = 0;
  std::string last_role_;
  std::chrono::steady_clock::time_point last_warning_{};
  // Reading thread only: connections shut down over a limit since the last warning, the last one's.
  std::uint64_t unreported_refusals_ = 0;
  std::string last_refusal_;
  std::chrono::steady_clock::time_point last_refusal_warning_{};
};

}  // namespace qg::broker

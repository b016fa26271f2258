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

namespace qg::broker {

class AcceptMonitor {
 public:
  static constexpr std::chrono::seconds kWarnEvery{10};

  // Counts every failed accept into `failures`, and every connection of a socket watched with
  // `count_closed` that closes into `closed` (both owned by the caller, outliving this).
  AcceptMonitor(zmq::context_t& context, std::shared_ptr<spdlog::logger> log, std::atomic<std::uint64_t>& failures,
                std::atomic<std::uint64_t>* closed = nullptr);
  ~AcceptMonitor();
  AcceptMonitor(const AcceptMonitor&) = delete;
  AcceptMonitor& operator=(const AcceptMonitor&) = delete;

  // Starts monitoring `socket` (named `role` in the warning); with `count_closed`, its closed
  // connections too (ZMQ_EVENT_DISCONNECTED: the peer went, or libzmq dropped it, e.g. for a
  // frame over ZMQ_MAXMSGSIZE, which no reply can answer). Throws zmq::error_t when libzmq
  // refuses. Call before start().
  void watch(zmq::socket_t& socket, std::string_view role, bool count_closed = false);
  // Starts the reading thread.
  void start();

 private:
  void run();
  // Reads what one monitor holds; false when it was empty.
  bool read_one(std::size_t index);
  void warn_if_due(bool force);

  zmq::context_t& context_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<std::uint64_t>& failures_;
  std::atomic<std::uint64_t>* closed_;
  std::vector<zmq::socket_t*> watched_;
  std::vector<zmq::socket_t> monitors_;  // our end of each watched socket's monitor PAIR
  std::vector<std::string> roles_;
  std::vector<bool> count_closed_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Reading thread only: failures since the last warning, the last one's errno and role.
  std::uint64_t unreported_ = 0;
  int last_errno_ = 0;
  std::string last_role_;
  std::chrono::steady_clock::time_point last_warning_{};
};

}  // namespace qg::broker

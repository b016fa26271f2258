#pragma once
// A fake broker for the CLI's unit tests: a ROUTER on a free loopback port that answers one
// request with frames a test builds from the request's rid, from a thread of its own (joined
// by the destructor; it gives up after 5 s without a request).

#include <chrono>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::cli {

// A broker that answers one request with `reply` (already encoded frames after the identity).
class OneShotBroker {
 public:
  explicit OneShotBroker(zmq::context_t& context) : router_(context, zmq::socket_type::router) {
    set_common_options(router_);
    router_.bind("tcp://127.0.0.1:*");
  }
  std::string endpoint() { return "tcp://127.0.0.1:" + std::to_string(bound_port(router_)); }
  template <class Make>
  void answer_once(Make make) {
    thread_ = std::thread([this, make] {
      zmq::pollitem_t items[] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(5000));
      auto m = recv_multipart(router_, 8, 1 << 20);
      if (!m) return;
      auto frames = make(proto::peek_rid(m->frames.at(3)));
      frames.insert(frames.begin(), m->frames[0]);
      send_multipart(router_, frames);
    });
  }
  ~OneShotBroker() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  zmq::socket_t router_;
  std::thread thread_;
};

}  // namespace qg::cli

#pragma once
// Protocol clients for the HTTP threads. A qg::client::Client is one DEALER and belongs to one
// thread at a time, so each call borrows an idle client of a broker (or makes one) and gives it
// back afterwards. A client whose request went unanswered is dropped, not given back: its
// socket may still hold the request, which must not reach the broker later.
//
// Several brokers (sharing one store) are tried in turn: a call goes first to the one that last
// answered, and on no answer within the timeout to the next. Every request the gateway sends is
// safe to send twice (SUBMIT always carries an idempotency key; the rest read, or cancel and
// retry what is already cancelled or revived). Thread-safe.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "metrics.hpp"
#include "qg/client/client.hpp"

namespace qg::gateway {

class BrokerPool {
 public:
  BrokerPool(zmq::context_t& context, std::vector<std::string> endpoints, CurveClientKeys keys,
             std::chrono::milliseconds timeout, GatewayMetrics& metrics, std::shared_ptr<spdlog::logger> logger);

  // Sends `request` (a fresh rid is set) and returns the reply. Throws
  // client::BrokerUnreachable when no broker answered, client::RequestFailed on an ERROR reply,
  // client::BadReply on an unreadable one.
  template <class Reply, class Request>
  Reply call(Request request) {
    return call_on<Reply>(request, nullptr);
  }

  // As call(), to one broker only (index into endpoints()).
  template <class Reply, class Request>
  Reply call_one(Request request, std::size_t index) {
    return call_on<Reply>(request, &index);
  }

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  struct Slot {
    std::string endpoint;
    std::mutex mutex;
    std::vector<std::unique_ptr<client::Client>> idle;
  };

  std::unique_ptr<client::Client> borrow(std::size_t index);
  void give_back(std::size_t index, std::unique_ptr<client::Client> c);
  void note_unreachable(std::size_t index, const std::exception& e);

  template <class Reply, class Request>
  Reply call_on(Request& request, const std::size_t* only) {
    const std::size_t n = slots_.size();
    const std::size_t first = only ? *only : preferred_.load();
    const std::size_t tries = only ? 1 : n;
    for (std::size_t t = 0; t < tries; ++t) {
      const std::size_t index = (first + t) % n;
      auto c = borrow(index);
      request.rid = c->new_rid();
      ++metrics_.broker_calls;
      const auto started = std::chrono::steady_clock::now();
      try {
        auto reply = c->template call<Reply>(request, timeout_);
        metrics_.broker_latency.observe(Request::command, std::chrono::steady_clock::now() - started);
        give_back(index, std::move(c));
        if (!only) preferred_.store(index);
        return reply;
      } catch (const client::RequestFailed&) {
        metrics_.broker_latency.observe(Request::command, std::chrono::steady_clock::now() - started);
        give_back(index, std::move(c));
        throw;
      } catch (const client::BrokerUnreachable& e) {
        note_unreachable(index, e);
        if (t + 1 == tries) throw;
      }
    }
    throw client::BrokerUnreachable("no broker configured");
  }

  zmq::context_t& context_;
  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<Slot>> slots_;
  CurveClientKeys keys_;
  std::chrono::milliseconds timeout_;
  GatewayMetrics& metrics_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<std::size_t> preferred_{0};
};

}  // namespace qg::gateway

#pragma once
// The client side of protocol QGC1 and a subscriber to the event stream, shared by qgjob and
// qg-gateway. Speaks only the protocol.
//
// Client: one DEALER to the broker's client ROUTER. call() sends one request and waits for
// the reply carrying the same rid, ignoring any other (late replies to earlier requests). A
// DEALER connect never fails, so an absent broker shows up as no reply before the deadline.
// With CURVE keys the socket authenticates to the broker; a key the broker does not admit
// (or a --broker-key that is not the broker's) shows up as no reply, as an absent broker.
// Thread contract: one thread per Client; the zmq::context_t must outlive it.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "qg/common/curve_client.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "qg/proto/codec.hpp"
#include "qg/proto/messages.hpp"

namespace qg::client {

// No reply within the deadline.
class BrokerUnreachable : public qg::Error {
 public:
  using qg::Error::Error;
};

// The broker answered with ERROR.
class RequestFailed : public qg::Error {
 public:
  explicit RequestFailed(proto::Error error)
      : qg::Error(error.code + ": " + error.message + (error.field.empty() ? "" : " (field " + error.field + ")")),
        error_(std::move(error)) {}
  const proto::Error& error() const { return error_; }

 private:
  proto::Error error_;
};

// The broker answered with something we cannot read.
class BadReply : public qg::Error {
 public:
  using qg::Error::Error;
};

class Client {
 public:
  Client(zmq::context_t& context, std::string endpoint, const CurveClientKeys& keys = {});

  // A fresh request id.
  std::string new_rid();

  // Sends `request` (its rid must be set) and returns the matching reply. Throws
  // BrokerUnreachable when none came within `timeout`, RequestFailed on an ERROR reply,
  // BadReply on an unreadable one.
  template <class Reply, class Request>
  Reply call(const Request& request, std::chrono::milliseconds timeout) {
    send_raw(std::string(Request::command), proto::encode(request));
    auto [command, body] = wait_for(request.rid, timeout);
    return decode_reply<Reply>(command, body);
  }

  // Sends the request again (same rid) and waits; for retries of idempotent requests.
  template <class Reply, class Request>
  Reply resend(const Request& request, std::chrono::milliseconds timeout) {
    return call<Reply>(request, timeout);
  }

  const std::string& endpoint() const { return endpoint_; }

 private:
  void send_raw(const std::string& command, const std::string& body);
  // The command and body of the reply whose rid is `rid`.
  std::pair<std::string, std::string> wait_for(const std::string& rid, std::chrono::milliseconds timeout);

  template <class Reply>
  Reply decode_reply(const std::string& command, const std::string& body) {
    if (command == proto::ErrorReply::command) {
      auto e = proto::decode<proto::ErrorReply>(body);
      if (!e) throw BadReply("unreadable ERROR reply: " + e.error().message);
      throw RequestFailed(e->error);
    }
    if (command != Reply::command) throw BadReply("unexpected reply " + command + " to " + std::string(Reply::command));
    auto r = proto::decode<Reply>(body);
    if (!r) throw BadReply("unreadable " + command + " reply: " + r.error().code + " " + r.error().message);
    return std::move(r).value();
  }

  zmq::socket_t socket_;
  std::string endpoint_;
  IdGenerator ids_;
};

// An event from the stream.
struct Event {
  std::string topic;
  std::string command;  // "JOB", "HEARTBEAT", "WORKER"
  std::optional<proto::JobEvent> job;
  std::optional<proto::Heartbeat> heartbeat;
  std::optional<proto::WorkerEvent> worker;
};

// A SUB socket on the broker's event stream (or several brokers' streams: connect() adds one).
// Subscribe before reading state you will then follow, so nothing that happens in between is
// missed.
//
// A broker with CURVE publishes under capability prefixes (docs/protocol.md 8.1): give the
// prefix its EVENTS_TOPIC request answered (events_prefix) to the constructor, or to
// add_prefix() for another broker's, and topics are then named and read without it
// ("job.acme.", not "<prefix>job.acme."): every topic subscribed is subscribed under every
// prefix, and a received topic loses the prefix it came under.
class Subscriber {
 public:
  Subscriber(zmq::context_t& context, const std::string& endpoint, const CurveClientKeys& keys = {},
             std::string prefix = {});
  // Also reads the event stream at `endpoint` (another broker's).
  void connect(const std::string& endpoint);
  // Also subscribes under `prefix` (another broker's capability prefix): the topics already
  // subscribed, and those subscribed from now on. A prefix already known changes nothing.
  void add_prefix(const std::string& prefix);
  void subscribe(const std::string& topic_prefix);
  void unsubscribe(const std::string& topic_prefix);
  // Waits up to `timeout` for one event; empty when none came. Unreadable messages are
  // skipped and counted.
  std::optional<Event> next(std::chrono::milliseconds timeout);
  std::uint64_t unreadable() const { return unreadable_; }

 private:
  zmq::socket_t socket_;
  std::vector<std::string> prefixes_;  // capability prefixes, longest first ("" = none)
  std::vector<std::string> topics_;    // subscribed, without prefix
  std::uint64_t unreadable_ = 0;
};

// The topic prefix the broker publishes this client's events under (EVENTS_TOPIC); "" without
// CURVE keys (no request is made) and from a broker that does not know the request. Throws
// what Client::call throws otherwise.
std::string events_prefix(Client& client, const CurveClientKeys& keys, std::chrono::milliseconds timeout);

}  // namespace qg::client

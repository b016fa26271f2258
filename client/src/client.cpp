#include "qg/client/client.hpp"

#include <algorithm>

#include <cerrno>

#include "qg/common/clock.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::client {

namespace {
constexpr std::size_t kMaxFrames = 8;
constexpr std::size_t kMaxBytes = 64u << 20;
}  // namespace

Client::Client(zmq::context_t& context, std::string endpoint, const CurveClientKeys& keys)
    : socket_(context, zmq::socket_type::dealer), endpoint_(std::move(endpoint)) {
  set_common_options(socket_);
  apply_curve(socket_, keys);
  set_zmq_heartbeats(socket_, std::chrono::milliseconds(1000), std::chrono::milliseconds(3000));
  socket_.connect(endpoint_);
}

std::string Client::new_rid() { return ids_.next(SystemClock::instance().now_ms()); }

void Client::send_raw(const std::string& command, const std::string& body) {
  // A DEALER queues while the connection is being made; dontwait only fails at the HWM.
  if (!send_multipart(socket_, {std::string(proto::kClientProtocol), command, body})) {
    throw BrokerUnreachable("cannot queue a request to the broker at " + endpoint_);
  }
}

std::pair<std::string, std::string> Client::wait_for(const std::string& rid, std::chrono::milliseconds timeout) {
  auto deadline = steady_ms() + timeout.count();
  while (true) {
    auto left = deadline - steady_ms();
    if (left <= 0) break;
    zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, std::chrono::milliseconds(left));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if ((items[0].revents & ZMQ_POLLIN) == 0) continue;
    while (auto message = recv_multipart(socket_, kMaxFrames, kMaxBytes)) {
      if (message->oversize) continue;
      auto envelope = proto::parse_envelope(message->frames, proto::kClientProtocol);
      if (!envelope) continue;
      if (proto::peek_rid(envelope->body) != rid) continue;  // a late reply to an earlier request
      return {envelope->command, envelope->body};
    }
  }
  throw BrokerUnreachable("no answer from the broker at " + endpoint_ + " within " +
                          std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s");
}

Subscriber::Subscriber(zmq::context_t& context, const std::string& endpoint, const CurveClientKeys& keys,
                       std::string prefix)
    : socket_(context, zmq::socket_type::sub), prefixes_{std::move(prefix)} {
  set_common_options(socket_);
  apply_curve(socket_, keys);
  set_zmq_heartbeats(socket_, std::chrono::milliseconds(1000), std::chrono::milliseconds(3000));
  socket_.set(zmq::sockopt::rcvhwm, 100000);
  socket_.connect(endpoint);
}

void Subscriber::connect(const std::string& endpoint) { socket_.connect(endpoint); }

void Subscriber::add_prefix(const std::string& prefix) {
  if (std::find(prefixes_.begin(), prefixes_.end(), prefix) != prefixes_.end()) return;
  for (const auto& topic : topics_) socket_.set(zmq::sockopt::subscribe, prefix + topic);
  prefixes_.push_back(prefix);
  // Longest first, so that stripping takes a real prefix before "".
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void Subscriber::subscribe(const std::string& topic_prefix) {
  for (const auto& prefix : prefixes_) socket_.set(zmq::sockopt::subscribe, prefix + topic_prefix);
  topics_.push_back(topic_prefix);
}

void Subscriber::unsubscribe(const std::string& topic_prefix) {
  for (const auto& prefix : prefixes_) socket_.set(zmq::sockopt::unsubscribe, prefix + topic_prefix);
  auto it = std::find(topics_.begin(), topics_.end(), topic_prefix);
  if (it != topics_.end()) topics_.erase(it);
}

std::string events_prefix(Client& client, const CurveClientKeys& keys, std::chrono::milliseconds timeout) {
  if (!keys.enabled()) return {};
  proto::EventsTopicRequest request;
  request.rid = client.new_rid();
  try {
    return client.call<proto::EventsTopicReply>(request, timeout).prefix;
  } catch (const RequestFailed& e) {
    if (e.error().code == proto::errc::unknown_command) return {};  // a broker from before capability topics
    throw;
  }
}

std::optional<Event> Subscriber::next(std::chrono::milliseconds timeout) {
  auto deadline = steady_ms() + timeout.count();
  while (true) {
    auto message = recv_multipart(socket_, kMaxFrames, kMaxBytes);
    if (!message) {
      auto left = deadline - steady_ms();
      if (left <= 0) return std::nullopt;
      zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 1, std::chrono::milliseconds(left));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
        return std::nullopt;  // let the caller look at its signal flags
      }
      continue;
    }
    const auto& f = message->frames;
    if (message->oversize || f.size() < 2) {
      ++unreadable_;
      continue;
    }
    auto envelope = proto::parse_envelope(std::span<const std::string>(f).subspan(1), proto::kEventProtocol);
    if (!envelope) {
      ++unreadable_;
      continue;
    }
    Event event;
    // Only subscribed topics arrive, each under one of the prefixes it was subscribed with.
    event.topic = f[0];
    for (const auto& prefix : prefixes_) {
      if (event.topic.compare(0, prefix.size(), prefix) == 0) {
        event.topic.erase(0, prefix.size());
        break;
      }
    }
    event.command = envelope->command;
    if (event.command == proto::JobEvent::command) {
      auto e = proto::decode<proto::JobEvent>(envelope->body);
      if (!e) {
        ++unreadable_;
        continue;
      }
      event.job = std::move(e).value();
    } else if (event.command == proto::Heartbeat::command) {
      auto e = proto::decode<proto::Heartbeat>(envelope->body);
      if (!e) {
        ++unreadable_;
        continue;
      }
      event.heartbeat = std::move(e).value();
    } else if (event.command == proto::WorkerEvent::command) {
      auto e = proto::decode<proto::WorkerEvent>(envelope->body);
      if (!e) {
        ++unreadable_;
        continue;
      }
      event.worker = std::move(e).value();
    }
    return event;
  }
}

}  // namespace qg::client

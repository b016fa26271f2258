// The event relay: events that workers and schedulers publish on the XSUB go out on the XPUB
// while someone subscribes, once they pass check_event (heartbeats passing through renew
// leases); the XPUB's subscription messages tell the broker whether anyone does;
// SubscribedSink sends this broker's own events (and its embedded scheduler's) on the XPUB,
// dropping them while nobody listens. Every event goes out under the topics EventTopics names
// (the capability prefixes with CURVE, event_topics.hpp) and without a lease id: leases are
// between workers and brokers, and no subscriber needs one. The sizes and queues of both
// sockets are bounded by settings.events (event_limits.hpp), set where the sockets are made
// (broker.cpp).
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <vector>

#include "auth/zap_handler.hpp"
#include "edge/connection_table.hpp"
#include "event_check.hpp"
#include "event_topics.hpp"
#include "qg/broker/broker.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {
namespace {

constexpr std::int64_t kForeignSubscriptionLogIntervalMs = 10000;
// How long a key that subscribed across the capabilities is refused on events-out.
constexpr auto kForeignSubscriptionBar = std::chrono::seconds(60);

// Shuts down the connection a message came in on: libzmq names its descriptor ("__fd", the
// property behind ZMQ_SRCFD) and its peer address on every message. The descriptor is checked
// to still be connected to that address, so that a number reused since is left alone. True
// when it was shut down (libzmq then sees the end of the stream and closes it).
bool shut_down_connection_of(const zmq::message_t& message) {
  auto* handle = const_cast<zmq_msg_t*>(message.handle());
  const char* fd_text = zmq_msg_gets(handle, "__fd");
  const char* address = zmq_msg_gets(handle, "Peer-Address");
  if (fd_text == nullptr || address == nullptr) return false;
  int fd = -1;
  const std::string_view text(fd_text);
  if (std::from_chars(text.data(), text.data() + text.size(), fd).ec != std::errc() || fd < 0) return false;
  if (peer_address_of(fd) != address) return false;
  return ::shutdown(fd, SHUT_RDWR) == 0;
}

// The body of a WORKER event without its lease id (the body itself when it has none or does
// not decode: check_event decides what is relayed, not this).
std::string without_lease(std::string body) {
  auto event = proto::decode<proto::WorkerEvent>(body);
  if (!event || event->lease_id.empty()) return body;
  event->lease_id.clear();
  return proto::encode(*event);
}

}  // namespace

bool Broker::on_events_in() {
  // An event is four frames; more are drained without being kept. No frame is over
  // events.max_event_bytes (ZMQ_MAXMSGSIZE on the XSUB); the total is checked here.
  std::array<zmq::message_t, 4> frames;
  zmq::message_t extra;
  if (!events_in_.recv(frames[0], zmq::recv_flags::dontwait)) return false;
  std::size_t count = 1;
  std::size_t total = frames[0].size();
  bool more = frames[0].more();
  while (more) {
    zmq::message_t& frame = count < frames.size() ? frames[count] : extra;
    (void)events_in_.recv(frame, zmq::recv_flags::none);
    ++count;
    total += frame.size();
    more = frame.more();
  }
  if (count != frames.size() || total > settings_.events.max_event_bytes) {
    ++counters_.events_dropped;
    return true;  // not an event of ours: not forwarded
  }
  // Who published it: local without CURVE, else the user id its key was admitted with (read
  // once; a user id that does not parse is not ours, and the event is dropped).
  const auto peer = peer_of(frames[0]);
  if (!peer || (identity_required_ && peer->is_local())) {
    ++counters_.events_dropped;
    return true;
  }
  // Heartbeats are always checked (passing through, they renew leases: any traffic from a
  // worker keeps its lease); other events only when someone would receive them.
  const auto command = frames[2].to_string_view();
  const bool heartbeat = command == proto::Heartbeat::command;
  if (!heartbeat && !has_subscribers()) return true;
  auto checked = check_event(frames[0].to_string_view(), frames[1].to_string_view(), command,
                             frames[3].to_string_view(), settings_.limits, *peer);
  if (!checked) {
    ++counters_.events_dropped;
    return true;
  }
  if (checked->heartbeat && !checked->heartbeat->lease_id.empty()) {
    renew_lease(checked->heartbeat->worker_id, checked->heartbeat->lease_id);
  }
  if (!has_subscribers()) return true;
  // The lease id stays here: a body that names one goes out again without it.
  std::string stripped;
  if (checked->heartbeat && !checked->heartbeat->lease_id.empty()) {
    checked->heartbeat->lease_id.clear();
    stripped = proto::encode(*checked->heartbeat);
  } else if (checked->worker && !checked->worker->lease_id.empty()) {
    checked->worker->lease_id.clear();
    stripped = proto::encode(*checked->worker);
  }
  ++counters_.events_forwarded;
  if (stripped.empty() && !topics_->capabilities()) {
    // The common case without CURVE: the frames as they came, nothing copied.
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      try {
        (void)events_out_.send(frames[i], flags);
      } catch (const zmq::error_t&) {
        break;
      }
    }
    return true;
  }
  publish_event(frames[0].to_string_view(), frames[1].to_string_view(), command,
                stripped.empty() ? frames[3].to_string_view() : std::string_view(stripped));
  return true;
}

void Broker::publish_event(std::string_view topic, std::string_view protocol, std::string_view command,
                           std::string_view body) {
  topics_->each_topic(topic, [&](std::string_view out_topic) {
    const std::array<std::string_view, 4> frames = {out_topic, protocol, command, body};
    (void)send_frames(events_out_, frames);
  });
}

bool Broker::on_events_out() {
  // Subscription changes from subscribers: one frame, 1 (subscribe) or 0 (unsubscribe) and
  // the topic prefix. Without CURVE the XPUB passes on only the first subscription to a prefix
  // and the last unsubscription from it (also when a subscriber disconnects); with it, every
  // one (ZMQ_XPUB_VERBOSER, set in curve_edge.cpp), so that each subscription to a prefix of
  // every capability is seen with its key. Either way the map holds the prefixes someone
  // listens to. The upstream XSUB already subscribes to everything: they are not forwarded.
  zmq::message_t frame;
  if (!events_out_.recv(frame, zmq::recv_flags::dontwait)) return false;
  const bool single = !frame.more();
  while (frame.more()) (void)events_out_.recv(frame, zmq::recv_flags::none);  // not ours: drained
  if (!single || frame.size() == 0) return true;
  const auto* bytes = static_cast<const char*>(frame.data());
  std::string topic(bytes + 1, frame.size() - 1);
  if (bytes[0] == 1) {
    if (topics_->spans_capabilities(topic)) note_foreign_subscription(frame, topic);
    ++subscriptions_[std::move(topic)];
  } else if (bytes[0] == 0) {
    auto it = subscriptions_.find(topic);
    if (it != subscriptions_.end() && --it->second == 0) subscriptions_.erase(it);
  }
  return true;
}

void Broker::note_foreign_subscription(const zmq::message_t& frame, const std::string& topic) {
  const auto peer = peer_of(frame);
  if (peer && peer->is_admin()) return;  // an admin key receives everything anyway
  ++counters_.foreign_subscriptions;
  // The XPUB cannot drop the subscription, but the connection can go: at once, and the key's
  // next handshakes on events-out are refused for a while (it would reconnect and subscribe
  // again). What was published between the subscription and now may have reached it.
  const bool shut = shut_down_connection_of(frame);
  if (zap_ && peer && !peer->user_id().empty()) {
    zap_->bar_from_events(peer->user_id(), std::chrono::steady_clock::now() + kForeignSubscriptionBar);
  }
  const auto now = steady_ms();
  if (last_foreign_subscription_log_ms_ != 0 &&
      now - last_foreign_subscription_log_ms_ < kForeignSubscriptionLogIntervalMs) {
    return;
  }
  last_foreign_subscription_log_ms_ = now;
  std::string shown = topic.substr(0, 40);
  for (auto& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  log_->warn(
      "events-out: {} subscribed to \"{}\", a prefix of every org's event topics; {} and the key is refused on "
      "events-out for {} s. Revoke the key (remove its file, then systemctl reload qg-broker) if this goes on "
      "({} such subscriptions so far)",
      peer ? (peer->user_id().empty() ? std::string("a peer without a key") : "key " + peer->user_id())
           : std::string("a peer with an unreadable identity"),
      shown, shut ? "its connection was closed" : "its connection could not be closed",
      std::chrono::duration_cast<std::chrono::seconds>(kForeignSubscriptionBar).count(),
      counters_.foreign_subscriptions.load());
}

void Broker::SubscribedSink::send(std::vector<std::string> frames) {
  if (!broker_.has_subscribers() || frames.size() != 4) return;
  if (frames[2] == proto::WorkerEvent::command) frames[3] = without_lease(std::move(frames[3]));
  ++broker_.counters_.events_published;  // before the send: a subscriber that has it sees the count
  broker_.publish_event(frames[0], frames[1], frames[2], frames[3]);
}

}  // namespace qg::broker

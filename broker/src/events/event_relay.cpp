// The event relay: events that workers and schedulers publish on the XSUB go out on the XPUB
// while someone subscribes, once they pass check_event (heartbeats passing through renew
// leases); the XPUB's subscription messages tell the broker whether anyone does;
// SubscribedSink sends this broker's own events (and its embedded scheduler's) on the XPUB,
// dropping them while nobody listens. The sizes and queues of both sockets are bounded by
// settings.events (event_limits.hpp), set where the sockets are made (broker.cpp).
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "event_check.hpp"
#include "qg/broker/broker.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {

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
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
    try {
      (void)events_out_.send(frames[i], flags);
    } catch (const zmq::error_t&) {
      break;
    }
  }
  ++counters_.events_forwarded;
  return true;
}

bool Broker::on_events_out() {
  // Subscription changes from subscribers: one frame, 1 (subscribe) or 0 (unsubscribe) and
  // the topic prefix. The XPUB passes on only the first subscription to a prefix and the
  // last unsubscription from it (also when a subscriber disconnects), so the map holds the
  // prefixes someone listens to. The upstream XSUB already subscribes to everything: they
  // are not forwarded.
  zmq::message_t frame;
  if (!events_out_.recv(frame, zmq::recv_flags::dontwait)) return false;
  const bool single = !frame.more();
  while (frame.more()) (void)events_out_.recv(frame, zmq::recv_flags::none);  // not ours: drained
  if (!single || frame.size() == 0) return true;
  const auto* bytes = static_cast<const char*>(frame.data());
  std::string topic(bytes + 1, frame.size() - 1);
  if (bytes[0] == 1) {
    ++subscriptions_[std::move(topic)];
  } else if (bytes[0] == 0) {
    auto it = subscriptions_.find(topic);
    if (it != subscriptions_.end() && --it->second == 0) subscriptions_.erase(it);
  }
  return true;
}

void Broker::SubscribedSink::send(std::vector<std::string> frames) {
  if (!broker_.has_subscribers()) return;
  std::array<std::string_view, 8> views{};
  const std::size_t n = std::min(frames.size(), views.size());
  for (std::size_t i = 0; i < n; ++i) views[i] = frames[i];
  ++broker_.counters_.events_published;  // before the send: a subscriber that has it sees the count
  (void)send_frames(broker_.events_out_, std::span<const std::string_view>(views.data(), n));
}

}  // namespace qg::broker

// The event relay: events that workers and schedulers publish on the XSUB go out on the XPUB
// while someone subscribes (heartbeats passing through renew leases); the XPUB's subscription
// messages tell the broker whether anyone does; SubscribedSink sends this broker's own events
// (and its embedded scheduler's) on the XPUB, dropping them while nobody listens.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "qg/broker/broker.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {

bool Broker::on_events_in() {
  zmq::message_t frame;
  std::vector<zmq::message_t> frames;
  std::size_t total = 0;
  bool more = true;
  if (!events_in_.recv(frame, zmq::recv_flags::dontwait)) return false;
  while (true) {
    total += frame.size();
    more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
    (void)events_in_.recv(frame, zmq::recv_flags::none);
  }
  if (frames.size() != 4 || total > settings_.limits.max_message_bytes) {
    ++counters_.rejected;
    return true;  // not an event of ours: not forwarded
  }
  // Heartbeats passing through renew leases: any traffic from a worker keeps its lease.
  const auto topic = frames[0].to_string_view();
  if (topic.substr(0, 3) == "hb." && frames[2].to_string_view() == proto::Heartbeat::command) {
    auto hb = proto::decode<proto::Heartbeat>(frames[3].to_string_view(), settings_.limits);
    if (hb && !hb->lease_id.empty()) renew_lease(hb->worker_id, hb->lease_id);
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

// check_event(): the protocol, command, body and topic of an event from the XSUB.
#include "event_check.hpp"

namespace qg::broker {
namespace {

// topic == prefix + id, with a non-empty id.
bool topic_is(std::string_view topic, std::string_view prefix, std::string_view id) {
  return !id.empty() && topic.size() == prefix.size() + id.size() && topic.substr(0, prefix.size()) == prefix &&
         topic.substr(prefix.size()) == id;
}

// An event about `worker_id` (empty: none) from `publisher`: a worker key speaks only for its
// own worker id; the scheduler (`from_scheduler`) and local publishers for anyone.
bool may_publish(const PeerIdentity& publisher, std::string_view worker_id, bool from_scheduler) {
  if (publisher.is_local()) return true;
  if (publisher.role() == PeerRole::scheduler) return from_scheduler;
  return publisher.role() == PeerRole::worker && publisher.id() == worker_id;
}

}  // namespace

std::optional<CheckedEvent> check_event(std::string_view topic, std::string_view protocol, std::string_view command,
                                        std::string_view body, const proto::Limits& limits,
                                        const PeerIdentity& publisher) {
  if (protocol != proto::kEventProtocol) return std::nullopt;
  if (command == proto::Heartbeat::command) {
    auto hb = proto::decode<proto::Heartbeat>(body, limits);
    if (!hb || !topic_is(topic, "hb.", hb->worker_id)) return std::nullopt;
    if (!may_publish(publisher, hb->worker_id, false)) return std::nullopt;
    return CheckedEvent{std::move(hb).value(), std::nullopt};
  }
  if (command == proto::JobEvent::command) {
    auto event = proto::decode<proto::JobEvent>(body, limits);
    if (!event || event->org_id.empty() || event->org_id.find('.') != std::string::npos) return std::nullopt;
    // "job.<org_id>.<job_id>"
    const std::string_view org = event->org_id;
    if (topic.size() < 4 + org.size() + 1 || topic.substr(0, 4) != "job." || topic.substr(4, org.size()) != org ||
        !topic_is(topic.substr(4 + org.size()), ".", event->job_id)) {
      return std::nullopt;
    }
    if (!may_publish(publisher, event->worker_id, true)) return std::nullopt;
    return CheckedEvent{std::nullopt, std::nullopt};
  }
  if (command == proto::WorkerEvent::command) {
    auto event = proto::decode<proto::WorkerEvent>(body, limits);
    if (!event || !topic_is(topic, "worker.", event->worker_id)) return std::nullopt;
    if (!may_publish(publisher, event->worker_id, true)) return std::nullopt;
    return CheckedEvent{std::nullopt, std::move(event).value()};
  }
  return std::nullopt;  // not an event of the protocol
}

}  // namespace qg::broker

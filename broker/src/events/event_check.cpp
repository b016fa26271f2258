// check_event(): the protocol, command, body and topic of an event from the XSUB.
#include "event_check.hpp"

#include "qg/common/plain_text.hpp"
#include "qg/proto/field_rules.hpp"

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

// The rules of an optional id field: empty, or a valid id.
bool empty_or(std::string_view value, std::optional<proto::Error> (*rule)(std::string_view, std::string_view)) {
  return value.empty() || !rule(value, "");
}

// The fields subscribers print, held to the rules requests are held to: ids as ids, a test path
// as a test path, free text (sources, states, messages, group keys) as one line of plain text.
// No legitimate publisher breaks them; text made to drive a terminal does.
bool fields_follow_rules(const proto::JobEvent& e) {
  return !proto::check_id(e.job_id, "") && !proto::check_org_id(e.org_id) &&
         (e.app_version_id.empty() || !proto::check_app_version_id(e.app_version_id)) &&
         empty_or(e.worker_id, proto::check_id) && empty_or(e.test_path, proto::check_test_path) &&
         is_plain_text(e.source) && is_plain_text(e.message);
}

bool fields_follow_rules(const proto::WorkerEvent& e) {
  return !proto::check_id(e.worker_id, "") && empty_or(e.lease_id, proto::check_id) && is_plain_text(e.source) &&
         is_plain_text(e.state);
}

// A heartbeat's ids and device id are checked as it decodes.
bool fields_follow_rules(const proto::Heartbeat& hb) {
  for (const auto& job : hb.jobs) {
    if (proto::check_id(job.job_id, "")) return false;
  }
  return is_plain_text(hb.state) && is_plain_text(hb.group_key);
}

}  // namespace

std::optional<CheckedEvent> check_event(std::string_view topic, std::string_view protocol, std::string_view command,
                                        std::string_view body, const proto::Limits& limits,
                                        const PeerIdentity& publisher) {
  if (protocol != proto::kEventProtocol) return std::nullopt;
  if (command == proto::Heartbeat::command) {
    auto hb = proto::decode<proto::Heartbeat>(body, limits);
    if (!hb || !topic_is(topic, "hb.", hb->worker_id) || !fields_follow_rules(*hb)) return std::nullopt;
    if (!may_publish(publisher, hb->worker_id, false)) return std::nullopt;
    return CheckedEvent{std::move(hb).value(), std::nullopt};
  }
  if (command == proto::JobEvent::command) {
    auto event = proto::decode<proto::JobEvent>(body, limits);
    if (!event || !fields_follow_rules(*event)) return std::nullopt;
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
    if (!event || !topic_is(topic, "worker.", event->worker_id) || !fields_follow_rules(*event)) return std::nullopt;
    if (!may_publish(publisher, event->worker_id, true)) return std::nullopt;
    return CheckedEvent{std::nullopt, std::move(event).value()};
  }
  return std::nullopt;  // not an event of the protocol
}

}  // namespace qg::broker

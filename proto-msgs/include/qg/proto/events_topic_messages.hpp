#pragma once
// qgjob wire protocol v1: EVENTS_TOPIC, which tells a client the prefix it subscribes under.
// Part of messages.hpp, which includes it; docs/protocol.md 6.10 and 8.1 are normative.

#include <string>
#include <string_view>

namespace qg::proto {

// The topic prefix under which this connection receives events (docs/protocol.md 8.1). With
// CURVE the broker publishes each event under unguessable capability prefixes (an org's own,
// and the administrators'); a subscriber subscribes to "<prefix>job.", "<prefix>hb." and so
// on. Empty without CURVE: topics are as listed under "Events".
struct EventsTopicRequest {
  static constexpr std::string_view command = "EVENTS_TOPIC";
  std::string rid;
};
struct EventsTopicReply {
  static constexpr std::string_view command = "EVENTS_TOPIC";
  std::string rid;
  std::string prefix;
};

}  // namespace qg::proto

#pragma once
// The check an event read from the XSUB passes before it is relayed to subscribers or renews
// a lease: subscribers receive only well-formed events of the protocol, each under the topic
// its own body names, so that no publisher can put an event under another org's or another
// worker's topic, with ids that are ids and text that is plain; and, with CURVE, only events
// its publisher's key may send, so that no worker can speak for another (a heartbeat renews
// leases).

#include <optional>
#include <string_view>

#include "qg/broker/peer_identity.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {

// An event that passed. `heartbeat` holds a heartbeat's body (its lease is renewed), `worker`
// a WORKER event's (both are relayed without their lease id).
struct CheckedEvent {
  std::optional<proto::Heartbeat> heartbeat;
  std::optional<proto::WorkerEvent> worker;
};

// Checks the four frames of an event: protocol QGE1; command HEARTBEAT, JOB or WORKER with a
// body that decodes under `limits`; and a topic equal to "hb.<worker_id>",
// "job.<org_id>.<job_id>" (an org id without '.', as topic prefixes need) or
// "worker.<worker_id>" of that body; the fields subscribers print held to the rules requests
// are (ids, org id, app version id and test path by field_rules.hpp; sources, states, messages
// and group keys one line of plain text, qg/common/plain_text.hpp), so that no event carries
// text made to drive a terminal. And `publisher` must be allowed to send it: local (no
// CURVE) anything; a worker key a HEARTBEAT, WORKER or JOB event naming its own worker id; a
// scheduler key WORKER and JOB events; nobody else anything. Empty optional when the event is
// to be dropped. Never throws for any input.
std::optional<CheckedEvent> check_event(std::string_view topic, std::string_view protocol, std::string_view command,
                                        std::string_view body, const proto::Limits& limits,
                                        const PeerIdentity& publisher = {});

}  // namespace qg::broker

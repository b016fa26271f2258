#pragma once
// Bounds of the broker's event plane: the XSUB that workers and schedulers publish events to
// and the XPUB that subscribers read them from. With these, the memory the event plane holds
// is at most about hwm x max_event_bytes per connected publisher and per subscriber, and no
// subscription is longer than max_subscription_bytes.

#include <cstddef>
#include <cstdint>

namespace qg::broker {

struct EventLimits {
  // The largest event, all its frames together. ZMQ_MAXMSGSIZE on the XSUB: a publisher that
  // sends a larger frame has its connection closed by libzmq before the frame is read into
  // memory (it reconnects; what it had queued is lost, as PUB delivery allows). A message
  // under the frame limit but over this in total is dropped and counted by the broker.
  // 16 KiB holds the largest heartbeat of a group of 50 jobs (the default --group-max) with
  // every id at its longest (9,284 bytes; about 170 more per job); the broker raises it at
  // start when --group-max needs more (min_event_bytes).
  std::size_t max_event_bytes = 16u << 10;
  // The longest subscription prefix. ZMQ_MAXMSGSIZE on the XPUB (one byte more, for the
  // subscribe flag): a longer subscription closes the subscriber's connection before it is
  // stored. The longest legitimate one, "job.<org_id>.<job_id>", is 4 + 64 + 1 + 128 bytes.
  // With CURVE the XPUB's limit is at least 512 bytes, the size a handshake needs, so only
  // authenticated subscribers may then subscribe up to 511 bytes.
  std::size_t max_subscription_bytes = 256;
  // Events queued per subscriber (XPUB SNDHWM; past it that subscriber misses events, which
  // its sequence numbers show) and per publisher (XSUB RCVHWM; past it the broker stops
  // reading that connection until it catches up). A multipart event counts once.
  int hwm = 1000;
};

// The bytes an event needs at most, all frames together, when a group holds up to
// `group_max` jobs: the larger of the largest heartbeat a worker sends for such a group
// (every id at the protocol's 128-byte limit) and the largest job event. Measured by
// encoding those messages.
std::size_t min_event_bytes(std::uint32_t group_max);

}  // namespace qg::broker

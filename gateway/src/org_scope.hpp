#pragma once
// What an `org` caller may see of a reply, by the rules the broker applies to an org key
// (docs/protocol.md 2.1). The gateway reaches the broker with its own key, which sees every
// org, so it narrows the answers itself. For `admin` and `local` callers each function leaves
// the reply as it is.

#include "auth.hpp"
#include "qg/proto/messages.hpp"

namespace qg::gateway {

// Only the org's groups; by_status and by_priority emptied (they count every org).
void scope_queue(proto::QueueReply& reply, const Caller& caller);
// Every worker (devices are shared), but another org's group_key emptied and `installed`
// narrowed to the org's builds.
void scope_workers(proto::WorkersReply& reply, const Caller& caller);
// by_org holds the org alone; the farm-wide figures are zero or empty.
void scope_stats(proto::StatsReply& reply, const Caller& caller);
// queue_depth is 0 (a farm-wide figure).
void scope_health(proto::HealthReply& reply, const Caller& caller);

}  // namespace qg::gateway

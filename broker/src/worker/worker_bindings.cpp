// Which connection speaks for each worker id. Every worker message names a worker id; it is
// served only when
//   1. the connection's key may speak as that worker (PeerIdentity::is_worker: its own worker
//      key, or any peer without CURVE), else FORBIDDEN naming `worker_id`; and
//   2. no other live connection holds that id on this broker, else CONFLICT naming
//      `worker_id`, logged once per refused connection.
// The first message that passes binds the id to its connection; BYE unbinds it. A holder has
// died, and the next connection takes over, when it has sent nothing for
// kSilentHeartbeats heartbeat intervals or when a message to it cannot be routed
// (ZMQ_ROUTER_MANDATORY's EHOSTUNREACH: its connection is closed). To learn the latter, a
// competing claim makes the broker send the holder an ERROR CONFLICT with an empty rid (at
// most one a heartbeat interval), telling a live worker that another connection claims its
// id.
//
// Cost per message: one hash lookup and a string comparison; nothing allocated once a worker
// is bound.
#include <string>

#include "qg/common/zmq_util.hpp"
#include "routing.hpp"

namespace qg::broker {

namespace {

// A holder that sent nothing for this many heartbeat intervals is taken for dead (a live
// worker sends a heartbeat every interval; its lease lasts ten).
constexpr std::int64_t kSilentHeartbeats = 3;

}  // namespace

bool Broker::admit_worker(const Incoming& in, const std::string& worker_id, const std::string& rid) {
  if (!in.peer.is_worker(worker_id)) {
    error_to(in.socket, in.protocol, in.identity, rid, proto::errc::forbidden,
             "this connection's key is not worker " + worker_id, "worker_id");
    return false;
  }
  auto [it, fresh] = worker_bindings_.try_emplace(worker_id);
  auto& binding = it->second;
  if (fresh) binding.identity = in.identity;
  if (fresh || binding.identity == in.identity) {
    binding.heard_ms = in.now;
    return true;
  }
  const char* why = holder_gone(worker_id, binding, in.now);
  if (why == nullptr) {
    if (binding.refused != in.identity) {
      binding.refused = in.identity;
      log_->warn("refused worker {} on a second connection: it is live on another ({} ms since its last message)",
                 worker_id, in.now - binding.heard_ms);
    }
    error_to(in.socket, in.protocol, in.identity, rid, proto::errc::conflict,
             "worker " + worker_id + " is connected on another connection", "worker_id");
    return false;
  }
  log_->info("worker {} continues on a new connection ({})", worker_id, why);
  // Pulls the old connection left cannot be answered any more.
  std::erase_if(held_pulls_, [&](const HeldPull& held) { return held.identity == binding.identity; });
  std::erase_if(pending_pulls_, [&](const HeldPull& p) { return p.identity == binding.identity; });
  binding.identity = in.identity;
  binding.heard_ms = in.now;
  binding.refused.clear();
  return true;
}

const char* Broker::holder_gone(const std::string& worker_id, WorkerBinding& binding, std::int64_t now) {
  const auto heartbeat = settings_.heartbeat.count();
  if (now - binding.heard_ms >= kSilentHeartbeats * heartbeat) return "the previous one went silent";
  if (now - binding.probed_ms < heartbeat) return nullptr;
  binding.probed_ms = now;
  proto::ErrorReply probe;
  probe.error.code = std::string(proto::errc::conflict);
  probe.error.message = "another connection claims worker " + worker_id;
  probe.error.field = "worker_id";
  if (send_routed(workers_, binding.identity, proto::kWorkerProtocol, proto::ErrorReply::command,
                  proto::encode(probe))) {
    return nullptr;
  }
  return "the previous one is closed";
}

}  // namespace qg::broker

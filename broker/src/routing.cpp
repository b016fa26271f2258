// The ROUTER edge shared by clients and workers: receiving a whole request and checking its
// envelope, sending replies and structured errors, and answering a batch of requests whose
// one store call failed. Every reply goes through send_routed(), which keeps the loop's
// record of sockets that may hold unread messages. (Templates on every message's path are
// in routing.hpp.)
#include "routing.hpp"

#include <array>

#include "qg/common/zmq_util.hpp"

namespace qg::broker {

std::optional<Broker::Request> Broker::receive_request(zmq::socket_t& socket, std::string_view protocol) {
  auto message = recv_multipart(socket, settings_.limits.max_frames + 2, settings_.limits.max_message_bytes);
  if (!message) return std::nullopt;
  Request request;
  request.rejected = true;
  if (message->frames.empty()) return request;  // a ROUTER always gives the identity; nothing to answer
  request.identity = std::move(message->frames.front());
  if (!message->user_id.empty()) {
    auto peer = PeerIdentity::parse(std::move(message->user_id));
    if (!peer) {
      // Only a ZAP handler other than ours could give such a user id.
      log_->error("refused a message whose connection's user id is not understood");
      error_to(socket, protocol, request.identity, "", proto::errc::internal, "connection identity not understood");
      return request;
    }
    request.peer = std::move(*peer);
  } else if (identity_required_) {
    ++counters_.unidentified;
    error_to(socket, protocol, request.identity, "", proto::errc::internal, "connection without an identity");
    return request;
  }
  if (message->oversize) {
    error_to(socket, protocol, request.identity, "", proto::errc::too_large,
             "message exceeds " + std::to_string(settings_.limits.max_message_bytes) + " bytes or " +
                 std::to_string(settings_.limits.max_frames) + " frames");
    return request;
  }
  std::span<std::string> rest(message->frames.data() + 1, message->frames.size() - 1);
  auto envelope = proto::take_envelope(rest, protocol, settings_.limits);
  if (!envelope) {
    error_to(socket, protocol, request.identity, "", envelope.error().code, envelope.error().message,
             envelope.error().field);
    return request;
  }
  request.envelope = std::move(envelope).value();
  request.rejected = false;
  return request;
}

void Broker::reject(const Incoming& in, const proto::Error& error) {
  error_to(in.socket, in.protocol, in.identity, proto::peek_rid(in.envelope.body, settings_.limits), error.code,
           error.message, error.field);
}

bool Broker::send_routed(zmq::socket_t& socket, const std::string& identity, std::string_view protocol,
                         std::string_view command, const std::string& body) {
  const std::array<std::string_view, 4> frames = {identity, protocol, command, body};
  // A send may take in commands that make messages readable without the fd firing again.
  unread_[&socket == &clients_ ? kClients : kWorkers] = true;
  return send_frames(socket, frames);
}

void Broker::error_to(zmq::socket_t& socket, std::string_view protocol, const std::string& identity,
                      const std::string& rid, std::string_view code, std::string message, std::string field) {
  ++counters_.rejected;
  proto::ErrorReply reply;
  reply.rid = rid;
  reply.error.code = std::string(code);
  reply.error.message = std::move(message);
  reply.error.field = std::move(field);
  if (!send_routed(socket, identity, protocol, proto::ErrorReply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
  log_->debug("rejected request: {} {}", reply.error.code, reply.error.message);
}

bool Broker::batch_store_call(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                              std::span<const BatchPeer> peers, const std::function<void()>& call) {
  try {
    call();
    note_store_reachable();
    return true;
  } catch (const StoreUnavailable& e) {
    fail_batch(socket, protocol, command, peers, StoreFailure::unavailable, e.what());
  } catch (const StoreFull& e) {
    fail_batch(socket, protocol, command, peers, StoreFailure::full, e.what());
  } catch (const std::exception& e) {
    fail_batch(socket, protocol, command, peers, StoreFailure::internal, e.what());
  }
  return false;
}

void Broker::note_store_reachable() {
  confirm_store_reachable();
  if (store_full_) {
    store_full_ = false;
    log_->info("store accepts writes again");
  }
}

void Broker::confirm_store_reachable() {
  if (!store_down_) return;
  const auto now = steady_ms();
  if (now < next_store_probe_steady_ms_) return;
  next_store_probe_steady_ms_ = now + 1000;
  if (!store().ping()) return;
  store_down_ = false;
  log_->info("store reachable again");
}

void Broker::note_store_unreachable(std::string_view why) {
  ++counters_.store_unavailable;
  if (!store_down_) log_->error("store unreachable: {}", why);
  store_down_ = true;
  // The store just failed: not asked again at once (a store that hangs would hold the loop).
  next_store_probe_steady_ms_ = steady_ms() + 1000;
}

void Broker::fail_batch(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                        std::span<const BatchPeer> peers, StoreFailure failure, const std::string& why) {
  if (failure == StoreFailure::unavailable) {
    note_store_unreachable(why);
  } else if (failure == StoreFailure::full) {
    if (!store_full_) log_->error("refusing {}: {}", command, why);
    store_full_ = true;
  } else {
    log_->error("internal error serving {}: {}", command, why);
  }
  for (const auto& peer : peers) {
    if (failure == StoreFailure::unavailable) {
      error_to(socket, protocol, *peer.identity, *peer.rid, proto::errc::unavailable,
               "store unreachable, retry later: " + why);
    } else if (failure == StoreFailure::full) {
      error_to(socket, protocol, *peer.identity, *peer.rid, proto::errc::store_full, why);
    } else {
      error_to(socket, protocol, *peer.identity, *peer.rid, proto::errc::internal, "internal error: " + why);
    }
  }
}

}  // namespace qg::broker

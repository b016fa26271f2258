// Parsing the ZAP user id into a PeerIdentity (contract in peer_identity.hpp).
#include "qg/broker/peer_identity.hpp"

#include <zmq.h>

#include "qg/proto/field_rules.hpp"

namespace qg::broker {
namespace {

constexpr std::string_view kOrgPrefix = "org:";
constexpr std::string_view kWorkerPrefix = "worker:";

}  // namespace

std::string_view role_name(PeerRole role) noexcept {
  switch (role) {
    case PeerRole::local:
      return "local";
    case PeerRole::admin:
      return "admin";
    case PeerRole::org:
      return "org";
    case PeerRole::worker:
      return "worker";
    case PeerRole::scheduler:
      return "scheduler";
  }
  return "local";
}

std::optional<PeerIdentity> PeerIdentity::parse(std::string user_id) {
  PeerIdentity peer;
  const std::string_view text = user_id;
  if (text == "admin") {
    peer.role_ = PeerRole::admin;
  } else if (text == "scheduler") {
    peer.role_ = PeerRole::scheduler;
  } else if (text.starts_with(kOrgPrefix)) {
    if (proto::check_org_id(text.substr(kOrgPrefix.size()))) return std::nullopt;
    peer.role_ = PeerRole::org;
    peer.id_offset_ = static_cast<std::uint8_t>(kOrgPrefix.size());
  } else if (text.starts_with(kWorkerPrefix)) {
    if (proto::check_id(text.substr(kWorkerPrefix.size()), "worker_id")) return std::nullopt;
    peer.role_ = PeerRole::worker;
    peer.id_offset_ = static_cast<std::uint8_t>(kWorkerPrefix.size());
  } else {
    return std::nullopt;
  }
  peer.user_id_ = std::move(user_id);
  return peer;
}

std::optional<PeerIdentity> PeerIdentity::make(PeerRole role, std::string_view id) {
  switch (role) {
    case PeerRole::local:
      return id.empty() ? std::optional<PeerIdentity>(PeerIdentity{}) : std::nullopt;
    case PeerRole::admin:
    case PeerRole::scheduler:
      if (!id.empty()) return std::nullopt;
      return parse(std::string(role_name(role)));
    case PeerRole::org:
      return parse(std::string(kOrgPrefix) + std::string(id));
    case PeerRole::worker:
      return parse(std::string(kWorkerPrefix) + std::string(id));
  }
  return std::nullopt;
}

std::optional<PeerIdentity> peer_of(const zmq::message_t& message) {
  // zmq_msg_gets, not message_t::gets: that throws when the property is absent, which is
  // every message of a connection without CURVE.
  const char* user_id = zmq_msg_gets(const_cast<zmq_msg_t*>(message.handle()), "User-Id");
  if (user_id == nullptr || *user_id == '\0') return PeerIdentity{};
  return PeerIdentity::parse(user_id);
}

}  // namespace qg::broker

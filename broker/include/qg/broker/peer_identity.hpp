#pragma once
// PeerIdentity: who sent a message, as its connection authenticated. With CURVE on, the ZAP
// handler (broker/src/auth/) answers each handshake with a user id taken from the key file,
// and libzmq attaches it to every message of that connection as the "User-Id" property:
//   "admin"          an administrator's client key: every org
//   "org:<org_id>"   a client key of one org
//   "worker:<id>"    a worker key: that worker id only
//   "scheduler"      a scheduler key: publishes events (qg-scheduler)
// Without CURVE there is no such property and the peer is `local`: the broker then binds
// loopback only (exposure.hpp), and a local peer may do everything, as before keys existed.
//
// A PeerIdentity keeps the user id string it was parsed from (one short string per message)
// and a view of its id part into it; it is a value, safe to copy and move.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

namespace qg::broker {

enum class PeerRole : std::uint8_t { local, admin, org, worker, scheduler };

// "local", "admin", "org", "worker" or "scheduler".
std::string_view role_name(PeerRole role) noexcept;

class PeerIdentity {
 public:
  PeerIdentity() = default;  // local: no authentication on the connection

  // Parses a ZAP user id strictly: exactly one of the four forms above, the org id by
  // proto::check_org_id, the worker id by proto::check_id. Empty optional for anything else
  // (the empty string included: a connection without a user id is local, see of_message).
  static std::optional<PeerIdentity> parse(std::string user_id);
  // The identity of a peer with `role` and, for org and worker, `id` (checked as parse()
  // checks it); empty optional when they do not make one.
  static std::optional<PeerIdentity> make(PeerRole role, std::string_view id = {});

  PeerRole role() const noexcept { return role_; }
  // The org id (org) or worker id (worker); empty for the other roles.
  std::string_view id() const noexcept {
    return id_offset_ == 0 ? std::string_view() : std::string_view(user_id_).substr(id_offset_);
  }
  // The string the ZAP handler answers with ("org:acme"); empty for local.
  const std::string& user_id() const noexcept { return user_id_; }

  bool is_local() const noexcept { return role_ == PeerRole::local; }
  bool is_admin() const noexcept { return role_ == PeerRole::admin; }
  // True when the peer may act as the org `org_id`: local and admin act for every org.
  bool acts_for_org(std::string_view org_id) const noexcept {
    return role_ == PeerRole::local || role_ == PeerRole::admin || (role_ == PeerRole::org && id() == org_id);
  }
  // True when the peer may speak as the worker `worker_id`: local, or that worker's own key.
  bool is_worker(std::string_view worker_id) const noexcept {
    return role_ == PeerRole::local || (role_ == PeerRole::worker && id() == worker_id);
  }

  friend bool operator==(const PeerIdentity& a, const PeerIdentity& b) noexcept {
    return a.role_ == b.role_ && a.user_id_ == b.user_id_;
  }

 private:
  PeerRole role_ = PeerRole::local;
  std::uint8_t id_offset_ = 0;  // where id() starts in user_id_ (past "org:" or "worker:"); 0: no id
  std::string user_id_;
};

// The identity a received message carries: its "User-Id" property read once (local when it
// has none); empty optional when the property is there but does not parse (never from our
// ZAP handler: the message is refused). Does not throw.
std::optional<PeerIdentity> peer_of(const zmq::message_t& message);

}  // namespace qg::broker

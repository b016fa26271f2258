#pragma once
// What a client connection is shown, by the PeerIdentity it authenticated as
// (qg/broker/peer_identity.hpp): a local or admin peer sees every org; an org key sees its own
// org only, and what belongs to another org reads as if it did not exist. A lease id is never
// shown to any client: it is what a worker names in REPORT, PROGRESS and RELEASE, and no client
// needs it. docs/protocol.md, "Who may do what", is the normative list.
//
// Inline and allocation-free where it runs per record (STATUS and LIST replies): a role test
// and a string comparison.

#include <string>
#include <string_view>
#include <vector>

#include "qg/broker/peer_identity.hpp"
#include "qg/proto/messages.hpp"

namespace qg::broker {

// True when the peer sees every org: no filtering at all.
inline bool sees_every_org(const PeerIdentity& peer) noexcept { return peer.is_local() || peer.is_admin(); }

// True for the roles that belong on the worker port (worker and scheduler keys): on the client
// port they may ask HEALTH only.
inline bool is_worker_side(const PeerIdentity& peer) noexcept {
  return peer.role() == PeerRole::worker || peer.role() == PeerRole::scheduler;
}

// The org part of "<org_id>/<app_version_id>" or a group key "<org_id>/<app>/<target>".
inline std::string_view org_of_key(std::string_view key) noexcept { return key.substr(0, key.find('/')); }

// A job as a client is shown it.
inline void redact_job(proto::Job& job) noexcept { job.lease_id.clear(); }

// A worker as `peer` is shown it: never its lease; for an org key, the group it runs and the
// builds it has installed only where they are of that org (a device is shared by every org, so
// the org sees it, but not whose work it does).
inline void redact_worker(proto::WorkerInfo& worker, const PeerIdentity& peer) {
  worker.lease_id.clear();
  if (sees_every_org(peer)) return;
  if (!worker.group_key.empty() && !peer.acts_for_org(org_of_key(worker.group_key))) worker.group_key.clear();
  std::erase_if(worker.installed, [&](const std::string& build) { return !peer.acts_for_org(org_of_key(build)); });
}

}  // namespace qg::broker

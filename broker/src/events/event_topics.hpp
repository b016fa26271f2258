#pragma once
// Capability topics: with CURVE, who receives which events is decided by what a subscriber
// can name, since an XPUB cannot refuse a subscription (ZMQ_XPUB_MANUAL, the way to filter
// them, has a use-after-free in libzmq 4.3.4). The broker draws one random prefix for the
// administrators at start and one per org on that org's first EVENTS_TOPIC request, and
// publishes every event only under prefixed topics:
//   JOB of org X         "<org X's prefix>job.X.<id>" (when X has asked for one) and
//                        "<admin prefix>job.X.<id>"
//   HEARTBEAT, WORKER    "<admin prefix>hb.<id>", "<admin prefix>worker.<id>"
// A prefix is 32 hex digits (128 random bits), told only to a connection authenticated with
// a key of that org (or an admin key), so a subscriber without it cannot name the topics of
// another org: "job.", "job.B." or a guessed prefix match nothing. What a prefix match cannot
// stop is a subscription to a prefix of every topic ("" or a few hex digits): libzmq 4.3.4
// cannot refuse it, so the broker, which sees every subscription with its key
// (ZMQ_XPUB_VERBOSER), closes that connection at once, refuses the key on events-out for a
// minute, counts it (foreign_subscriptions) and logs it for an operator to revoke the key
// (event_relay.cpp, docs/operations.md "Security"). Events published in the instant between
// the subscription and the close may still reach it.
//
// Without CURVE every prefix is "" and events go out under their plain topics, as before.
//
// Owned and used by the broker's loop thread only.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "qg/broker/peer_identity.hpp"

namespace qg::broker {

class EventTopics {
 public:
  static constexpr std::size_t kPrefixBytes = 32;

  // `capabilities` false: every prefix is "", every event goes out under its own topic.
  explicit EventTopics(bool capabilities);

  bool capabilities() const noexcept { return capabilities_; }
  // The prefix `peer` subscribes under: the admin prefix for an admin key, its org's (drawn
  // now if it has none yet) for an org key, "" without capabilities; empty optional for a
  // peer that receives no events (worker and scheduler keys, which are not admitted on
  // events-out either).
  std::optional<std::string> prefix_for(const PeerIdentity& peer);

  // Calls send(topic) once per topic an event published under `topic` goes out under: the
  // topic itself without capabilities; else the admin-prefixed one, and for a JOB topic of an
  // org that holds a prefix, that org's. `send` gets a view valid for the call only.
  template <class Send>
  void each_topic(std::string_view topic, Send&& send) {
    if (!capabilities_) {
      send(topic);
      return;
    }
    if (const auto* org = org_prefix_of(topic)) {
      scratch_.assign(*org).append(topic);
      send(std::string_view(scratch_));
    }
    scratch_.assign(admin_).append(topic);
    send(std::string_view(scratch_));
  }

  // True when a subscription to `prefix` receives topics of more than one capability: "", or
  // the first few hex digits of a prefix ("job." or "job.beta." match none at all).
  bool spans_capabilities(std::string_view prefix) const noexcept {
    if (!capabilities_ || prefix.size() >= kPrefixBytes) return false;
    for (const char c : prefix) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  }
  std::size_t org_count() const noexcept { return orgs_.size(); }

 private:
  // The prefix of the org a "job.<org>.<id>" topic names; nullptr when it has none (or the
  // topic is not a JOB topic).
  const std::string* org_prefix_of(std::string_view topic) const;

  bool capabilities_;
  std::string admin_;
  std::unordered_map<std::string, std::string> orgs_;  // org id -> its prefix, drawn on first ask
  std::string scratch_;
};

// kPrefixBytes hex digits from the system's random source (getrandom). Throws qg::Error when
// the source fails.
std::string random_prefix();

}  // namespace qg::broker

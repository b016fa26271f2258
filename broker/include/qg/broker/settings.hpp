#pragma once
// qg-broker's settings (what main.cpp and tests give the Broker) and its counters (what tests,
// `health`, `stats` and logs read). Included by broker.hpp; apart so that each reads whole.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qg/broker/event_limits.hpp"
#include "qg/broker/quotas.hpp"
#include "qg/proto/codec.hpp"
#include "qg/scheduler/job_store.hpp"
#include "qg/scheduler/scheduler.hpp"

namespace qg::broker {

struct BrokerSettings {
  // Loopback by default: an endpoint other hosts can reach is refused unless `insecure`
  // (exposure.hpp).
  std::string client_endpoint = "tcp://127.0.0.1:5555";
  std::string worker_endpoint = "tcp://127.0.0.1:5556";
  std::string events_in_endpoint = "tcp://127.0.0.1:5557";   // XSUB: workers and schedulers publish here
  std::string events_out_endpoint = "tcp://127.0.0.1:5558";  // XPUB: subscribers connect here
  // Bind network addresses without authentication (--insecure); a warning is logged at start.
  bool insecure = false;
  // CURVE (docs/operations.md "Security"): with the broker's secret certificate, all four
  // sockets are CURVE servers that admit only the public keys in the two folders, each
  // connection with the identity its key names (auth/key_table.hpp), and network addresses
  // may be bound. Empty = no CURVE: every peer is local, and only loopback is bound.
  std::string curve_cert;   // the broker's NAME.key_secret
  std::string clients_dir;  // keys of clients: roles admin and org
  std::string workers_dir;  // keys of workers and schedulers
  // Without CURVE: a ZAP domain for the client and worker sockets, so that a ZAP handler bound
  // in the same context (tests bind one) names each connection's identity over ZeroMQ's NULL
  // mechanism, as the CURVE handler does from keys. Empty = none (every peer is local).
  std::string null_zap_domain;
  std::string broker_id;             // empty = "broker-<pid>"
  std::string store_kind = "redis";  // "memory" or "redis", reported by HEALTH
  std::string version = "0.0.0";
  std::chrono::milliseconds heartbeat{1000};       // told to workers in the HELLO reply
  std::chrono::milliseconds lease{10000};          // told to workers; the store enforces it
  std::chrono::milliseconds max_pull_wait{30000};  // longest long poll honoured
  // This broker's record of a worker silent this long is dropped (the scheduler forgets it in
  // the store: SchedulerSettings). 0 = never.
  std::chrono::milliseconds forget_workers_after{10 * 60 * 1000};
  std::chrono::milliseconds poll_interval{100};  // longest loop pause with nothing to do
  // STATS' farm records (a pass over the store's last day of buckets) are read at most once
  // this often and served from memory in between (client/farm_stats_cache.hpp). 0 = read on
  // every STATS.
  std::chrono::milliseconds farm_stats_ttl{2000};
  // Claims ask for a fair share of the unfinished work, never fewer than this many jobs, so
  // idle devices share the tail of the work (claim_policy.hpp). 0: claims always take whole
  // groups (up to group_max), for farms where an install costs more than waiting.
  std::uint32_t claim_min_jobs = 5;
  proto::Limits limits{};
  EventLimits events{};
  // The store's group_max: the largest group a worker holds, whose heartbeat must fit
  // events.max_event_bytes (raised at construction if it does not: min_event_bytes).
  std::uint32_t group_max = 50;
  bool embedded_scheduler = false;  // run the Scheduler in this loop (memory store)
  // Connections per peer address and per port (edge/connection_table.hpp).
  std::uint32_t max_connections_per_peer = 512;  // 0 = no limit
  std::uint32_t max_connections = 16384;         // per port; 0 = no limit
  // A connection that has not finished its ZeroMQ handshake (greeting, CURVE, ZAP) this long
  // after it was accepted is dropped (ZMQ_HANDSHAKE_IVL). 0 = never (libzmq's default is 30 s).
  std::chrono::milliseconds handshake_timeout{5000};
  // Per-org quotas of queued jobs and submit rates (quotas.hpp); none by default.
  QuotaSettings quotas{};
  sched::SchedulerSettings scheduler{};
};

// Counters for tests, `health` and logs. Written by the loop thread (accept_failures by the
// accept monitor's); readable from any thread (relaxed atomics: each value is exact, they are
// not a consistent snapshot).
struct BrokerCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter client_requests{0};
  Counter worker_messages{0};
  Counter rejected{0};  // malformed, oversize, unknown or invalid
  Counter jobs_submitted{0};
  Counter groups_assigned{0};
  Counter reports_accepted{0};
  Counter reports_stale{0};     // older attempt, lost lease or already final: ignored
  Counter events_forwarded{0};  // passed from the XSUB to the XPUB (not counted while nobody subscribes)
  Counter events_published{0};  // events of this broker (and its embedded scheduler) sent on the XPUB
  Counter loop_rounds{0};       // poll_once calls that found traffic or work
  Counter lease_renewals{0};
  Counter store_unavailable{0};
  Counter unroutable{0};  // reply to a peer that had gone
  // Read from the XSUB and not relayed: not four frames, over events.max_event_bytes, or (a
  // heartbeat always, another event while someone subscribes) not a valid event under its
  // own topic. A frame over the limit never gets here: libzmq closes its connection.
  Counter events_dropped{0};
  Counter accept_failures{0};  // connections libzmq could not accept (out of descriptors, mostly)
  // Connections over a limit, shut down at accept or refused at the handshake; connections
  // that ended before their handshake did (timed out, shut down, or given up by the peer).
  Counter connections_refused{0};
  Counter handshakes_dropped{0};
  // Client and worker connections that closed: by their peer, or by libzmq for a frame over
  // limits.max_frame_bytes (no reply can be sent then; written by the accept monitor's thread).
  Counter connections_closed{0};
  // CURVE handshakes (written by the ZAP handler's thread): keys admitted and refused, and
  // how often the key folders were read again (reload_keys).
  Counter handshakes_admitted{0};
  Counter handshakes_refused{0};
  Counter key_reloads{0};
  // Messages refused because their connection carried no identity while CURVE is on (none
  // should: every CURVE connection is admitted by the ZAP handler with one).
  Counter unidentified{0};
  // Subscriptions on events-out by a non-admin key to a prefix of every capability topic.
  Counter foreign_subscriptions{0};
  Counter quota_refused{0};  // SUBMITs answered QUOTA_EXCEEDED
  Counter rate_refused{0};   // SUBMITs answered RATE_LIMITED
};

}  // namespace qg::broker

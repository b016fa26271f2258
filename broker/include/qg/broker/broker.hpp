#pragma once
// qg-broker: the hub. One event loop (zmq::poll) serves
//   - clients on a ROUTER (submit, status, list, cancel, retry, queue, workers, health, stats),
//   - workers on a ROUTER (hello, pull with long poll, report/confirm, progress, heartbeat,
//     release, bye; the broker sends CANCEL),
//   - the event stream: an XSUB that workers and schedulers publish to, proxied to an XPUB
//     that dashboards subscribe to; heartbeats passing through renew leases.
// It keeps no job state of its own: everything is in the JobStore, so several brokers may
// serve one Redis. In the embedded mode it also runs the Scheduler in its loop.
//
// Thread contract: construct, bind() and run() on one thread; request_stop() may be called
// from any thread or a signal handler.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "qg/broker/event_limits.hpp"
#include "qg/broker/peer_identity.hpp"
#include "qg/broker/quotas.hpp"
#include "qg/broker/settings.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/proto/codec.hpp"
#include "qg/scheduler/eta.hpp"
#include "qg/scheduler/events.hpp"
#include "qg/scheduler/job_store.hpp"
#include "qg/scheduler/scheduler.hpp"

namespace qg::broker {

class ClaimSizer;                // claim_policy.hpp
class Admission;                 // client/admission.hpp
class AcceptMonitor;             // edge/accept_monitor.hpp
class ZapHandler;                // auth/zap_handler.hpp
class EventTopics;               // events/event_topics.hpp
class ConnectionTable;           // edge/connection_table.hpp
enum class Port : std::uint8_t;  // edge/connection_table.hpp
class FarmView;                  // registry/farm_view.hpp
class FarmStatsCache;            // client/farm_stats_cache.hpp

class Broker {
 public:
  Broker(zmq::context_t& context, sched::JobStore& store, const Clock& clock, BrokerSettings settings,
         std::shared_ptr<spdlog::logger> logger);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Binds all four endpoints and starts watching them for failed accepts; with
  // settings.curve_cert, first reads the keys and starts the ZAP handler. Throws
  // qg::ConfigError when an endpoint (as given, or as bound) is not loopback and neither
  // settings.insecure nor curve_cert is set (check_exposure), or a key file or folder is
  // wrong; zmq::error_t when an endpoint cannot be bound.
  void bind();
  // Has the key folders read again (CURVE only; nothing otherwise): keys removed are refused
  // from their next connection, keys added are admitted. May be called from any thread or a
  // signal handler, once bind() has returned.
  void reload_keys() noexcept;
  // Ports actually bound (useful with "tcp://127.0.0.1:*").
  int client_port();
  int worker_port();
  int events_in_port();
  int events_out_port();

  // Serves until request_stop(). Never throws for bad input or an unreachable store.
  void run();
  // One loop iteration, waiting at most `timeout` for traffic.
  void poll_once(std::chrono::milliseconds timeout);
  void request_stop() noexcept { stop_ = true; }

  const BrokerCounters& counters() const { return counters_; }

 private:
  // The member functions below are grouped by the source file that defines them; the files
  // follow a message's path through the broker.

  // ---- broker.cpp: the loop over the sockets and the store's descriptors.
  // Each takes one message from its socket; false when none was waiting.
  bool on_client_message();  // client/client_requests.cpp
  bool on_worker_message();  // worker/worker_requests.cpp
  bool on_events_in();       // events/event_relay.cpp
  bool on_events_out();      // events/event_relay.cpp
  void on_wakeup();
  // Binds `socket`, then checks the address it resolved to (ZMQ_LAST_ENDPOINT) as
  // check_exposure() checked the text: a name such as "localhost" could resolve elsewhere.
  void bind_endpoint(zmq::socket_t& socket, const std::string& endpoint, Port port);
  std::chrono::milliseconds next_timeout(std::chrono::milliseconds cap);
  // ---- edge/curve_edge.cpp: with settings.curve_cert, the ZAP handler and the sockets'
  // CURVE server options (set before they bind). Nothing without it.
  void start_curve();

  // ---- routing.cpp, routing.hpp: the ROUTER edge, shared by clients and workers.
  // A request received whole from a ROUTER, its envelope checked.
  struct Request {
    std::string identity;
    PeerIdentity peer;  // who the connection authenticated as (local without CURVE)
    proto::Envelope envelope;
    bool rejected = false;  // oversize or malformed: already answered with a structured error
  };
  // Receives one message without blocking; answers an oversize or malformed one with a
  // structured error, as it does one whose connection's user id does not parse (and returns
  // it marked `rejected`). Empty optional when nothing was
  // waiting: that failed receive is how a socket is known to be drained (no separate
  // ZMQ_EVENTS query per message, each of which costs libzmq two system calls).
  std::optional<Request> receive_request(zmq::socket_t& socket, std::string_view protocol);
  // Runs `handle`, turning a store outage into UNAVAILABLE and any other exception into
  // INTERNAL (answered only when `answer_failures`); never throws. (A template, routing.hpp:
  // the handler is called directly, with nothing allocated per message.)
  template <class Handle>
  void serve_guarded(zmq::socket_t& socket, std::string_view protocol, const Request& request, bool answer_failures,
                     Handle&& handle);
  // A request being served by its command's handler: where it came from, who sent it, what it
  // says, and the clock reading it is served at.
  struct Incoming {
    zmq::socket_t& socket;
    std::string_view protocol;
    const std::string& identity;
    const PeerIdentity& peer;
    const proto::Envelope& envelope;
    std::int64_t now;
  };
  // The body of `in` as T; an empty optional when it does not decode, after answering the
  // sender with the structured error (routing.hpp).
  template <class T>
  std::optional<T> decode(const Incoming& in);
  // Answers `in` with `error`, under the rid its body carries (if any can be read).
  void reject(const Incoming& in, const proto::Error& error);
  // Sends [identity][protocol][command][body] on a ROUTER; false when the peer has gone.
  bool send_routed(zmq::socket_t& socket, const std::string& identity, std::string_view protocol,
                   std::string_view command, const std::string& body);
  template <class Reply>
  void reply_client(const std::string& identity, const Reply& reply);
  template <class Reply>
  void reply_worker(const std::string& identity, const Reply& reply);
  void error_to(zmq::socket_t& socket, std::string_view protocol, const std::string& identity, const std::string& rid,
                std::string_view code, std::string message, std::string field = {});
  // Who asked, for answering a whole batch with one error.
  struct BatchPeer {
    const std::string* identity;
    const std::string* rid;
  };
  // Runs the one store call made for a batch of requests. On failure answers every peer with
  // UNAVAILABLE (store unreachable: they retry), STORE_FULL or INTERNAL, logs, and returns
  // false.
  bool batch_store_call(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                        std::span<const BatchPeer> peers, const std::function<void()>& call);
  // Answers every peer of a batch UNAVAILABLE (store unreachable: they retry), STORE_FULL
  // (store out of memory: nothing written, the message says what to do) or INTERNAL, and
  // logs it (an outage or a full store once, until the store works again).
  enum class StoreFailure : std::uint8_t { unavailable, full, internal };
  void fail_batch(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                  std::span<const BatchPeer> peers, StoreFailure failure, const std::string& why);
  // After a batch's store write that worked: logs the store's return once after an outage
  // (confirm_store_reachable) and once after a full store.
  void note_store_reachable();
  // After a request was served without a store failure, and once per loop round. A handler
  // may have made no store call, or caught the failure itself (health answers "store
  // unreachable"), so that is no proof the store is back: while an outage is noted, this asks
  // the store (ping, at most once a second) and logs "store reachable again" only after a
  // round trip that worked.
  void confirm_store_reachable();
  // Notes an outage (counted; logged once until confirm_store_reachable sees the store back).
  void note_store_unreachable(std::string_view why);

  // ---- The command tables: a command is one row and one handler. A row is found by its
  // name on every message (a few string compares over a static array).
  using Handler = void (Broker::*)(const Incoming& in);
  struct ClientCommand {
    std::string_view name;
    Handler handle;
    // Pending submits are sent and answered before the command is handled (every command
    // but SUBMIT itself, and an unknown one), so that it sees every earlier submit applied.
    bool submits_first;
  };
  struct WorkerCommand {
    std::string_view name;
    Handler handle;
    // Pending reports are applied before the command is handled (as before an unknown one);
    // which commands need it is said beside kWorkerCommands.
    bool reports_first;
    // A failure while handling is answered (false for the messages that have no reply).
    bool answers_failures;
  };
  static const ClientCommand kClientCommands[];  // client/client_requests.cpp
  static const WorkerCommand kWorkerCommands[];  // worker/worker_requests.cpp

  // ---- client/client_requests.cpp: the client side's table and its handlers.
  // Finds the command's row and runs it; an unknown command is answered UNKNOWN_COMMAND.
  void handle_client(const Request& request);
  void handle_status(const Incoming& in);
  void handle_list(const Incoming& in);
  void handle_cancel(const Incoming& in);
  void handle_retry(const Incoming& in);
  void handle_queue(const Incoming& in);
  void handle_stats(const Incoming& in);
  void handle_events_topic(const Incoming& in);
  // client/farm_requests.cpp: the registry, operators' commands on workers, health.
  void handle_workers(const Incoming& in);
  void handle_drain_worker(const Incoming& in);
  void handle_forget_worker(const Incoming& in);
  void handle_health(const Incoming& in);
  // Once per round: announces this broker, samples which targets have live workers and
  // drops records of workers silent past forget_workers_after, each when due.
  void refresh_farm();
  // True when the job exists and `in`'s peer acts for its org (client/org_view.hpp).
  bool job_of_peer(const Incoming& in, const std::string& job_id);

  // ---- client/submit_admission.cpp: quotas and rates, before a SUBMIT is queued.
  // Whether `org` may submit `jobs` jobs now (Admission, with the store's queued counts
  // sampled when due); when not, answers `in` with QUOTA_EXCEEDED or RATE_LIMITED under `rid`.
  // True at once when no quota or rate is set.
  bool admit(const Incoming& in, const std::string& rid, const std::string& org, std::size_t jobs);

  // ---- client/submit_batches.cpp: SUBMIT, applied in batches against the store.
  // Queues the submission for the round's batch (flush_submits).
  void handle_submit(const Incoming& in);
  // SUBMITs and REPORTs received in one loop round are applied with one store call each
  // (submit_many, report_many) and then answered. A queue is flushed at the end of the round,
  // when it is full, and before any other command from the same side is handled, so every
  // request still takes effect in arrival order. Never throws: a store failure is answered
  // to every request in the batch.
  //
  // A submit batch that no held pull waits for goes out with send_submits() and is answered
  // when its results come in (answer_sent_submits, polled each round), so the broker reads
  // the next requests while the store writes; while a batch is out, the submits left at the
  // end of a round wait for the round that answers it (a larger batch, cheaper per job).
  // Before any other store call the broker settles them (store()): replies and events keep
  // the order of the store's changes.
  void flush_submits();
  void flush_reports();  // worker/reports.cpp
  // ---- worker/health.cpp: device health (the store quarantines; the broker tells). After a
  // report batch with an infrastructure failure or from a worker seen quarantined, reads the
  // quarantined workers and publishes a WORKER event (`quarantined`, `healthy`) per change;
  // show_quarantines marks WORKERS' records `quarantined`.
  void note_worker_health(std::int64_t now);
  void publish_worker_health(const std::string& worker_id, const std::string& state, std::int64_t now);
  void show_quarantines(std::vector<proto::WorkerInfo>& workers);
  // Who sent a submission, for its reply.
  struct SubmitPeer {
    std::string identity;
    std::string rid;
  };
  // Answers the sent batches whose results are in; with `wait`, at least the oldest.
  void answer_sent_submits(bool wait);
  // Answers every sent batch (waiting for the store).
  void settle_submits();
  // Answers a batch; each outcome is answered once (its ids move into the reply).
  void answer_submits(std::span<const SubmitPeer> peers, std::span<const sched::NewSubmission> submissions,
                      std::span<sched::SubmitResult> results, std::int64_t now);
  // The store, after every sent submit batch is answered: use for all other store calls.
  sched::JobStore& store();

  // ---- worker/worker_requests.cpp: the worker side's table, its handlers, worker records.
  // Runs the command's row (`command`, null when unknown: answered UNKNOWN_COMMAND).
  void handle_worker(const Request& request, const WorkerCommand* command);
  void handle_heartbeat(const Incoming& in);
  void handle_pull(const Incoming& in);
  void handle_report(const Incoming& in);
  void handle_progress(const Incoming& in);
  void handle_hello(const Incoming& in);
  void handle_release(const Incoming& in);
  void handle_bye(const Incoming& in);
  // Records that the worker (admitted) was heard from now.
  void note_worker(const std::string& worker_id);
  void recall_labels(const std::string& worker_id);
  // The worker registry record this broker keeps for `qgjob workers`; written to the store
  // when it changes, at most once a second per worker while only last_seen moves.
  proto::WorkerInfo& worker_record(const std::string& worker_id);
  void flush_worker_records(bool all);
  void send_cancel(const proto::Job& job);

  // ---- worker/worker_bindings.cpp: which connection speaks for each worker id.
  struct WorkerBinding {
    std::string identity;        // the ROUTER identity of the connection that holds the id
    std::int64_t heard_ms = 0;   // clock ms of its last message
    std::int64_t probed_ms = 0;  // clock ms the broker last tested whether it is still there
    std::string refused;         // the last other connection refused the id (logged once)
  };
  // True when `in` may speak as `worker_id`: its key is that worker's (or no keys are used)
  // and no other live connection holds the id; binds the id to `in`'s connection. Otherwise
  // answers FORBIDDEN or CONFLICT under `rid` and returns false.
  bool admit_worker(const Incoming& in, const std::string& worker_id, const std::string& rid);
  // Why the connection holding `binding` counts as dead now; nullptr while it may be live.
  const char* holder_gone(const std::string& worker_id, WorkerBinding& binding, std::int64_t now);

  // ---- worker/pulls.cpp: claims for pulls, held pulls, ASSIGN.
  struct HeldPull {
    std::string identity;
    proto::Pull pull;
    std::int64_t deadline_steady_ms = 0;
  };
  // Tries to satisfy a pull now; true when it was answered with ASSIGN.
  bool try_assign(const std::string& identity, const proto::Pull& pull);
  // ClaimRequest::max_jobs for a claim now: a fair share of the unfinished work (0 = whole
  // groups when sharing is off). `submitting`: jobs applied in the same round trip.
  std::uint32_t claim_size(std::int64_t now, std::uint64_t submitting);
  // The claim a pull asks for, sized by claim_size().
  sched::ClaimRequest claim_request(const proto::Pull& pull, std::int64_t now, std::uint64_t submitting);
  // Sends a claimed group to the worker that pulled (or hands it back when the worker has
  // gone), then publishes its jobs' new status (announce_assigned).
  void deliver(const std::string& identity, const proto::Pull& pull, const sched::Claim& claim, std::int64_t now);
  // deliver() without the events; returns whether the group went out.
  bool send_assign(const std::string& identity, const proto::Pull& pull, const sched::Claim& claim, std::int64_t now);
  // The status events of a delivered group's jobs.
  void announce_assigned(const sched::Claim& claim, std::int64_t now);
  // Claims for every pull received this round in one store call; answers each with its
  // group, NOWORK (wait 0) or holds it.
  void flush_pulls();
  void serve_held_pulls();
  void expire_held_pulls();

  // ---- worker/leases.cpp: lease renewals by worker traffic.
  // Queues a renewal of the worker's lease for flush_renewals(), unless this broker set its
  // deadline less than renewal_interval_ms() ago.
  void renew_lease(const std::string& worker_id, const std::string& lease_id);
  void flush_renewals();
  // Records that the lease's deadline was just set to now + lease.
  void note_lease_deadline(const std::string& lease_id, std::int64_t now);
  // How long after setting a lease's deadline traffic on it does not renew it again: a tenth
  // of the lease, and under half a heartbeat so that every heartbeat still renews (the
  // deadline lags a heartbeat by at most this, a sliver of the lease).
  std::int64_t renewal_interval_ms() const {
    return std::min(settings_.lease.count() / 10, settings_.heartbeat.count() / 2);
  }

  // ---- events/event_relay.cpp: the XSUB -> XPUB relay and this broker's own events.
  // True while at least one subscriber holds a subscription at the XPUB. While nobody
  // listens the broker neither builds its own per-job events nor forwards the XSUB's, and
  // the sink drops the rest: the XPUB would drop them anyway (PUB semantics), so only their
  // cost is saved. Whoever is subscribed sees exactly what it saw before.
  bool has_subscribers() const { return !subscriptions_.empty(); }
  // Sends one event on the XPUB under each topic topics_ names for `topic`.
  void publish_event(std::string_view topic, std::string_view protocol, std::string_view command,
                     std::string_view body);
  // A subscription that spans every capability prefix: counted, and logged (at most once in
  // 10 s) with the key that made it.
  void note_foreign_subscription(const zmq::message_t& frame, const std::string& topic);

  zmq::context_t& context_;
  sched::JobStore& store_;
  const Clock& clock_;
  BrokerSettings settings_;
  std::shared_ptr<spdlog::logger> log_;

  zmq::socket_t clients_;
  zmq::socket_t workers_;
  zmq::socket_t events_in_;
  zmq::socket_t events_out_;
  enum Socket : std::size_t { kClients, kWorkers, kEventsIn, kEventsOut, kSocketCount };
  std::array<int, kSocketCount> socket_fds_{};  // each socket's ZMQ_FD
  // A socket that may hold messages not yet received (see poll_once). All start set.
  std::array<bool, kSocketCount> unread_{true, true, true, true};

  // Sends on the XPUB while someone subscribes, counting; drops otherwise.
  class SubscribedSink final : public sched::EventSink {
   public:
    explicit SubscribedSink(Broker& broker) : broker_(broker) {}
    void send(std::vector<std::string> frames) override;

   private:
    Broker& broker_;
  };
  std::unique_ptr<SubscribedSink> sink_;
  std::unique_ptr<EventTopics> topics_;  // the topics each event goes out under
  std::int64_t last_foreign_subscription_log_ms_ = 0;
  std::unique_ptr<sched::EventPublisher> events_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  std::int64_t next_scheduler_tick_ = 0;

  IdGenerator ids_;
  struct PendingSubmit {
    std::string identity;
    std::string rid;
    sched::NewSubmission submission;
  };
  std::vector<PendingSubmit> pending_submits_;
  std::size_t pending_submit_jobs_ = 0;
  struct SentSubmitBatch {
    std::vector<SubmitPeer> peers;  // one per submission of the batch
    std::int64_t now = 0;           // the time it was sent with
  };
  std::deque<SentSubmitBatch> sent_submits_;  // in the order sent, as the store returns them
  struct PendingReport {
    std::string identity;
    proto::Report report;
  };
  std::vector<PendingReport> pending_reports_;
  std::deque<HeldPull> held_pulls_;
  std::vector<HeldPull> pending_pulls_;  // received this round, not yet claimed for
  bool work_maybe_available_ = false;
  std::unordered_map<std::string, WorkerBinding> worker_bindings_;  // worker id -> its connection
  std::unordered_map<std::string, std::uint32_t> subscriptions_;    // topic prefix -> subscriptions seen
  std::map<std::string, std::string> pending_renewals_;             // worker id -> lease id
  // Lease id -> clock ms when this broker last set its deadline (claim or renewal). Traffic on
  // a lease renews it at most once per renewal_interval_ms(): a worker streaming reports
  // costs a store call per half heartbeat, not one per report.
  std::unordered_map<std::string, std::int64_t> lease_renewed_ms_;
  std::size_t lease_prune_at_ = 1024;  // lease_renewed_ms_ is swept of stale entries at this size
  struct WorkerRecord {
    proto::WorkerInfo info;
    bool dirty = false;
    bool changed = false;  // more than last_seen changed: write at once
    std::int64_t written_ms = 0;
    // info.labels are the worker's: from its HELLO to this broker, or (a worker that said HELLO
    // to an earlier run of it) from the store's registry, read once at its first PULL.
    bool labels_known = false;
  };
  std::unordered_map<std::string, WorkerRecord> worker_records_;
  std::set<std::string> quarantined_;      // workers this broker last saw quarantined (worker/health.cpp)
  bool worker_changes_pending_ = false;    // some record has more than last_seen to write
  std::int64_t next_worker_flush_ms_ = 0;  // last_seen-only updates wait until then
  std::int64_t started_steady_ms_ = 0;
  std::unique_ptr<ClaimSizer> claim_sizer_;  // how much of a group a claim asks for
  std::unique_ptr<Admission> admission_;     // null when no quota or rate is set
  // Read by the accept monitor's and the ZAP handler's threads: declared before both.
  std::unique_ptr<ConnectionTable> connections_;
  std::unique_ptr<FarmView> farm_;              // live targets, lost workers, announcements
  std::unique_ptr<FarmStatsCache> farm_stats_;  // STATS' farm records, kept settings_.farm_stats_ttl
  std::unique_ptr<sched::EtaEstimator> eta_;    // STATUS's queue places and expected finishes
  proto::ProcessInfo self_;                     // this broker, as it announces itself
  // Declared after the sockets it watches: destroyed (and its thread joined) before them.
  std::unique_ptr<AcceptMonitor> accept_monitor_;
  std::atomic<bool> stop_{false};
  BrokerCounters counters_;
  // Declared after the counters it writes: destroyed (and its thread joined) before them.
  std::unique_ptr<ZapHandler> zap_;
  // With CURVE every message must carry its connection's identity: one without is refused
  // (routing.cpp, event_relay.cpp) rather than taken as local.
  bool identity_required_ = false;
  bool store_down_ = false;
  bool store_full_ = false;  // the last write failed with StoreFull (logged once until one works)
  // While store_down_: the store is not pinged before then (confirm_store_reachable).
  std::int64_t next_store_probe_steady_ms_ = 0;
};

}  // namespace qg::broker

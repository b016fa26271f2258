// The broker's loop: construction and binding of the four sockets (bounded as
// event_limits.hpp says, refused off loopback as exposure.hpp says, watched for failed accepts
// by edge/accept_monitor.hpp), and poll_once(), which waits on the sockets' descriptors and
// the store's, then drains each socket in turn and runs the round's batches (submits,
// reports, pulls, renewals, worker records), the embedded scheduler's tick and the held
// pulls. Where each message goes from here:
//   clients    -> client/client_requests.cpp (SUBMIT: client/submit_batches.cpp)
//   workers    -> worker/worker_requests.cpp (then worker/pulls.cpp, reports.cpp, leases.cpp)
//   events     -> events/event_relay.cpp
//   replies and structured errors -> routing.cpp
#include "qg/broker/broker.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "auth/zap_handler.hpp"
#include "claim_policy.hpp"
#include "client/admission.hpp"
#include "client/farm_stats_cache.hpp"
#include "edge/accept_monitor.hpp"
#include "edge/connection_table.hpp"
#include "events/event_topics.hpp"
#include "qg/broker/exposure.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/zmq_util.hpp"
#include "registry/farm_view.hpp"

namespace qg::broker {

Broker::Broker(zmq::context_t& context, sched::JobStore& store, const Clock& clock, BrokerSettings settings,
               std::shared_ptr<spdlog::logger> logger)
    : context_(context),
      store_(store),
      clock_(clock),
      settings_(std::move(settings)),
      log_(std::move(logger)),
      clients_(context_, zmq::socket_type::router),
      workers_(context_, zmq::socket_type::router),
      events_in_(context_, zmq::socket_type::xsub),
      events_out_(context_, zmq::socket_type::xpub) {
  if (settings_.broker_id.empty()) settings_.broker_id = "broker-" + std::to_string(::getpid());
  for (auto* socket : {&clients_, &workers_, &events_in_, &events_out_}) {
    set_common_options(*socket);
    socket->set(zmq::sockopt::handshake_ivl, static_cast<int>(settings_.handshake_timeout.count()));
  }
  connections_ = std::make_unique<ConnectionTable>(
      ConnectionLimits{settings_.max_connections_per_peer, settings_.max_connections});
  for (auto* socket : {&clients_, &workers_}) {
    socket->set(zmq::sockopt::router_mandatory, 1);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(settings_.limits.max_frame_bytes));
    set_zmq_heartbeats(*socket, std::chrono::milliseconds(2000), std::chrono::milliseconds(6000));
    if (!settings_.null_zap_domain.empty()) socket->set(zmq::sockopt::zap_domain, settings_.null_zap_domain);
  }
  // The event plane is bounded in bytes (event_limits.hpp). A heartbeat of the largest group
  // must fit, whatever the limit was set to.
  const auto needed = min_event_bytes(settings_.group_max);
  if (settings_.events.max_event_bytes < needed) {
    log_->info("events may be up to {} bytes: a heartbeat of a group of {} jobs needs it (more than {} given)", needed,
               settings_.group_max, settings_.events.max_event_bytes);
    settings_.events.max_event_bytes = needed;
  }
  events_in_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(settings_.events.max_event_bytes));
  // What comes in on the XPUB is subscriptions: the flag byte and the prefix.
  events_out_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(settings_.events.max_subscription_bytes + 1));
  // Subscribers must not be able to stall the loop: drop at the high-water mark.
  events_out_.set(zmq::sockopt::sndhwm, settings_.events.hwm);
  events_in_.set(zmq::sockopt::rcvhwm, settings_.events.hwm);
  socket_fds_[kClients] = clients_.get(zmq::sockopt::fd);
  socket_fds_[kWorkers] = workers_.get(zmq::sockopt::fd);
  socket_fds_[kEventsIn] = events_in_.get(zmq::sockopt::fd);
  socket_fds_[kEventsOut] = events_out_.get(zmq::sockopt::fd);
  sink_ = std::make_unique<SubscribedSink>(*this);
  topics_ = std::make_unique<EventTopics>(!settings_.curve_cert.empty());
  events_ = std::make_unique<sched::EventPublisher>(*sink_, settings_.broker_id);
  farm_ = std::make_unique<FarmView>(settings_.heartbeat.count());
  farm_stats_ = std::make_unique<FarmStatsCache>(settings_.farm_stats_ttl);
  sched::EtaSettings eta;
  // The registry's last_seen reaches the store up to a second late, later on a loaded host:
  // an estimate counts a worker for twice the time after which `workers` calls it lost.
  eta.lost_after = std::chrono::milliseconds(2 * farm_->lost_after_ms());
  eta_ = std::make_unique<sched::EtaEstimator>(eta);
  self_ = sched::this_process(settings_.broker_id, clock_.now_ms());
  if (settings_.embedded_scheduler) {
    // The embedded scheduler announces itself like any other (health lists it), and upkeeps
    // the registry with this broker's forget delay.
    settings_.scheduler.self = sched::this_process(settings_.broker_id + "/scheduler", clock_.now_ms());
    settings_.scheduler.forget_workers_after = settings_.forget_workers_after;
    scheduler_ = std::make_unique<sched::Scheduler>(store_, clock_, *events_, settings_.scheduler, log_);
  }
  started_steady_ms_ = steady_ms();
  ClaimPolicySettings policy;
  policy.min_jobs = settings_.claim_min_jobs;
  claim_sizer_ = std::make_unique<ClaimSizer>(policy);
  if (settings_.quotas.any()) admission_ = std::make_unique<Admission>(settings_.quotas);
}

Broker::~Broker() = default;

void Broker::bind() {
  check_exposure(settings_);
  if (settings_.insecure) log_->warn("{}", insecure_warning(settings_));
  start_curve();
  accept_monitor_ = std::make_unique<AcceptMonitor>(context_, log_, counters_, *connections_);
  bind_endpoint(clients_, settings_.client_endpoint, Port::clients);
  bind_endpoint(workers_, settings_.worker_endpoint, Port::workers);
  bind_endpoint(events_in_, settings_.events_in_endpoint, Port::events_in);
  bind_endpoint(events_out_, settings_.events_out_endpoint, Port::events_out);
  accept_monitor_->start();
  // The proxy subscribes upstream to everything; subscribers' filters apply at the XPUB.
  const std::array<char, 1> subscribe_all = {1};
  events_in_.send(zmq::buffer(subscribe_all), zmq::send_flags::none);
  log_->info("{} serving clients on {}, workers on {}, events in {} out {}", settings_.broker_id,
             clients_.get(zmq::sockopt::last_endpoint), workers_.get(zmq::sockopt::last_endpoint),
             events_in_.get(zmq::sockopt::last_endpoint), events_out_.get(zmq::sockopt::last_endpoint));
  log_->info("events: at most {} bytes each, subscriptions at most {} bytes, {} queued per connection",
             settings_.events.max_event_bytes, settings_.events.max_subscription_bytes, settings_.events.hwm);
  log_->info("connections: at most {} per address and {} per port, handshakes within {} ms (0 = no limit)",
             settings_.max_connections_per_peer, settings_.max_connections, settings_.handshake_timeout.count());
}

void Broker::bind_endpoint(zmq::socket_t& socket, const std::string& endpoint, Port port) {
  const auto role = port_name(port);
  accept_monitor_->watch(socket, role, port);
  socket.bind(endpoint);
  if (network_binding_allowed(settings_)) return;
  const auto bound = socket.get(zmq::sockopt::last_endpoint);
  if (is_loopback_endpoint(bound)) return;
  socket.unbind(bound);
  throw ConfigError("refusing to serve " + std::string(role) + " on " + bound + " (" + endpoint +
                    " resolved to it): not a loopback address; give the broker keys (--curve-cert) or pass "
                    "--insecure to accept connections from the network without authentication");
}

int Broker::client_port() { return bound_port(clients_); }
int Broker::worker_port() { return bound_port(workers_); }
int Broker::events_in_port() { return bound_port(events_in_); }
int Broker::events_out_port() { return bound_port(events_out_); }

void Broker::run() {
  while (!stop_) {
    try {
      poll_once(settings_.poll_interval);
    } catch (const zmq::error_t&) {
      throw;  // our own sockets failing is not recoverable here
    } catch (const std::exception& e) {
      // A store failure outside a request (renewals, held pulls, the embedded scheduler) must
      // not stop the broker: count it, say so, and go on with the next round.
      ++counters_.store_unavailable;
      log_->error("loop round failed, continuing: {}", e.what());
    }
  }
  try {
    flush_submits();
    settle_submits();  // every submit the store took is answered
  } catch (const std::exception& e) {
    log_->error("answering the last submits failed: {}", e.what());
  }
  log_->info("{} stopping: {} client requests, {} worker messages, {} rejected, {} jobs submitted", settings_.broker_id,
             counters_.client_requests, counters_.worker_messages, counters_.rejected, counters_.jobs_submitted);
  if (counters_.events_dropped != 0 || counters_.accept_failures != 0) {
    log_->info("{} events dropped (malformed or over the size limit), {} failed accepts", counters_.events_dropped,
               counters_.accept_failures);
  }
}

std::chrono::milliseconds Broker::next_timeout(std::chrono::milliseconds cap) {
  auto timeout = cap;
  const auto now = steady_ms();
  for (const auto& held : held_pulls_) {
    timeout = std::min(timeout, std::chrono::milliseconds(std::max<std::int64_t>(0, held.deadline_steady_ms - now)));
  }
  if (scheduler_) {
    timeout = std::min(timeout, std::chrono::milliseconds(std::max<std::int64_t>(0, next_scheduler_tick_ - now)));
  }
  if (work_maybe_available_ || !pending_renewals_.empty()) timeout = std::chrono::milliseconds(0);
  return timeout;
}

void Broker::poll_once(std::chrono::milliseconds cap) {
  // The loop waits in poll(2) on each socket's ZMQ_FD and the store's wakeup fd, not in
  // zmq_poll: zmq_poll queries ZMQ_EVENTS of every socket before and after each wait, two
  // system calls per socket per round (and per message when asked again before each
  // receive), which on a busy broker cost more than the messages themselves.
  //
  // ZMQ_FD is edge-like: it turns readable when commands reach the socket, and any operation
  // on the socket (a send included) may consume them, so a socket can hold messages while
  // its fd is quiet. Hence unread_[s]: set when the fd fires or after this broker sent on
  // the socket, cleared only when a receive finds the socket empty. The wait is zero while
  // any socket may still hold messages.
  //
  // Submit batches out at the store (send_submits) are answered when their results come in:
  // the store's descriptor for them is polled too, and the wait is zero when one is in.
  // Submits held back for a batch out (below) do not wait for the next message.
  const int submits_fd = store_.submits_fd();
  const bool submits_in = submits_fd < 0 && store_.submits_in_flight() > 0;
  const bool submits_waiting = !pending_submits_.empty() && store_.submits_in_flight() == 0;
  const bool busy =
      submits_in || submits_waiting || std::any_of(unread_.begin(), unread_.end(), [](bool u) { return u; });
  std::array<pollfd, kSocketCount + 2> fds{};
  for (std::size_t i = 0; i < kSocketCount; ++i) fds[i] = {socket_fds_[i], POLLIN, 0};
  std::size_t count = kSocketCount;
  const int wakeup_fd = store_.wakeup_fd();
  const std::size_t wakeup_slot = count;
  if (wakeup_fd >= 0) fds[count++] = {wakeup_fd, POLLIN, 0};
  if (submits_fd >= 0) fds[count++] = {submits_fd, POLLIN, 0};
  const auto timeout = busy ? std::chrono::milliseconds(0) : next_timeout(cap);
  const std::uint64_t events_sent_before = counters_.events_forwarded + counters_.events_published;
  const int ready = ::poll(fds.data(), count, static_cast<int>(timeout.count()));
  if (ready < 0) {
    if (errno == EINTR) return;
    throw zmq::error_t();  // errno names the failure, as for the sockets' own errors
  }
  for (std::size_t i = 0; i < kSocketCount; ++i) {
    if ((fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0) unread_[i] = true;
  }
  const bool woken = wakeup_fd >= 0 && (fds[wakeup_slot].revents & POLLIN) != 0;
  if (busy || ready > 0 || work_maybe_available_) ++counters_.loop_rounds;
  answer_sent_submits(false);
  refresh_farm();
  confirm_store_reachable();  // after an outage: its end is logged once the store answers

  // Each socket is read until a receive finds it empty, in bounded batches so no one socket
  // starves the others (a socket whose batch ran out stays unread for the next round).
  // Subscriptions first: an event this round produces then goes to every subscriber the
  // XPUB already knows of.
  const auto drain = [&](Socket which, int budget, auto&& take_one) {
    if (!unread_[which]) return;
    for (int i = 0; i < budget; ++i) {
      if (!take_one()) {
        unread_[which] = false;
        return;
      }
    }
  };
  drain(kEventsOut, 256, [&] { return on_events_out(); });
  drain(kClients, 256, [&] { return on_client_message(); });
  // What is left of the round's submits goes out now only when no batch is out: otherwise it
  // grows while the store works, and goes in the round that answers the last batch out.
  if (store_.submits_in_flight() == 0) flush_submits();
  drain(kWorkers, 256, [&] { return on_worker_message(); });
  flush_reports();
  flush_pulls();
  drain(kEventsIn, 1024, [&] { return on_events_in(); });
  if (woken) on_wakeup();

  flush_renewals();
  flush_worker_records(false);
  if (scheduler_ && steady_ms() >= next_scheduler_tick_) {
    settle_submits();  // the tick's events come after the submits' own
    auto wait = scheduler_->tick();
    next_scheduler_tick_ = steady_ms() + wait.count();
    work_maybe_available_ = true;  // the round may have promoted or requeued work
  }
  if (work_maybe_available_) {
    work_maybe_available_ = false;
    serve_held_pulls();
  }
  expire_held_pulls();
  // A send on the XPUB may have taken the readiness of its fd, leaving subscription changes
  // unread behind a quiet fd: read it again next round, but only after a round that sent
  // (events of this broker, forwarded ones, the embedded scheduler's). A round that sent
  // nothing leaves it alone, or an idle broker with a subscriber would never wait in poll.
  if (counters_.events_published + counters_.events_forwarded != events_sent_before) unread_[kEventsOut] = true;
}

void Broker::on_wakeup() {
  try {
    store_.drain_wakeups();
  } catch (const std::exception& e) {
    log_->warn("draining store wakeups failed: {}", e.what());
  }
  work_maybe_available_ = true;
}

}  // namespace qg::broker

#include "qg/broker/broker.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>

#include "claim_policy.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::broker {

namespace {

constexpr std::size_t kMaxRenewalBatch = 1024;  // renewals per store round trip
// A submit batch is sent once it holds this many jobs (bounds one script's run time in Redis).
constexpr std::size_t kMaxSubmitBatchJobs = 2000;
constexpr std::size_t kMaxReportBatch = 256;
// Submits go to the store while the next ones are read: a batch is sent once it holds this
// many submissions, so that Redis works on it while the broker reads the rest of the round,
// with up to kMaxSubmitsInFlight batches out (then the broker waits for the oldest). Larger
// batches cost Redis less per submission (the script's fixed part); smaller ones overlap
// more. 24 did best of 16, 24, 32 and 48 with 50 single-job submits in flight.
constexpr std::size_t kSubmitChunk = 24;
constexpr std::size_t kMaxSubmitsInFlight = 4;

}  // namespace

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
  for (auto* socket : {&clients_, &workers_, &events_in_, &events_out_}) set_common_options(*socket);
  for (auto* socket : {&clients_, &workers_}) {
    socket->set(zmq::sockopt::router_mandatory, 1);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(settings_.limits.max_frame_bytes));
    set_zmq_heartbeats(*socket, std::chrono::milliseconds(2000), std::chrono::milliseconds(6000));
  }
  // Subscribers must not be able to stall the loop: drop at the high-water mark.
  events_out_.set(zmq::sockopt::sndhwm, 100000);
  events_in_.set(zmq::sockopt::rcvhwm, 100000);
  socket_fds_[kClients] = clients_.get(zmq::sockopt::fd);
  socket_fds_[kWorkers] = workers_.get(zmq::sockopt::fd);
  socket_fds_[kEventsIn] = events_in_.get(zmq::sockopt::fd);
  socket_fds_[kEventsOut] = events_out_.get(zmq::sockopt::fd);
  sink_ = std::make_unique<SubscribedSink>(*this);
  events_ = std::make_unique<sched::EventPublisher>(*sink_, settings_.broker_id);
  if (settings_.embedded_scheduler) {
    scheduler_ = std::make_unique<sched::Scheduler>(store_, clock_, *events_, settings_.scheduler, log_);
  }
  started_steady_ms_ = steady_ms();
  ClaimPolicySettings policy;
  policy.min_jobs = settings_.claim_min_jobs;
  claim_sizer_ = std::make_unique<ClaimSizer>(policy);
}

Broker::~Broker() = default;

void Broker::bind() {
  clients_.bind(settings_.client_endpoint);
  workers_.bind(settings_.worker_endpoint);
  events_in_.bind(settings_.events_in_endpoint);
  events_out_.bind(settings_.events_out_endpoint);
  // The proxy subscribes upstream to everything; subscribers' filters apply at the XPUB.
  const std::array<char, 1> subscribe_all = {1};
  events_in_.send(zmq::buffer(subscribe_all), zmq::send_flags::none);
  log_->info("{} serving clients on {}, workers on {}, events in {} out {}", settings_.broker_id,
             clients_.get(zmq::sockopt::last_endpoint), workers_.get(zmq::sockopt::last_endpoint),
             events_in_.get(zmq::sockopt::last_endpoint), events_out_.get(zmq::sockopt::last_endpoint));
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
  // Events (this broker's, forwarded ones, the embedded scheduler's) were sent on the XPUB.
  if (has_subscribers()) unread_[kEventsOut] = true;
}

void Broker::on_wakeup() {
  try {
    store_.drain_wakeups();
  } catch (const std::exception& e) {
    log_->warn("draining store wakeups failed: {}", e.what());
  }
  work_maybe_available_ = true;
}

// ---------------------------------------------------------------------------------------
// Clients

std::optional<Broker::Request> Broker::receive_request(zmq::socket_t& socket, std::string_view protocol) {
  auto message = recv_multipart(socket, settings_.limits.max_frames + 2, settings_.limits.max_message_bytes);
  if (!message) return std::nullopt;
  Request request;
  request.rejected = true;
  if (message->frames.empty()) return request;  // a ROUTER always gives the identity; nothing to answer
  request.identity = std::move(message->frames.front());
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

void Broker::serve_guarded(zmq::socket_t& socket, std::string_view protocol, const Request& request,
                           bool answer_failures, const std::function<void()>& handle) {
  const auto rid = [&] { return proto::peek_rid(request.envelope.body, settings_.limits); };
  try {
    handle();
    if (store_down_) {
      store_down_ = false;
      log_->info("store reachable again");
    }
  } catch (const StoreUnavailable& e) {
    ++counters_.store_unavailable;
    if (!store_down_) log_->error("store unreachable: {}", e.what());
    store_down_ = true;
    // Clients and workers resend; UNAVAILABLE tells them to back off and retry.
    if (answer_failures) {
      error_to(socket, protocol, request.identity, rid(), proto::errc::unavailable,
               std::string("store unreachable, retry later: ") + e.what());
    }
  } catch (const std::exception& e) {
    log_->error("internal error serving {}: {}", request.envelope.command, e.what());
    if (answer_failures) {
      error_to(socket, protocol, request.identity, rid(), proto::errc::internal,
               std::string("internal error: ") + e.what());
    }
  }
}

bool Broker::on_client_message() {
  auto request = receive_request(clients_, proto::kClientProtocol);
  if (!request) return false;
  ++counters_.client_requests;
  if (request->rejected) return true;
  serve_guarded(clients_, proto::kClientProtocol, *request, true,
                [&] { handle_client(request->identity, request->envelope); });
  return true;
}

namespace {

// Decodes a body or answers with the structured error; empty optional when answered.
template <class T, class OnError>
std::optional<T> decode_or(const proto::Envelope& envelope, const proto::Limits& limits, OnError&& on_error) {
  auto decoded = proto::decode<T>(envelope.body, limits);
  if (!decoded) {
    on_error(decoded.error());
    return std::nullopt;
  }
  return std::move(decoded).value();
}

}  // namespace

void Broker::handle_client(const std::string& identity, const proto::Envelope& envelope) {
  const auto& cmd = envelope.command;
  auto reject = [&](const proto::Error& error) {
    error_to(clients_, proto::kClientProtocol, identity, proto::peek_rid(envelope.body, settings_.limits), error.code,
             error.message, error.field);
  };
  const auto now = clock_.now_ms();

  if (cmd == proto::SubmitRequest::command) {
    auto request = decode_or<proto::SubmitRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    sched::NewSubmission submission;
    submission.submission_id = ids_.next(now);
    submission.org_id = std::move(request->org_id);
    submission.app_version_id = std::move(request->app_version_id);
    submission.priority = request->priority;
    submission.target = request->target;
    submission.idempotency_key = std::move(request->idempotency_key);
    submission.retries = request->retries;
    submission.max_attempts = request->max_attempts;
    submission.test_paths = std::move(request->tests);
    submission.job_ids.reserve(submission.test_paths.size());
    for (std::size_t i = 0; i < submission.test_paths.size(); ++i) submission.job_ids.push_back(ids_.next(now));
    // The reply goes out only after the store made the jobs durable (promise 1): the
    // submission waits for the end of this loop round, then the whole batch is written with
    // one store call and answered (flush_submits).
    pending_submit_jobs_ += submission.job_ids.size();
    pending_submits_.push_back({identity, std::move(request->rid), std::move(submission)});
    if (pending_submit_jobs_ >= kMaxSubmitBatchJobs ||
        (pending_submits_.size() >= kSubmitChunk && store_.submits_in_flight() < kMaxSubmitsInFlight)) {
      flush_submits();
    }
    return;
  }
  flush_submits();  // anything else sees every earlier submit applied (and answered: store())
  if (cmd == proto::StatusRequest::command) {
    auto request = decode_or<proto::StatusRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    auto found = store().get(request->job_ids);
    proto::StatusReply reply;
    reply.rid = request->rid;
    for (std::size_t i = 0; i < found.size(); ++i) {
      if (found[i]) {
        reply.jobs.push_back(std::move(*found[i]));
      } else {
        reply.missing.push_back(request->job_ids[i]);
      }
    }
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::ListRequest::command) {
    auto request = decode_or<proto::ListRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    sched::ListQuery query;
    query.org_id = request->org_id;
    query.app_version_id = request->app_version_id;
    query.status = request->status;
    query.target = request->target;
    query.cursor = request->cursor;
    query.limit = request->limit;
    auto page = store().list(query);
    proto::ListReply reply;
    reply.rid = request->rid;
    reply.jobs = std::move(page.jobs);
    reply.next_cursor = std::move(page.next_cursor);
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::CancelRequest::command) {
    auto request = decode_or<proto::CancelRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    proto::CancelReply reply;
    reply.rid = request->rid;
    if (!request->job_id.empty()) {
      reply.results.push_back(store().cancel_job(request->job_id, now));
    } else {
      reply.results = store().cancel_build(request->org_id, request->app_version_id, now);
    }
    std::vector<std::string> running;
    for (const auto& result : reply.results) {
      if (result.outcome == "cancel_requested") running.push_back(result.job_id);
    }
    if (!running.empty()) {
      for (const auto& job : store().get(running)) {
        if (job) send_cancel(*job);
      }
    }
    std::vector<std::string> cancelled;
    for (const auto& result : reply.results) {
      if (result.outcome == "cancelled") cancelled.push_back(result.job_id);
    }
    if (!cancelled.empty()) {
      for (const auto& job : store().get(cancelled)) {
        if (job) events_->job_status(*job, now, "cancelled");
      }
    }
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::RetryRequest::command) {
    auto request = decode_or<proto::RetryRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    // retry_dead answers "queued" both for a revived job and for one that was queued
    // already; only a dead job may be retried, so look first. (A job that dies in between
    // is refused and can be retried again.)
    const std::string ids[] = {request->job_id};
    auto current = store().get(ids);
    if (current.front() && current.front()->status != proto::JobStatus::dead) {
      reject({std::string(proto::errc::conflict),
              "job " + request->job_id + " is " + std::string(proto::to_string(current.front()->status)) + ", not dead",
              "job_id"});
      return;
    }
    auto status = current.front() ? store().retry_dead(request->job_id, now) : std::nullopt;
    if (!status) {
      reject({std::string(proto::errc::not_found), "no job " + request->job_id, "job_id"});
      return;
    }
    if (*status != proto::JobStatus::queued) {
      reject({std::string(proto::errc::conflict),
              "job " + request->job_id + " is " + std::string(proto::to_string(*status)) + ", not dead", "job_id"});
      return;
    }
    proto::RetryReply reply;
    reply.rid = request->rid;
    reply.job_id = request->job_id;
    reply.status = *status;
    reply_client(identity, reply);
    work_maybe_available_ = true;
    return;
  }
  if (cmd == proto::QueueRequest::command) {
    auto request = decode_or<proto::QueueRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    auto page = store().queue(request->cursor, request->limit, now);
    proto::QueueReply reply;
    reply.rid = request->rid;
    reply.groups = std::move(page.groups);
    reply.by_status = std::move(page.by_status);
    reply.by_priority = std::move(page.by_priority);
    reply.next_cursor = std::move(page.next_cursor);
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::WorkersRequest::command) {
    auto request = decode_or<proto::WorkersRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    proto::WorkersReply reply;
    reply.rid = request->rid;
    reply.workers = store().workers();
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::HealthRequest::command) {
    auto request = decode_or<proto::HealthRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    proto::HealthReply reply;
    reply.rid = request->rid;
    reply.store = settings_.store_kind;
    reply.version = settings_.version;
    reply.broker_id = settings_.broker_id;
    reply.uptime_ms = steady_ms() - started_steady_ms_;
    try {
      reply.store_reachable = store().ping();
      if (reply.store_reachable) reply.queue_depth = store().queue_depth();
    } catch (const StoreUnavailable& e) {
      reply.store_reachable = false;
      reply.detail = std::string("store unreachable: ") + e.what();
    }
    reply.ok = reply.store_reachable;
    if (!reply.ok && reply.detail.empty()) reply.detail = "store unreachable";
    reply_client(identity, reply);
    return;
  }
  if (cmd == proto::StatsRequest::command) {
    auto request = decode_or<proto::StatsRequest>(envelope, settings_.limits, reject);
    if (!request) return;
    auto stats = store().stats(now);
    proto::StatsReply reply;
    reply.rid = request->rid;
    reply.by_status = std::move(stats.by_status);
    reply.by_org = std::move(stats.by_org);
    reply.jobs_per_sec = stats.jobs_per_sec;
    reply.rejected_requests = counters_.rejected;
    reply_client(identity, reply);
    return;
  }
  reject({std::string(proto::errc::unknown_command), "unknown client command '" + cmd + "'", ""});
}

bool Broker::batch_store_call(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                              std::span<const BatchPeer> peers, const std::function<void()>& call) {
  try {
    call();
    note_store_reachable();
    return true;
  } catch (const StoreUnavailable& e) {
    fail_batch(socket, protocol, command, peers, true, e.what());
  } catch (const std::exception& e) {
    fail_batch(socket, protocol, command, peers, false, e.what());
  }
  return false;
}

void Broker::note_store_reachable() {
  if (store_down_) {
    store_down_ = false;
    log_->info("store reachable again");
  }
}

void Broker::fail_batch(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                        std::span<const BatchPeer> peers, bool unavailable, const std::string& why) {
  if (unavailable) {
    ++counters_.store_unavailable;
    if (!store_down_) log_->error("store unreachable: {}", why);
    store_down_ = true;
  } else {
    log_->error("internal error serving {}: {}", command, why);
  }
  for (const auto& peer : peers) {
    if (unavailable) {
      error_to(socket, protocol, *peer.identity, *peer.rid, proto::errc::unavailable,
               "store unreachable, retry later: " + why);
    } else {
      error_to(socket, protocol, *peer.identity, *peer.rid, proto::errc::internal, "internal error: " + why);
    }
  }
}

sched::JobStore& Broker::store() {
  settle_submits();
  return store_;
}

void Broker::settle_submits() {
  while (store_.submits_in_flight() > 0) answer_sent_submits(true);
}

void Broker::answer_sent_submits(bool wait) {
  // Without `wait`, only what is in; with it, at least the oldest batch.
  for (bool first = true; !sent_submits_.empty(); first = false) {
    auto done = store_.take_submits(wait && first);
    if (!done) return;
    auto batch = std::move(sent_submits_.front());
    sent_submits_.pop_front();
    if (done->failure != sched::JobStore::SentSubmits::Failure::none) {
      std::vector<BatchPeer> peers;
      for (const auto& p : batch.peers) peers.push_back({&p.identity, &p.rid});
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers,
                 done->failure == sched::JobStore::SentSubmits::Failure::unavailable, done->error);
      continue;
    }
    note_store_reachable();
    answer_submits(batch.peers, done->submissions, done->results, batch.now);
  }
}

void Broker::answer_submits(std::span<const SubmitPeer> peers, std::span<const sched::NewSubmission> submissions,
                            std::span<sched::SubmitResult> results, std::int64_t now) {
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& p = peers[i];
    const auto& s = submissions[i];
    if (i >= results.size() || !results[i].outcome) {
      const std::string why = i < results.size() ? results[i].error : "no result";
      log_->error("internal error serving SUBMIT: {}", why);
      error_to(clients_, proto::kClientProtocol, p.identity, p.rid, proto::errc::internal, "internal error: " + why);
      continue;
    }
    // The outcome is answered once: its ids move into the reply.
    auto& outcome = *results[i].outcome;
    proto::SubmitReply reply;
    reply.rid = p.rid;
    reply.submission_id = std::move(outcome.submission_id);
    reply.job_ids = std::move(outcome.job_ids);
    reply.duplicate = outcome.duplicate;
    // Counted before the reply goes out: whoever reads the counters after the reply sees it.
    if (!reply.duplicate) counters_.jobs_submitted += reply.job_ids.size();
    reply_client(p.identity, reply);
    if (!reply.duplicate) {
      for (std::size_t k = 0; has_subscribers() && k < reply.job_ids.size(); ++k) {
        proto::JobEvent event;
        event.job_id = reply.job_ids[k];
        event.org_id = s.org_id;
        event.app_version_id = s.app_version_id;
        event.status = proto::JobStatus::queued;
        event.at_ms = now;
        events_->job(std::move(event));
      }
      work_maybe_available_ = true;
    }
  }
}

void Broker::flush_submits() {
  if (pending_submits_.empty()) return;
  auto batch = std::move(pending_submits_);
  pending_submits_.clear();
  pending_submit_jobs_ = 0;
  const auto now = clock_.now_ms();
  std::vector<SubmitPeer> submitters;
  std::vector<sched::NewSubmission> submissions;
  submitters.reserve(batch.size());
  submissions.reserve(batch.size());
  for (auto& p : batch) {
    submitters.push_back({std::move(p.identity), std::move(p.rid)});
    submissions.push_back(std::move(p.submission));
  }
  std::vector<BatchPeer> peers;
  for (const auto& p : submitters) peers.push_back({&p.identity, &p.rid});
  std::uint64_t submitted_jobs = 0;
  for (const auto& s : submissions) submitted_jobs += s.job_ids.size();

  // Held pulls that the new work may satisfy are tried in the same store round trip (at most
  // one per distinct group submitted): the worker gets its group without a second one.
  std::vector<sched::ClaimRequest> claims;
  std::vector<std::size_t> claim_pulls;  // index into held_pulls_
  if (!held_pulls_.empty()) {
    std::vector<std::string> groups;
    std::vector<proto::Target> targets;
    for (const auto& s : submissions) {
      auto g = s.org_id + "/" + s.app_version_id + "/" + std::string(proto::to_string(s.target));
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(std::move(g));
      if (std::find(targets.begin(), targets.end(), s.target) == targets.end()) targets.push_back(s.target);
    }
    for (std::size_t i = 0; i < held_pulls_.size() && claims.size() < groups.size(); ++i) {
      const auto& pull = held_pulls_[i].pull;
      if (std::none_of(pull.targets.begin(), pull.targets.end(), [&](proto::Target t) {
            return std::find(targets.begin(), targets.end(), t) != targets.end();
          })) {
        continue;
      }
      // Counting this batch's jobs, which the store's counts cannot have seen yet.
      claims.push_back(claim_request(pull, now, submitted_jobs));
      claim_pulls.push_back(i);
    }
  }
  claim_sizer_->add_submitted(submitted_jobs);

  if (claims.empty()) {
    // Nobody waits for this work: the batch goes out, and is answered when the store is done
    // with it (answer_sent_submits), while this loop reads on.
    if (store_.submits_in_flight() >= kMaxSubmitsInFlight) answer_sent_submits(true);
    try {
      store_.send_submits(std::move(submissions), now);
    } catch (const StoreUnavailable& e) {
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers, true, e.what());
      return;
    } catch (const std::exception& e) {
      fail_batch(clients_, proto::kClientProtocol, "SUBMIT", peers, false, e.what());
      return;
    }
    sent_submits_.push_back({std::move(submitters), now});
    // A store that wrote at once (memory; it has no descriptor to wait on) is answered now.
    if (store_.submits_fd() < 0) answer_sent_submits(false);
    return;
  }

  std::vector<sched::SubmitResult> results;
  std::vector<std::optional<sched::Claim>> claimed;
  const bool done = batch_store_call(clients_, proto::kClientProtocol, "SUBMIT", peers, [&] {
    auto both = store().submit_and_claim(submissions, claims, now);
    results = std::move(both.submits);
    claimed = std::move(both.claims);
  });
  if (!done) return;
  // Groups claimed for held pulls go out first (those pulls are no longer held), then the
  // submitters' replies: the jobs are durable either way, and the worker's group is the next
  // hop on the way to running them. The events keep their order: queued, then assigned.
  std::vector<std::size_t> served;
  std::vector<const sched::Claim*> delivered;
  for (std::size_t k = 0; k < claimed.size() && k < claim_pulls.size(); ++k) {
    if (!claimed[k]) continue;
    const auto& held = held_pulls_[claim_pulls[k]];
    try {
      if (send_assign(held.identity, held.pull, *claimed[k], now)) delivered.push_back(&*claimed[k]);
    } catch (const StoreUnavailable&) {
      ++counters_.store_unavailable;  // handing back a vanished worker's group failed: its lease expires
    } catch (const std::exception& e) {
      // As above; the submitters below are answered whatever became of the group.
      log_->error("handing back an undeliverable group failed: {}", e.what());
    }
    served.push_back(claim_pulls[k]);
  }
  answer_submits(submitters, submissions, results, now);
  for (const auto* claim : delivered) announce_assigned(*claim, now);
  for (auto it = served.rbegin(); it != served.rend(); ++it) {
    held_pulls_.erase(held_pulls_.begin() + static_cast<std::ptrdiff_t>(*it));
  }
}

// ---------------------------------------------------------------------------------------
// Workers

bool Broker::on_worker_message() {
  auto request = receive_request(workers_, proto::kWorkerProtocol);
  if (!request) return false;
  ++counters_.worker_messages;
  if (request->rejected) return true;
  // HEARTBEAT and PROGRESS have no reply, so their failures are not answered either.
  const bool answered =
      request->envelope.command != proto::Heartbeat::command && request->envelope.command != proto::Progress::command;
  serve_guarded(workers_, proto::kWorkerProtocol, *request, answered,
                [&] { handle_worker(request->identity, request->envelope); });
  return true;
}

void Broker::note_worker(const std::string& worker_id, const std::string& identity) {
  worker_identity_[worker_id] = identity;
  auto& record = worker_records_[worker_id];
  record.info.worker_id = worker_id;
  record.info.last_seen_ms = clock_.now_ms();
  record.dirty = true;
}

proto::WorkerInfo& Broker::worker_record(const std::string& worker_id) {
  auto& record = worker_records_[worker_id];
  record.info.worker_id = worker_id;
  record.dirty = true;
  record.changed = true;
  worker_changes_pending_ = true;
  return record.info;
}

void Broker::flush_worker_records(bool all) {
  const auto now = clock_.now_ms();
  // Walking every record is O(workers): do it only when something changed or, for
  // last_seen alone, every 200 ms.
  if (!all && !worker_changes_pending_ && now < next_worker_flush_ms_) return;
  worker_changes_pending_ = false;
  next_worker_flush_ms_ = now + 200;
  for (auto& [id, record] : worker_records_) {
    if (!record.dirty) continue;
    if (!all && !record.changed && now - record.written_ms < 1000) continue;
    try {
      store().upsert_worker(record.info);
    } catch (const StoreUnavailable&) {
      ++counters_.store_unavailable;
      worker_changes_pending_ = true;
      return;
    }
    record.dirty = false;
    record.changed = false;
    record.written_ms = now;
  }
}

void Broker::handle_worker(const std::string& identity, const proto::Envelope& envelope) {
  const auto& cmd = envelope.command;
  auto reject = [&](const proto::Error& error) {
    error_to(workers_, proto::kWorkerProtocol, identity, proto::peek_rid(envelope.body, settings_.limits), error.code,
             error.message, error.field);
  };
  const auto now = clock_.now_ms();
  // RELEASE, BYE and anything unknown see every earlier report applied (a release must not
  // requeue a job whose result is waiting in the batch). Heartbeats, reports, pulls and
  // progress touch other jobs than the pending reports, so they let the batch grow: a pull
  // may claim before this round's reports land, which changes nothing it reads.
  if (cmd != proto::Heartbeat::command && cmd != proto::Report::command && cmd != proto::Pull::command &&
      cmd != proto::Progress::command) {
    flush_reports();
  }

  if (cmd == proto::Heartbeat::command) {
    auto hb = decode_or<proto::Heartbeat>(envelope, settings_.limits, reject);
    if (!hb) return;
    note_worker(hb->worker_id, identity);
    if (!hb->lease_id.empty()) renew_lease(hb->worker_id, hb->lease_id);
    auto& info = worker_records_[hb->worker_id].info;
    if (info.state != hb->state || info.lease_id != hb->lease_id || info.device_id != hb->device_id) {
      auto& changed = worker_record(hb->worker_id);
      changed.state = hb->state;
      changed.lease_id = hb->lease_id;
      changed.group_key = hb->group_key;
      if (!hb->device_id.empty()) changed.device_id = hb->device_id;
    }
    return;
  }
  if (cmd == proto::Pull::command) {
    auto pull = decode_or<proto::Pull>(envelope, settings_.limits, reject);
    if (!pull) return;
    note_worker(pull->worker_id, identity);
    {
      auto& info = worker_records_[pull->worker_id].info;
      if (info.installed != pull->installed || info.targets != pull->targets || info.state != "idle") {
        auto& changed = worker_record(pull->worker_id);
        changed.installed = pull->installed;
        changed.targets = pull->targets;
        changed.state = "idle";
        changed.lease_id.clear();
        changed.group_key.clear();
      }
    }
    // A pull from a worker replaces any pull it still had held or waiting in this round.
    std::erase_if(held_pulls_, [&](const HeldPull& held) { return held.identity == identity; });
    std::erase_if(pending_pulls_, [&](const HeldPull& p) { return p.identity == identity; });
    // Claimed with the rest of this round's pulls: one store round trip for all of them.
    auto wait = std::min<std::int64_t>(pull->wait_ms, settings_.max_pull_wait.count());
    pending_pulls_.push_back({identity, std::move(*pull), steady_ms() + wait});
    return;
  }
  if (cmd == proto::Report::command) {
    auto report = decode_or<proto::Report>(envelope, settings_.limits, reject);
    if (!report) return;
    note_worker(report->worker_id, identity);
    renew_lease(report->worker_id, report->lease_id);
    // Confirmed after the store applied it, with the rest of this round's reports.
    pending_reports_.push_back({identity, std::move(*report)});
    if (pending_reports_.size() >= kMaxReportBatch) flush_reports();
    return;
  }
  if (cmd == proto::Progress::command) {
    auto progress = decode_or<proto::Progress>(envelope, settings_.limits, reject);
    if (!progress) return;
    note_worker(progress->worker_id, identity);
    renew_lease(progress->worker_id, progress->lease_id);
    (void)store().progress(*progress, now);
    return;
  }
  if (cmd == proto::Hello::command) {
    auto hello = decode_or<proto::Hello>(envelope, settings_.limits, reject);
    if (!hello) return;
    note_worker(hello->worker_id, identity);
    auto& info = worker_record(hello->worker_id);
    info.device_id = hello->device_id;
    info.targets = hello->targets;
    info.labels = hello->labels;
    info.installed = hello->installed;
    info.state = "idle";
    info.last_seen_ms = now;
    flush_worker_records(false);
    proto::HelloReply reply;
    reply.rid = hello->rid;
    reply.heartbeat_ms = static_cast<std::uint32_t>(settings_.heartbeat.count());
    reply.lease_ms = static_cast<std::uint32_t>(settings_.lease.count());
    reply_worker(identity, reply);
    proto::WorkerEvent joined;
    joined.worker_id = hello->worker_id;
    joined.state = "joined";
    joined.at_ms = now;
    events_->worker(std::move(joined));
    log_->info("worker {} joined (device {}, {} target(s), {} build(s) installed)", hello->worker_id, hello->device_id,
               hello->targets.size(), hello->installed.size());
    return;
  }
  if (cmd == proto::Release::command) {
    auto release = decode_or<proto::Release>(envelope, settings_.limits, reject);
    if (!release) return;
    auto released = store().release(release->worker_id, release->lease_id, release->job_ids, now);
    proto::ReleaseReply reply;
    reply.rid = release->rid;
    reply.released = released;
    reply_worker(identity, reply);
    if (released > 0) work_maybe_available_ = true;
    log_->info("worker {} released {} job(s) of lease {}", release->worker_id, released, release->lease_id);
    return;
  }
  if (cmd == proto::Bye::command) {
    auto bye = decode_or<proto::Bye>(envelope, settings_.limits, reject);
    if (!bye) return;
    std::erase_if(held_pulls_, [&](const HeldPull& held) { return held.identity == identity; });
    std::erase_if(pending_pulls_, [&](const HeldPull& p) { return p.identity == identity; });
    worker_identity_.erase(bye->worker_id);
    worker_records_.erase(bye->worker_id);
    store().remove_worker(bye->worker_id);
    proto::ByeReply reply;
    reply.rid = bye->rid;
    reply_worker(identity, reply);
    proto::WorkerEvent left;
    left.worker_id = bye->worker_id;
    left.state = "left";
    left.at_ms = now;
    events_->worker(std::move(left));
    log_->info("worker {} left", bye->worker_id);
    return;
  }
  reject({std::string(proto::errc::unknown_command), "unknown worker command '" + cmd + "'", ""});
}

void Broker::flush_reports() {
  if (pending_reports_.empty()) return;
  auto batch = std::move(pending_reports_);
  pending_reports_.clear();
  const auto now = clock_.now_ms();
  std::vector<proto::Report> reports;
  reports.reserve(batch.size());
  for (const auto& p : batch) reports.push_back(p.report);
  std::vector<sched::ReportOutcome> outcomes;
  std::vector<BatchPeer> peers;
  for (const auto& p : batch) peers.push_back({&p.identity, &p.report.rid});
  // Workers resend reports; UNAVAILABLE tells them to back off first.
  if (!batch_store_call(workers_, proto::kWorkerProtocol, "REPORT", peers,
                        [&] { outcomes = store().report_many(reports, now, has_subscribers()); })) {
    return;
  }
  for (std::size_t i = 0; i < batch.size() && i < outcomes.size(); ++i) {
    const auto& report = batch[i].report;
    const auto& outcome = outcomes[i];
    proto::Confirm confirm;
    confirm.rid = report.rid;
    confirm.job_id = report.job_id;
    confirm.attempt = report.attempt;
    confirm.accepted = outcome.accepted;
    confirm.reason = outcome.reason;
    if (outcome.accepted) {
      ++counters_.reports_accepted;
      if (outcome.job && has_subscribers()) events_->job_status(*outcome.job, now);
      if (outcome.requeued) work_maybe_available_ = true;
    } else {
      ++counters_.reports_stale;
      log_->info("ignored report of job {} attempt {} from {}: {}", report.job_id, report.attempt, report.worker_id,
                 outcome.reason);
    }
    reply_worker(batch[i].identity, confirm);
  }
}

bool Broker::try_assign(const std::string& identity, const proto::Pull& pull) {
  const auto now = clock_.now_ms();
  auto claim = store().claim_group(claim_request(pull, now, 0), now);
  if (!claim) return false;
  deliver(identity, pull, *claim, now);
  return true;
}

sched::ClaimRequest Broker::claim_request(const proto::Pull& pull, std::int64_t now, std::uint64_t submitting) {
  sched::ClaimRequest request;
  request.worker_id = pull.worker_id;
  request.targets = pull.targets;
  request.installed = pull.installed;
  request.max_jobs = claim_size(now, submitting);
  return request;
}

std::uint32_t Broker::claim_size(std::int64_t now, std::uint64_t submitting) {
  if (settings_.claim_min_jobs == 0) return 0;  // whole groups
  return claim_max_jobs(
      *claim_sizer_, store_, now,
      [&] { return count_live_workers(worker_records_, now, 3 * settings_.heartbeat.count()); }, submitting);
}

void Broker::deliver(const std::string& identity, const proto::Pull& pull, const sched::Claim& claim,
                     std::int64_t now) {
  if (send_assign(identity, pull, claim, now)) announce_assigned(claim, now);
}

void Broker::announce_assigned(const sched::Claim& claim, std::int64_t now) {
  if (!has_subscribers()) return;
  for (const auto& job : claim.jobs) events_->job_status(job, now);
}

bool Broker::send_assign(const std::string& identity, const proto::Pull& pull, const sched::Claim& found,
                         std::int64_t now) {
  const auto* claim = &found;
  note_lease_deadline(claim->lease_id, now);  // the claim set it a lease ahead
  proto::Assign assign;
  assign.rid = pull.rid;
  assign.lease_id = claim->lease_id;
  assign.group_key = claim->group_key;
  assign.org_id = claim->org_id;
  assign.app_version_id = claim->app_version_id;
  assign.target = claim->target;
  assign.reinstall = false;
  for (const auto& job : claim->jobs) {
    proto::AssignedJob assigned;
    assigned.job_id = job.id;
    assigned.test_path = job.test_path;
    assigned.attempt = job.attempt;
    assigned.priority = job.priority;
    assign.jobs.push_back(std::move(assigned));
  }
  ++counters_.groups_assigned;
  if (!send_routed(workers_, identity, proto::kWorkerProtocol, proto::Assign::command, proto::encode(assign))) {
    // The worker went away between its pull and this answer. Its lease will expire and the
    // scheduler will requeue the jobs; hand them back now instead of waiting.
    ++counters_.unroutable;
    std::vector<std::string> ids;
    for (const auto& job : claim->jobs) ids.push_back(job.id);
    store().release(pull.worker_id, claim->lease_id, ids, now);
    work_maybe_available_ = true;
    log_->warn("worker {} vanished before its group {} was delivered; released it", pull.worker_id, claim->group_key);
    return false;
  }
  log_->debug("assigned group {} ({} job(s)) to {} under lease {}", claim->group_key, claim->jobs.size(),
              pull.worker_id, claim->lease_id);
  return true;
}

void Broker::flush_pulls() {
  if (pending_pulls_.empty()) return;
  auto batch = std::move(pending_pulls_);
  pending_pulls_.clear();
  const auto now = clock_.now_ms();
  std::vector<sched::ClaimRequest> requests;
  requests.reserve(batch.size());
  for (const auto& p : batch) requests.push_back(claim_request(p.pull, now, 0));
  std::vector<std::optional<sched::Claim>> claims;
  std::vector<BatchPeer> peers;
  for (const auto& p : batch) peers.push_back({&p.identity, &p.pull.rid});
  // Workers pull again; UNAVAILABLE tells them to back off first.
  if (!batch_store_call(workers_, proto::kWorkerProtocol, "PULL", peers,
                        [&] { claims = store().submit_and_claim({}, requests, now).claims; })) {
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (i < claims.size() && claims[i]) {
      deliver(p.identity, p.pull, *claims[i], now);
    } else if (p.pull.wait_ms == 0) {
      proto::NoWork none;
      none.rid = p.pull.rid;
      reply_worker(p.identity, none);
    } else {
      held_pulls_.push_back(std::move(p));
    }
  }
}

void Broker::serve_held_pulls() {
  // One claim attempt per held pull per wakeup, oldest first; stop early once claims come
  // back empty for every target combination already tried.
  if (held_pulls_.empty()) return;
  std::deque<HeldPull> still_waiting;
  std::vector<std::vector<proto::Target>> exhausted;
  while (!held_pulls_.empty()) {
    auto held = std::move(held_pulls_.front());
    held_pulls_.pop_front();
    bool known_empty = std::any_of(exhausted.begin(), exhausted.end(), [&](const auto& targets) {
      return std::all_of(held.pull.targets.begin(), held.pull.targets.end(), [&](proto::Target t) {
        return std::find(targets.begin(), targets.end(), t) != targets.end();
      });
    });
    if (!known_empty) {
      try {
        if (try_assign(held.identity, held.pull)) continue;
      } catch (const StoreUnavailable& e) {
        ++counters_.store_unavailable;
        still_waiting.push_back(std::move(held));
        continue;
      }
      exhausted.push_back(held.pull.targets);
    }
    still_waiting.push_back(std::move(held));
  }
  held_pulls_ = std::move(still_waiting);
}

void Broker::expire_held_pulls() {
  const auto now = steady_ms();
  while (!held_pulls_.empty()) {
    auto it = std::find_if(held_pulls_.begin(), held_pulls_.end(),
                           [&](const HeldPull& held) { return held.deadline_steady_ms <= now; });
    if (it == held_pulls_.end()) break;
    proto::NoWork none;
    none.rid = it->pull.rid;
    reply_worker(it->identity, none);
    held_pulls_.erase(it);
  }
}

void Broker::renew_lease(const std::string& worker_id, const std::string& lease_id) {
  if (worker_id.empty() || lease_id.empty()) return;
  const auto now = clock_.now_ms();
  if (auto it = lease_renewed_ms_.find(lease_id);
      it != lease_renewed_ms_.end() && now - it->second < renewal_interval_ms()) {
    return;
  }
  pending_renewals_[worker_id] = lease_id;
}

void Broker::note_lease_deadline(const std::string& lease_id, std::int64_t now) {
  if (lease_renewed_ms_.size() >= lease_prune_at_) {
    // An entry older than a lease says nothing any more: that lease expired or needs renewing.
    std::erase_if(lease_renewed_ms_, [&](const auto& entry) { return now - entry.second >= settings_.lease.count(); });
    lease_prune_at_ = std::max<std::size_t>(1024, 2 * lease_renewed_ms_.size());
  }
  lease_renewed_ms_[lease_id] = now;
}

void Broker::flush_renewals() {
  if (pending_renewals_.empty()) return;
  const auto now = clock_.now_ms();
  // Renewals are coalesced per loop iteration (one per worker however many messages it
  // sent) and go out together: one store round trip per iteration, not one per lease.
  std::vector<sched::JobStore::LeaseRenewal> batch;
  auto end = pending_renewals_.begin();
  for (; end != pending_renewals_.end() && batch.size() < kMaxRenewalBatch; ++end) {
    batch.push_back({end->first, end->second});
  }
  std::vector<bool> renewed;
  try {
    renewed = store().renew_leases(batch, now);
  } catch (const StoreUnavailable&) {
    ++counters_.store_unavailable;
    return;  // kept for the next iteration
  }
  pending_renewals_.erase(pending_renewals_.begin(), end);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i < renewed.size() && renewed[i]) {
      ++counters_.lease_renewals;
      note_lease_deadline(batch[i].lease_id, now);
    } else {
      lease_renewed_ms_.erase(batch[i].lease_id);
    }
  }
}

void Broker::send_cancel(const proto::Job& job) {
  auto it = worker_identity_.find(job.worker_id);
  if (it == worker_identity_.end()) {
    log_->warn(
        "job {} is held by worker {}, which is not connected to this broker: it cannot be stopped early; "
        "it ends cancelled when its worker reports (unless it passed) and is not retried",
        job.id, job.worker_id);
    return;
  }
  proto::CancelJob cancel;
  cancel.job_id = job.id;
  cancel.attempt = job.attempt;
  if (!send_routed(workers_, it->second, proto::kWorkerProtocol, proto::CancelJob::command, proto::encode(cancel))) {
    ++counters_.unroutable;
  }
}

// ---------------------------------------------------------------------------------------
// Event proxy

bool Broker::on_events_in() {
  zmq::message_t frame;
  std::vector<zmq::message_t> frames;
  std::size_t total = 0;
  bool more = true;
  if (!events_in_.recv(frame, zmq::recv_flags::dontwait)) return false;
  while (true) {
    total += frame.size();
    more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
    (void)events_in_.recv(frame, zmq::recv_flags::none);
  }
  if (frames.size() != 4 || total > settings_.limits.max_message_bytes) {
    ++counters_.rejected;
    return true;  // not an event of ours: not forwarded
  }
  // Heartbeats passing through renew leases: any traffic from a worker keeps its lease.
  const auto topic = frames[0].to_string_view();
  if (topic.substr(0, 3) == "hb." && frames[2].to_string_view() == proto::Heartbeat::command) {
    auto hb = proto::decode<proto::Heartbeat>(frames[3].to_string_view(), settings_.limits);
    if (hb && !hb->lease_id.empty()) renew_lease(hb->worker_id, hb->lease_id);
  }
  if (!has_subscribers()) return true;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
    try {
      (void)events_out_.send(frames[i], flags);
    } catch (const zmq::error_t&) {
      break;
    }
  }
  ++counters_.events_forwarded;
  return true;
}

bool Broker::on_events_out() {
  // Subscription changes from subscribers: one frame, 1 (subscribe) or 0 (unsubscribe) and
  // the topic prefix. The XPUB passes on only the first subscription to a prefix and the
  // last unsubscription from it (also when a subscriber disconnects), so the map holds the
  // prefixes someone listens to. The upstream XSUB already subscribes to everything: they
  // are not forwarded.
  zmq::message_t frame;
  if (!events_out_.recv(frame, zmq::recv_flags::dontwait)) return false;
  const bool single = !frame.more();
  while (frame.more()) (void)events_out_.recv(frame, zmq::recv_flags::none);  // not ours: drained
  if (!single || frame.size() == 0) return true;
  const auto* bytes = static_cast<const char*>(frame.data());
  std::string topic(bytes + 1, frame.size() - 1);
  if (bytes[0] == 1) {
    ++subscriptions_[std::move(topic)];
  } else if (bytes[0] == 0) {
    auto it = subscriptions_.find(topic);
    if (it != subscriptions_.end() && --it->second == 0) subscriptions_.erase(it);
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Replies

void Broker::SubscribedSink::send(std::vector<std::string> frames) {
  if (!broker_.has_subscribers()) return;
  std::array<std::string_view, 8> views{};
  const std::size_t n = std::min(frames.size(), views.size());
  for (std::size_t i = 0; i < n; ++i) views[i] = frames[i];
  ++broker_.counters_.events_published;  // before the send: a subscriber that has it sees the count
  (void)send_frames(broker_.events_out_, std::span<const std::string_view>(views.data(), n));
}

bool Broker::send_routed(zmq::socket_t& socket, const std::string& identity, std::string_view protocol,
                         std::string_view command, const std::string& body) {
  const std::array<std::string_view, 4> frames = {identity, protocol, command, body};
  // A send may take in commands that make messages readable without the fd firing again.
  unread_[&socket == &clients_ ? kClients : kWorkers] = true;
  return send_frames(socket, frames);
}

template <class Reply>
void Broker::reply_client(const std::string& identity, const Reply& reply) {
  if (!send_routed(clients_, identity, proto::kClientProtocol, Reply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
}

template <class Reply>
void Broker::reply_worker(const std::string& identity, const Reply& reply) {
  if (!send_routed(workers_, identity, proto::kWorkerProtocol, Reply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
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

}  // namespace qg::broker

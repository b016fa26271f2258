// The client side of the broker: the table of client commands and the handler of each
// (STATUS, LIST, CANCEL, RETRY, QUEUE, STATS; SUBMIT is handled with its batches in
// submit_batches.cpp; WORKERS, DRAIN_WORKER, FORGET_WORKER and HEALTH in farm_requests.cpp).
// A handler decodes its request, makes its store calls through store() (so every earlier
// submit is answered first) and replies on the client ROUTER. A new command is one row in kClientCommands and one
// handler. What each handler shows and lets a connection do follows its PeerIdentity (org_view.hpp).
#include <string>
#include <vector>

#include "client/farm_stats_cache.hpp"
#include "client/org_view.hpp"
#include "events/event_topics.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/zmq_util.hpp"
#include "registry/farm_view.hpp"
#include "routing.hpp"

namespace qg::broker {

// SUBMIT, the most frequent, first: each message's row is found by comparing names in order.
const Broker::ClientCommand Broker::kClientCommands[] = {
    // name, handler, submits_first
    {proto::SubmitRequest::command, &Broker::handle_submit, false},
    {proto::StatusRequest::command, &Broker::handle_status, true},
    {proto::ListRequest::command, &Broker::handle_list, true},
    {proto::CancelRequest::command, &Broker::handle_cancel, true},
    {proto::RetryRequest::command, &Broker::handle_retry, true},
    {proto::QueueRequest::command, &Broker::handle_queue, true},
    {proto::WorkersRequest::command, &Broker::handle_workers, true},
    {proto::HealthRequest::command, &Broker::handle_health, true},
    {proto::StatsRequest::command, &Broker::handle_stats, true},
    // No store call: nothing to order after the submits.
    {proto::EventsTopicRequest::command, &Broker::handle_events_topic, false},
    {proto::DrainWorkerRequest::command, &Broker::handle_drain_worker, true},
    {proto::ForgetWorkerRequest::command, &Broker::handle_forget_worker, true},
};

bool Broker::on_client_message() {
  auto request = receive_request(clients_, proto::kClientProtocol);
  if (!request) return false;
  ++counters_.client_requests;
  if (request->rejected) return true;
  serve_guarded(clients_, proto::kClientProtocol, *request, true, [&] { handle_client(*request); });
  return true;
}

void Broker::handle_client(const Request& request) {
  const auto& envelope = request.envelope;
  const Incoming in{clients_, proto::kClientProtocol, request.identity, request.peer, envelope, clock_.now_ms()};
  const auto* command = find_command(kClientCommands, envelope.command);
  // Anything but a SUBMIT sees every earlier submit applied (and answered: store()).
  if (command == nullptr || command->submits_first) flush_submits();
  if (command == nullptr) {
    reject(in, {std::string(proto::errc::unknown_command), "unknown client command '" + envelope.command + "'", ""});
    return;
  }
  if (is_worker_side(in.peer) && command->handle != &Broker::handle_health) {
    reject(in, {std::string(proto::errc::forbidden),
                "a " + std::string(role_name(in.peer.role())) + " key may not send " + envelope.command, ""});
    return;
  }
  (this->*command->handle)(in);
}

void Broker::handle_status(const Incoming& in) {
  auto request = decode<proto::StatusRequest>(in);
  if (!request) return;
  auto found = store().get(request->job_ids);
  proto::StatusReply reply;
  reply.rid = request->rid;
  for (std::size_t i = 0; i < found.size(); ++i) {
    // Another org's job answers exactly as an unknown id does.
    if (found[i] && in.peer.acts_for_org(found[i]->org_id)) {
      redact_job(*found[i]);
      reply.jobs.push_back(std::move(*found[i]));
    } else {
      reply.missing.push_back(request->job_ids[i]);
    }
  }
  // Queue places and expected finishes of the jobs not final (qg/scheduler/eta.hpp): bounded
  // work, the queue ahead of each target read at most once a second. An estimate that fails
  // leaves them out rather than failing the request.
  try {
    auto eta = eta_->estimate(store(), reply.jobs, in.now);
    reply.etas = std::move(eta.jobs);
    reply.queued_ahead = eta.queued_ahead;
    reply.eta_ms = eta.eta_ms;
  } catch (const StoreError& e) {
    log_->warn("STATUS: no estimates: {}", e.what());
  }
  // A missing id created longer ago than the shortest retention in force was most likely
  // deleted by it. Judged from the id alone, so another org's job answers as an unknown id
  // of its age would.
  if (!reply.missing.empty()) {
    if (auto keep = store().retention()) {
      for (const auto& id : reply.missing) {
        const auto created = id_time_ms(id);
        if (created >= 0 && created + keep->count() <= in.now) reply.expired.push_back(id);
      }
    }
  }
  reply_client(in.identity, reply);
}

void Broker::handle_list(const Incoming& in) {
  auto request = decode<proto::ListRequest>(in);
  if (!request) return;
  sched::ListQuery query;
  query.org_id = request->org_id;
  if (!sees_every_org(in.peer)) {
    // An org key lists its own org (the store's per-org index); naming another is refused.
    if (!query.org_id.empty() && !in.peer.acts_for_org(query.org_id)) {
      reject(in, {std::string(proto::errc::forbidden), "this key may list org " + std::string(in.peer.id()) + " only",
                  "org_id"});
      return;
    }
    query.org_id = in.peer.id();
  }
  query.app_version_id = request->app_version_id;
  query.status = request->status;
  query.target = request->target;
  query.cursor = request->cursor;
  query.limit = request->limit;
  auto page = store().list(query);
  proto::ListReply reply;
  reply.rid = request->rid;
  reply.jobs = std::move(page.jobs);
  for (auto& job : reply.jobs) redact_job(job);
  reply.next_cursor = std::move(page.next_cursor);
  reply_client(in.identity, reply);
}

void Broker::handle_cancel(const Incoming& in) {
  auto request = decode<proto::CancelRequest>(in);
  if (!request) return;
  proto::CancelReply reply;
  reply.rid = request->rid;
  // Another org's job or build answers as one that does not exist: not_found, or no results.
  if (!request->job_id.empty()) {
    if (sees_every_org(in.peer) || job_of_peer(in, request->job_id)) {
      reply.results.push_back(store().cancel_job(request->job_id, in.now));
    } else {
      reply.results.push_back({request->job_id, "not_found"});
    }
  } else if (in.peer.acts_for_org(request->org_id)) {
    reply.results = store().cancel_build(request->org_id, request->app_version_id, in.now);
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
      if (job) events_->job_status(*job, in.now, "cancelled");
    }
  }
  reply_client(in.identity, reply);
}

void Broker::handle_retry(const Incoming& in) {
  auto request = decode<proto::RetryRequest>(in);
  if (!request) return;
  // retry_dead answers "queued" both for a revived job and for one that was queued
  // already; only a dead job may be retried, so look first. (A job that dies in between
  // is refused and can be retried again.)
  const std::string ids[] = {request->job_id};
  auto current = store().get(ids);
  // Another org's job answers as one that does not exist.
  if (current.front() && !in.peer.acts_for_org(current.front()->org_id)) current.front().reset();
  if (current.front() && current.front()->status != proto::JobStatus::dead) {
    reject(in,
           {std::string(proto::errc::conflict),
            "job " + request->job_id + " is " + std::string(proto::to_string(current.front()->status)) + ", not dead",
            "job_id"});
    return;
  }
  auto status = current.front() ? store().retry_dead(request->job_id, in.now) : std::nullopt;
  if (!status) {
    reject(in, {std::string(proto::errc::not_found), "no job " + request->job_id, "job_id"});
    return;
  }
  if (*status != proto::JobStatus::queued) {
    reject(in, {std::string(proto::errc::conflict),
                "job " + request->job_id + " is " + std::string(proto::to_string(*status)) + ", not dead", "job_id"});
    return;
  }
  proto::RetryReply reply;
  reply.rid = request->rid;
  reply.job_id = request->job_id;
  reply.status = *status;
  reply_client(in.identity, reply);
  work_maybe_available_ = true;
}

void Broker::handle_queue(const Incoming& in) {
  auto request = decode<proto::QueueRequest>(in);
  if (!request) return;
  auto page = store().queue(request->cursor, request->limit, in.now);
  proto::QueueReply reply;
  reply.rid = request->rid;
  reply.groups = std::move(page.groups);
  if (sees_every_org(in.peer)) {
    reply.by_status = std::move(page.by_status);
    reply.by_priority = std::move(page.by_priority);
  } else {
    // The page is filtered (it may come back short, even empty, with a next_cursor); the
    // counts are kept for all orgs together only, so an org key is not given them.
    std::erase_if(reply.groups, [&](const proto::GroupInfo& g) { return !in.peer.acts_for_org(g.org_id); });
  }
  reply.next_cursor = std::move(page.next_cursor);
  if (!reply.groups.empty()) {
    // Marked against the registry as it is now, not the sample SUBMIT's warning uses.
    const auto workers = store().workers();
    auto live = farm_->live_per_target(workers, in.now);
    for (auto& group : reply.groups) {
      group.no_live_worker = group.requirements
                                 ? !farm_->any_live_serves(workers, in.now, group.target, *group.requirements)
                                 : !live.contains(std::string(proto::to_string(group.target)));
    }
  }
  reply_client(in.identity, reply);
}

void Broker::handle_stats(const Incoming& in) {
  auto request = decode<proto::StatsRequest>(in);
  if (!request) return;
  auto stats = store().stats(in.now);
  proto::StatsReply reply;
  reply.rid = request->rid;
  if (sees_every_org(in.peer)) {
    reply.by_status = std::move(stats.by_status);
    reply.by_org = std::move(stats.by_org);
    reply.jobs_per_sec = stats.jobs_per_sec;
    reply.rejected_requests = counters_.rejected;
    reply.connections_refused = counters_.connections_refused;
    reply.connections_closed = counters_.connections_closed;
    reply.farm = farm_stats_->all(in.now, [&] { return store().farm_stats(in.now); });
  } else {
    // The store counts per org only jobs in all states; the other figures are of every org
    // together, so an org key gets its own org's count alone, and its own farm figures.
    const std::string org(in.peer.id());
    if (auto own = stats.by_org.find(org); own != stats.by_org.end()) reply.by_org.insert(*own);
    reply.farm = farm_stats_->of_org(in.now, org, [&] { return store().farm_stats(in.now); });
  }
  reply_client(in.identity, reply);
}

bool Broker::job_of_peer(const Incoming& in, const std::string& job_id) {
  const std::string ids[] = {job_id};
  auto found = store().get(ids);
  return found.front() && in.peer.acts_for_org(found.front()->org_id);
}

void Broker::handle_events_topic(const Incoming& in) {
  auto request = decode<proto::EventsTopicRequest>(in);
  if (!request) return;
  auto prefix = topics_->prefix_for(in.peer);
  if (!prefix) {
    reject(in, {std::string(proto::errc::forbidden), "this key receives no events", ""});
    return;
  }
  proto::EventsTopicReply reply;
  reply.rid = request->rid;
  reply.prefix = std::move(*prefix);
  reply_client(in.identity, reply);
}

}  // namespace qg::broker

#pragma once
// The one description of every body: for each type, its wire keys in wire order, and which
// of them a request must carry. encode.cpp walks it to write a body, decode.cpp walks it to
// read one, so the two cannot drift apart. Private to qg_proto.
//
// describe(v, m) calls v(key, field, need) once per field, in declaration order (which is the
// order encode() writes them). M is the message type, const when encoding.

#include <concepts>
#include <cstdint>
#include <type_traits>

#include "qg/proto/codec.hpp"
#include "qg/proto/messages.hpp"

namespace qg::proto::detail {

enum class Need : std::uint8_t { optional, required };
inline constexpr Need kReq = Need::required;

// Every message type with a body, for explicit instantiation and per-type plumbing.
#define QG_PROTO_MESSAGE_TYPES(X) \
  X(SubmitRequest)                \
  X(SubmitReply)                  \
  X(StatusRequest)                \
  X(StatusReply)                  \
  X(ListRequest)                  \
  X(ListReply)                    \
  X(CancelRequest)                \
  X(CancelReply)                  \
  X(RetryRequest)                 \
  X(RetryReply)                   \
  X(QueueRequest)                 \
  X(QueueReply)                   \
  X(WorkersRequest)               \
  X(WorkersReply)                 \
  X(DrainWorkerRequest)           \
  X(DrainWorkerReply)             \
  X(ForgetWorkerRequest)          \
  X(ForgetWorkerReply)            \
  X(HealthRequest)                \
  X(HealthReply)                  \
  X(StatsRequest)                 \
  X(StatsReply)                   \
  X(EventsTopicRequest)           \
  X(EventsTopicReply)             \
  X(Hello)                        \
  X(HelloReply)                   \
  X(Pull)                         \
  X(Assign)                       \
  X(NoWork)                       \
  X(Report)                       \
  X(Confirm)                      \
  X(Progress)                     \
  X(Heartbeat)                    \
  X(Release)                      \
  X(ReleaseReply)                 \
  X(Bye)                          \
  X(ByeReply)                     \
  X(CancelJob)                    \
  X(DrainRequested)               \
  X(ErrorReply)                   \
  X(JobEvent)                     \
  X(WorkerEvent)

// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define QG_SCHEMA(Type)                               \
  template <class V, class M>                         \
  requires std::same_as<std::remove_const_t<M>, Type> \
  void describe(V& v, M& m)

// ---- nested records --------------------------------------------------------------------

QG_SCHEMA(Error) {
  v("code", m.code);
  v("message", m.message);
  v("field", m.field);
  v("retry_after_ms", m.retry_after_ms);
  v("queued", m.queued);
  v("limit", m.limit);
  v("rate", m.rate);
  v("burst", m.burst);
}

QG_SCHEMA(Job) {
  v("id", m.id);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
  v("test_path", m.test_path);
  v("priority", m.priority);
  v("target", m.target);
  v("status", m.status);
  v("attempt", m.attempt);
  v("max_attempts", m.max_attempts);
  v("retries", m.retries);
  v("created_at_ms", m.created_at_ms);
  v("updated_at_ms", m.updated_at_ms);
  v("submission_id", m.submission_id);
  v("worker_id", m.worker_id);
  v("lease_id", m.lease_id);
  v("exit_code", m.exit_code);
  v("duration_ms", m.duration_ms);
  v("last_error", m.last_error);
  v("log_tail", m.log_tail);
  v("flaky", m.flaky);
  v("requires", m.requirements);
}

QG_SCHEMA(JobEta) {
  v("job_id", m.job_id);
  v("queued_ahead", m.queued_ahead);
  v("eta_ms", m.eta_ms);
}

QG_SCHEMA(CancelResult) {
  v("job_id", m.job_id);
  v("outcome", m.outcome);
  v("status", m.status);
}

QG_SCHEMA(GroupInfo) {
  v("key", m.key);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
  v("target", m.target);
  v("depth", m.depth);
  v("highest_priority", m.highest_priority);
  v("oldest_age_ms", m.oldest_age_ms);
  v("claimable", m.claimable);
  v("no_live_worker", m.no_live_worker);
  v("requires", m.requirements);
}

QG_SCHEMA(ProcessInfo) {
  v("id", m.id);
  v("host", m.host);
  v("pid", m.pid);
  v("started_at_ms", m.started_at_ms);
  v("expires_at_ms", m.expires_at_ms);
}

QG_SCHEMA(WorkerInfo) {
  v("worker_id", m.worker_id);
  v("device_id", m.device_id);
  v("targets", m.targets);
  v("labels", m.labels);
  v("installed", m.installed);
  v("state", m.state);
  v("lease_id", m.lease_id);
  v("group_key", m.group_key);
  v("last_seen_ms", m.last_seen_ms);
}

QG_SCHEMA(AssignedJob) {
  v("job_id", m.job_id);
  v("test_path", m.test_path);
  v("attempt", m.attempt);
  v("priority", m.priority);
}

QG_SCHEMA(HeartbeatJob) {
  v("job_id", m.job_id);
  v("attempt", m.attempt);
  v("status", m.status);
}

// ---- client requests and replies -------------------------------------------------------

QG_SCHEMA(SubmitRequest) {
  v("rid", m.rid);
  v("org_id", m.org_id, kReq);
  v("app_version_id", m.app_version_id, kReq);
  v("tests", m.tests, kReq);
  v("priority", m.priority);
  v("target", m.target);
  v("idempotency_key", m.idempotency_key);
  v("retries", m.retries);
  v("max_attempts", m.max_attempts);
  v("requires", m.requirements);
}

QG_SCHEMA(SubmitReply) {
  v("rid", m.rid);
  v("submission_id", m.submission_id);
  v("job_ids", m.job_ids);
  v("duplicate", m.duplicate);
  v("warning", m.warning);
}

QG_SCHEMA(StatusRequest) {
  v("rid", m.rid);
  v("job_ids", m.job_ids, kReq);
}

QG_SCHEMA(StatusReply) {
  v("rid", m.rid);
  v("jobs", m.jobs);
  v("missing", m.missing);
  v("expired", m.expired);
  v("etas", m.etas);
  v("queued_ahead", m.queued_ahead);
  v("eta_ms", m.eta_ms);
}

QG_SCHEMA(ListRequest) {
  v("rid", m.rid);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
  v("status", m.status);
  v("target", m.target);
  v("cursor", m.cursor);
  v("limit", m.limit);
}

QG_SCHEMA(ListReply) {
  v("rid", m.rid);
  v("jobs", m.jobs);
  v("next_cursor", m.next_cursor);
}

// job_id, or org_id + app_version_id: which is required is checked after the walk.
QG_SCHEMA(CancelRequest) {
  v("rid", m.rid);
  v("job_id", m.job_id);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
}

QG_SCHEMA(CancelReply) {
  v("rid", m.rid);
  v("results", m.results);
}

QG_SCHEMA(RetryRequest) {
  v("rid", m.rid);
  v("job_id", m.job_id, kReq);
}

QG_SCHEMA(RetryReply) {
  v("rid", m.rid);
  v("job_id", m.job_id);
  v("status", m.status);
}

QG_SCHEMA(QueueRequest) {
  v("rid", m.rid);
  v("cursor", m.cursor);
  v("limit", m.limit);
}

QG_SCHEMA(QueueReply) {
  v("rid", m.rid);
  v("groups", m.groups);
  v("by_status", m.by_status);
  v("by_priority", m.by_priority);
  v("next_cursor", m.next_cursor);
}

QG_SCHEMA(WorkersRequest) {
  v("rid", m.rid);
  v("all", m.all);
  v("unquarantine", m.unquarantine);
}

QG_SCHEMA(WorkersReply) {
  v("rid", m.rid);
  v("workers", m.workers);
  v("unquarantined", m.unquarantined);
}

QG_SCHEMA(DrainWorkerRequest) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
}

QG_SCHEMA(DrainWorkerReply) {
  v("rid", m.rid);
  v("worker_id", m.worker_id);
}

QG_SCHEMA(ForgetWorkerRequest) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
}

QG_SCHEMA(ForgetWorkerReply) {
  v("rid", m.rid);
  v("worker_id", m.worker_id);
}

QG_SCHEMA(HealthRequest) {
  v("rid", m.rid);
  v("detailed", m.detailed);
}

QG_SCHEMA(HealthReply) {
  v("rid", m.rid);
  v("ok", m.ok);
  v("store", m.store);
  v("store_reachable", m.store_reachable);
  v("version", m.version);
  v("protocol", m.protocol);
  v("uptime_ms", m.uptime_ms);
  v("queue_depth", m.queue_depth);
  v("broker_id", m.broker_id);
  v("detail", m.detail);
  v("schedulers_alive", m.schedulers_alive);
  v("schedulers", m.schedulers);
  v("brokers", m.brokers);
  v("live_workers", m.live_workers);
  v("oldest_queued_age_ms", m.oldest_queued_age_ms);
  v("store_used_bytes", m.store_used_bytes);
  v("store_max_bytes", m.store_max_bytes);
  v("warnings", m.warnings);
}

QG_SCHEMA(StatsRequest) { v("rid", m.rid); }

QG_SCHEMA(FarmStat) {
  v("org_id", m.org_id);
  v("target", m.target);
  v("window", m.window);
  v("by_status", m.by_status);
  v("finished", m.finished);
  v("success_rate", m.success_rate);
  v("test_p50_ms", m.test_p50_ms);
  v("test_p95_ms", m.test_p95_ms);
  v("tests_run", m.tests_run);
  v("installs", m.installs);
  v("install_p50_ms", m.install_p50_ms);
  v("tests_per_install", m.tests_per_install);
  v("oldest_queued_ms", m.oldest_queued_ms);
}

QG_SCHEMA(StatsReply) {
  v("rid", m.rid);
  v("by_status", m.by_status);
  v("by_org", m.by_org);
  v("jobs_per_sec", m.jobs_per_sec);
  v("rejected_requests", m.rejected_requests);
  v("connections_refused", m.connections_refused);
  v("connections_closed", m.connections_closed);
  v("farm", m.farm);
}

QG_SCHEMA(EventsTopicRequest) { v("rid", m.rid); }

QG_SCHEMA(EventsTopicReply) {
  v("rid", m.rid);
  v("prefix", m.prefix);
}

// ---- worker messages -------------------------------------------------------------------

QG_SCHEMA(Hello) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
  v("device_id", m.device_id);
  v("targets", m.targets, kReq);
  v("labels", m.labels);
  v("installed", m.installed);
}

QG_SCHEMA(HelloReply) {
  v("rid", m.rid);
  v("heartbeat_ms", m.heartbeat_ms);
  v("lease_ms", m.lease_ms);
}

QG_SCHEMA(Pull) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
  v("targets", m.targets);
  v("installed", m.installed);
  v("wait_ms", m.wait_ms);
}

QG_SCHEMA(Assign) {
  v("rid", m.rid);
  v("lease_id", m.lease_id);
  v("group_key", m.group_key);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
  v("target", m.target);
  v("reinstall", m.reinstall);
  v("jobs", m.jobs);
}

QG_SCHEMA(NoWork) { v("rid", m.rid); }

QG_SCHEMA(Report) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
  v("lease_id", m.lease_id, kReq);
  v("job_id", m.job_id, kReq);
  v("attempt", m.attempt, kReq);
  v("status", m.status, kReq);
  v("exit_code", m.exit_code);
  v("duration_ms", m.duration_ms);
  v("log_tail", m.log_tail);
  v("error", m.error);
  v("install_ms", m.install_ms);
}

QG_SCHEMA(Confirm) {
  v("rid", m.rid);
  v("job_id", m.job_id);
  v("attempt", m.attempt);
  v("accepted", m.accepted);
  v("reason", m.reason);
}

QG_SCHEMA(Progress) {
  v("worker_id", m.worker_id, kReq);
  v("lease_id", m.lease_id, kReq);
  v("job_id", m.job_id, kReq);
  v("attempt", m.attempt, kReq);
  v("status", m.status, kReq);
}

QG_SCHEMA(Heartbeat) {
  v("worker_id", m.worker_id, kReq);
  v("device_id", m.device_id);
  v("state", m.state);
  v("lease_id", m.lease_id);
  v("group_key", m.group_key);
  v("jobs", m.jobs);
  v("seq", m.seq);
  v("sent_at_ms", m.sent_at_ms);
}

QG_SCHEMA(Release) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
  v("lease_id", m.lease_id, kReq);
  v("job_ids", m.job_ids);
}

QG_SCHEMA(ReleaseReply) {
  v("rid", m.rid);
  v("released", m.released);
}

QG_SCHEMA(Bye) {
  v("rid", m.rid);
  v("worker_id", m.worker_id, kReq);
}

QG_SCHEMA(ByeReply) { v("rid", m.rid); }

QG_SCHEMA(DrainRequested) { v("reason", m.reason); }

QG_SCHEMA(CancelJob) {
  v("job_id", m.job_id, kReq);
  v("attempt", m.attempt);
}

QG_SCHEMA(ErrorReply) {
  v("rid", m.rid);
  v("error", m.error);
}

// ---- events ----------------------------------------------------------------------------

QG_SCHEMA(JobEvent) {
  v("source", m.source);
  v("seq", m.seq);
  v("job_id", m.job_id);
  v("org_id", m.org_id);
  v("app_version_id", m.app_version_id);
  v("attempt", m.attempt);
  v("status", m.status);
  v("worker_id", m.worker_id);
  v("message", m.message);
  v("at_ms", m.at_ms);
  v("org_seq", m.org_seq);
  v("test_path", m.test_path);
  v("target", m.target);
  v("priority", m.priority);
}

QG_SCHEMA(WorkerEvent) {
  v("source", m.source);
  v("seq", m.seq);
  v("worker_id", m.worker_id);
  v("state", m.state);
  v("lease_id", m.lease_id);
  v("at_ms", m.at_ms);
}

#undef QG_SCHEMA

// A record type with a describe() above (checked on the declaration only).
template <class T>
concept Described = requires(T& record, int& visitor) {
  describe(visitor, record);
};

}  // namespace qg::proto::detail

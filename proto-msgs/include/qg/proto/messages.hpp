#pragma once
// qgjob wire protocol v1: every message as a plain C++ type. docs/protocol.md is the
// normative description; this header mirrors it field for field. The types carry no I/O
// and no behaviour beyond enum <-> string conversion.
//
// Framing (see codec.hpp): every message is [protocol header][command][msgpack body].
// Bodies are msgpack maps with string keys; unknown keys are ignored on decode; optional
// fields take the defaults written beside them when absent.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/eta_messages.hpp"
#include "qg/proto/events_topic_messages.hpp"
#include "qg/proto/expected.hpp"
#include "qg/proto/registry_messages.hpp"

namespace qg::proto {

inline constexpr std::string_view kClientProtocol = "QGC1";  // clients <-> broker :5555
inline constexpr std::string_view kWorkerProtocol = "QGW1";  // workers <-> broker :5556
inline constexpr std::string_view kEventProtocol = "QGE1";   // PUB/SUB event stream
inline constexpr int kProtocolVersion = 1;

// Stable error codes carried in Error::code. docs/protocol.md lists when each is sent.
namespace errc {
inline constexpr std::string_view bad_frames = "BAD_FRAMES";            // wrong frame count / empty frame
inline constexpr std::string_view bad_protocol = "BAD_PROTOCOL";        // unknown protocol header
inline constexpr std::string_view unknown_command = "UNKNOWN_COMMAND";  // command not in this protocol
inline constexpr std::string_view too_large = "TOO_LARGE";              // a frame, string or array over its limit
inline constexpr std::string_view bad_body = "BAD_BODY";            // not msgpack, not a map, trailing bytes, too deep
inline constexpr std::string_view missing_field = "MISSING_FIELD";  // a required field is absent
inline constexpr std::string_view invalid_field = "INVALID_FIELD";  // wrong type or value out of range
inline constexpr std::string_view not_found = "NOT_FOUND";          // no such job
inline constexpr std::string_view conflict = "CONFLICT";            // state forbids it (retry of a live job, id in use)
inline constexpr std::string_view forbidden = "FORBIDDEN";          // the connection's key may not do it
inline constexpr std::string_view unavailable = "UNAVAILABLE";      // store unreachable; safe to retry
inline constexpr std::string_view store_full = "STORE_FULL";        // store out of memory; nothing written
inline constexpr std::string_view quota_exceeded = "QUOTA_EXCEEDED";  // the org has too many jobs queued
inline constexpr std::string_view rate_limited = "RATE_LIMITED";      // the org submits faster than allowed
inline constexpr std::string_view internal = "INTERNAL";              // a bug; logged by the broker
}  // namespace errc

enum class Priority : std::uint8_t { low = 0, medium = 1, high = 2 };
enum class Target : std::uint8_t { emulator = 0, device = 1, browserstack = 2 };

// Job life cycle. queued -> assigned -> installing -> running -> one final state.
// A job can go back to queued (retry after an infrastructure failure or a lost worker)
// with its attempt number raised. Final states never change.
enum class JobStatus : std::uint8_t {
  queued = 0,
  assigned,
  installing,
  running,
  passed,     // final
  failed,     // final: the test ran and exited non-zero
  timed_out,  // final: killed by the job timeout
  error,      // final: infrastructure failure after the last attempt (install failed, worker lost)
  cancelled,  // final
  dead,       // final: exhausted its attempts; on the dead-letter list, `qgjob retry` revives it
};

std::string_view to_string(Priority p) noexcept;
std::string_view to_string(Target t) noexcept;
std::string_view to_string(JobStatus s) noexcept;
// Parse the wire spelling (lower-case, as to_string prints it). Empty optional when unknown.
std::optional<Priority> parse_priority(std::string_view s) noexcept;
std::optional<Target> parse_target(std::string_view s) noexcept;
std::optional<JobStatus> parse_status(std::string_view s) noexcept;
bool is_final(JobStatus s) noexcept;

// ---------------------------------------------------------------------------------------
// The job record as the broker reports it (status, list).
struct Job {
  std::string id;
  std::string org_id;
  std::string app_version_id;
  std::string test_path;
  Priority priority = Priority::medium;
  Target target = Target::emulator;
  JobStatus status = JobStatus::queued;
  std::uint32_t attempt = 0;       // 0 until first claimed; raised by every claim
  std::uint32_t max_attempts = 3;  // infrastructure retries end here
  std::uint32_t retries = 0;       // extra runs allowed after a test failure
  std::int64_t created_at_ms = 0;  // unix epoch milliseconds
  std::int64_t updated_at_ms = 0;
  std::string submission_id;   // the submit request that created it
  std::string worker_id;       // last worker to hold it; empty if never claimed
  std::string lease_id;        // current lease; empty when not held
  std::int32_t exit_code = 0;  // of the test command, when it ran
  std::int64_t duration_ms = 0;
  std::string last_error;  // why the last attempt did not pass; empty otherwise
  std::string log_tail;    // last lines of the job's log
  bool flaky = false;      // passed after an earlier failed attempt
  std::optional<std::map<std::string, std::string>> requirements{};  // wire "requires"; absent: none

  friend bool operator==(const Job&, const Job&) = default;
};

// ---------------------------------------------------------------------------------------
// Client requests (protocol QGC1). Every request carries `rid`, echoed in its reply.

struct SubmitRequest {
  static constexpr std::string_view command = "SUBMIT";
  std::string rid;
  std::string org_id;              // required, 1..64 chars [A-Za-z0-9_-] (no '.': it is a topic segment)
  std::string app_version_id;      // required, 1..128 chars [A-Za-z0-9._-]
  std::vector<std::string> tests;  // required, 1..10000 paths, each 1..1024 chars, no ".."
  Priority priority = Priority::medium;
  Target target = Target::emulator;
  std::string idempotency_key;                                       // optional; same key + org => same job ids
  std::uint32_t retries = 0;                                         // optional; reruns after a test failure (0..10)
  std::uint32_t max_attempts = 0;                                    // optional; 0 = broker default (3)
  std::optional<std::map<std::string, std::string>> requirements{};  // wire "requires": labels needed
};
struct SubmitReply {
  static constexpr std::string_view command = "SUBMIT";
  std::string rid;
  std::string submission_id;
  std::vector<std::string> job_ids;  // in the order of SubmitRequest::tests
  bool duplicate = false;            // true when the idempotency key was seen before
  // Not empty when the jobs were queued but cannot start soon: no live worker serves their
  // target (they wait until one comes). Empty when all is well.
  std::string warning;
};

struct StatusRequest {
  static constexpr std::string_view command = "STATUS";
  std::string rid;
  std::vector<std::string> job_ids;  // required, 1..1000
};
struct StatusReply {
  static constexpr std::string_view command = "STATUS";
  std::string rid;
  std::vector<Job> jobs;             // the jobs found, in request order
  std::vector<std::string> missing;  // ids with no job
  // Those of `missing` that retention most likely deleted: ids created longer ago than the
  // shortest retention in force (a job finishes after it is created).
  std::vector<std::string> expired;
  // Place and expected finish (eta_messages.hpp) of each job of `jobs` not final; the least
  // queued_ahead and the latest eta_ms among them (absent when none, or no eta is known).
  std::vector<JobEta> etas;
  std::optional<std::uint64_t> queued_ahead;
  std::optional<std::int64_t> eta_ms;
};

struct ListRequest {
  static constexpr std::string_view command = "LIST";
  std::string rid;
  std::string org_id;  // optional filters; empty = any
  std::string app_version_id;
  std::optional<JobStatus> status;
  std::optional<Target> target;
  std::string cursor;        // from the previous page's next_cursor; empty = newest first
  std::uint32_t limit = 50;  // 1..1000
};
struct ListReply {
  static constexpr std::string_view command = "LIST";
  std::string rid;
  std::vector<Job> jobs;    // newest first
  std::string next_cursor;  // empty when there is no further page
};

struct CancelRequest {
  static constexpr std::string_view command = "CANCEL";
  std::string rid;
  std::string job_id;  // either job_id, or org_id + app_version_id (a whole build)
  std::string org_id;
  std::string app_version_id;
};
struct CancelResult {
  std::string job_id;
  std::string outcome;                      // "cancelled", "cancel_requested" (running), "already_final", "not_found"
  JobStatus status = JobStatus::cancelled;  // the job's status after the request
};
struct CancelReply {
  static constexpr std::string_view command = "CANCEL";
  std::string rid;
  std::vector<CancelResult> results;
};

struct RetryRequest {
  static constexpr std::string_view command = "RETRY";
  std::string rid;
  std::string job_id;  // required; the job must be dead
};
struct RetryReply {
  static constexpr std::string_view command = "RETRY";
  std::string rid;
  std::string job_id;
  JobStatus status = JobStatus::queued;
};

struct QueueRequest {
  static constexpr std::string_view command = "QUEUE";
  std::string rid;
  std::string cursor;
  std::uint32_t limit = 50;  // 1..1000 groups per page
};
struct GroupInfo {
  std::string key;  // "<org_id>/<app_version_id>/<target>"
  std::string org_id;
  std::string app_version_id;
  Target target = Target::emulator;
  std::uint64_t depth = 0;  // queued jobs in the group
  Priority highest_priority = Priority::low;
  std::int64_t oldest_age_ms = 0;
  bool claimable = true;        // false while its batching window is open
  bool no_live_worker = false;  // no live worker serves the group's target and requirements
  std::optional<std::map<std::string, std::string>> requirements{};  // wire "requires"; absent: none
};
struct QueueReply {
  static constexpr std::string_view command = "QUEUE";
  std::string rid;
  std::vector<GroupInfo> groups;                     // in claim order
  std::map<std::string, std::uint64_t> by_status;    // status name -> jobs
  std::map<std::string, std::uint64_t> by_priority;  // queued jobs per priority name
  std::string next_cursor;
};

struct WorkersRequest {
  static constexpr std::string_view command = "WORKERS";
  std::string rid;
  bool all = false;          // also the workers that left or were forgotten (state "left", "forgotten")
  std::string unquarantine;  // optional: a worker id whose quarantine ends first (admin only)
};
struct WorkerInfo {
  std::string worker_id;
  std::string device_id;
  std::vector<Target> targets;
  std::map<std::string, std::string> labels;
  std::vector<std::string> installed;  // app builds "<org_id>/<app_version_id>"
  // "idle", "busy", "draining"; "lost" when not heard from for a while (its lease, if any,
  // expires); with WorkersRequest::all also "left" (said BYE) and "forgotten".
  std::string state;
  std::string lease_id;
  std::string group_key;
  std::int64_t last_seen_ms = 0;  // unix epoch milliseconds
};
struct WorkersReply {
  static constexpr std::string_view command = "WORKERS";
  std::string rid;
  std::vector<WorkerInfo> workers;
  bool unquarantined = false;  // the request's `unquarantine` worker was quarantined (and is no more)
};

struct HealthRequest {
  static constexpr std::string_view command = "HEALTH";
  std::string rid;
  bool detailed = false;  // also the processes, workers per target, queue age and store memory
};
struct HealthReply {
  static constexpr std::string_view command = "HEALTH";
  std::string rid;
  bool ok = false;    // store reachable and broker serving
  std::string store;  // "memory" or "redis"
  bool store_reachable = false;
  std::string version;  // qgjob version
  std::int32_t protocol = kProtocolVersion;
  std::int64_t uptime_ms = 0;
  std::uint64_t queue_depth = 0;
  std::string broker_id;
  std::string detail;                  // why ok is false, else empty
  std::uint32_t schedulers_alive = 0;  // schedulers whose announcement has not lapsed
  // With HealthRequest::detailed (empty or 0 otherwise):
  std::vector<ProcessInfo> schedulers;
  std::vector<ProcessInfo> brokers;
  std::map<std::string, std::uint64_t> live_workers;  // target name -> live workers serving it
  std::int64_t oldest_queued_age_ms = 0;              // of the oldest job waiting at a group's head
  std::uint64_t store_used_bytes = 0;                 // Redis used_memory (0: memory store)
  std::uint64_t store_max_bytes = 0;                  // Redis maxmemory (0: no limit set)
  std::vector<std::string> warnings;                  // what needs an operator's eye; ok may still be true
};

struct StatsRequest {
  static constexpr std::string_view command = "STATS";
  std::string rid;
};
// Figures of one (org, target) over one window (STATS `farm`).
struct FarmStat {
  std::string org_id;
  Target target = Target::emulator;
  std::string window;                              // "hour" or "day"
  std::map<std::string, std::uint64_t> by_status;  // jobs that reached each final status
  std::uint64_t finished = 0;                      // sum of by_status
  double success_rate = 0;                         // passed / (finished - cancelled); 0 when none
  std::int64_t test_p50_ms = 0;                    // of reported test durations; 0 when none
  std::int64_t test_p95_ms = 0;
  std::uint64_t tests_run = 0;  // reports accepted (retried runs included)
  std::uint64_t installs = 0;   // installs the workers ran
  std::int64_t install_p50_ms = 0;
  double tests_per_install = 0;       // tests_run / installs; 0 when no install ran
  std::int64_t oldest_queued_ms = 0;  // age of the oldest queued job now (same in both windows)
};
struct StatsReply {
  static constexpr std::string_view command = "STATS";
  std::string rid;
  std::map<std::string, std::uint64_t> by_status;
  std::map<std::string, std::uint64_t> by_org;  // jobs per org, all states
  double jobs_per_sec = 0;                      // finished jobs/s over the last minute
  std::uint64_t rejected_requests = 0;          // malformed or invalid requests seen by this broker
  // Connections this broker refused or dropped: over a per-peer or total connection limit,
  // or not done with their handshake in time (docs/operations.md "Connection limits").
  std::uint64_t connections_refused = 0;
  // Client and worker connections of this broker that closed, whether their peer closed them
  // or libzmq did for a frame over max_frame_bytes (which no reply can answer).
  std::uint64_t connections_closed = 0;
  std::vector<FarmStat> farm;  // per org and target, last hour and last day
};

// ---------------------------------------------------------------------------------------
// Worker messages (protocol QGW1).

struct Hello {
  static constexpr std::string_view command = "HELLO";
  std::string rid;
  std::string worker_id;  // required, unique per device slot
  std::string device_id;
  std::vector<Target> targets;  // required, 1..3
  std::map<std::string, std::string> labels;
  std::vector<std::string> installed;  // app builds "<org_id>/<app_version_id>"
};
struct HelloReply {
  static constexpr std::string_view command = "HELLO";
  std::string rid;
  std::uint32_t heartbeat_ms = 1000;  // send a heartbeat this often
  std::uint32_t lease_ms = 10000;     // a lease not renewed for this long expires
};

struct Pull {
  static constexpr std::string_view command = "PULL";
  std::string rid;
  std::string worker_id;
  std::vector<Target> targets;
  std::vector<std::string> installed;
  std::uint32_t wait_ms = 0;  // long poll: hold the pull this long if nothing is claimable
};
struct AssignedJob {
  std::string job_id;
  std::string test_path;
  std::uint32_t attempt = 1;
  Priority priority = Priority::medium;
};
struct Assign {
  static constexpr std::string_view command = "ASSIGN";
  std::string rid;  // of the pull it answers
  std::string lease_id;
  std::string group_key;
  std::string org_id;
  std::string app_version_id;
  Target target = Target::emulator;
  bool reinstall = false;         // install even if the device has the build
  std::vector<AssignedJob> jobs;  // run in this order
};
struct NoWork {
  static constexpr std::string_view command = "NOWORK";
  std::string rid;  // of the pull it answers; pull again
};

struct Report {
  static constexpr std::string_view command = "REPORT";
  std::string rid;
  std::string worker_id;
  std::string lease_id;
  std::string job_id;
  std::uint32_t attempt = 0;
  JobStatus status = JobStatus::passed;  // passed, failed, timed_out, error or cancelled
  std::int32_t exit_code = 0;
  std::int64_t duration_ms = 0;
  std::string log_tail;  // up to 64 KiB
  std::string error;     // infrastructure failure text (status error)
  // How long the install this worker ran for the job's group took, on the first report after
  // that install; absent on the others (and when no install ran: the device had the build).
  // Feeds STATS' install durations and tests per install.
  std::optional<std::int64_t> install_ms;
};
struct Confirm {
  static constexpr std::string_view command = "CONFIRM";
  std::string rid;
  std::string job_id;
  std::uint32_t attempt = 0;
  bool accepted = false;
  std::string reason;  // when not accepted: "stale_attempt", "lost_lease", "already_final", "not_found"
};

// Non-final progress of one job (installing, running); fire and forget, no reply.
struct Progress {
  static constexpr std::string_view command = "PROGRESS";
  std::string worker_id;
  std::string lease_id;
  std::string job_id;
  std::uint32_t attempt = 0;
  JobStatus status = JobStatus::running;
};

struct HeartbeatJob {
  std::string job_id;
  std::uint32_t attempt = 0;
  JobStatus status = JobStatus::assigned;
};
// Sent every heartbeat_ms on the DEALER (command HEARTBEAT, no reply) and published on the
// event stream (topic "hb.<worker_id>"). Carries the worker's full state, so one that arrives
// makes up for any that were lost.
struct Heartbeat {
  static constexpr std::string_view command = "HEARTBEAT";  // same command on the event stream
  std::string worker_id;
  std::string device_id;
  std::string state;     // "idle", "busy", "draining"
  std::string lease_id;  // empty when idle
  std::string group_key;
  std::vector<HeartbeatJob> jobs;
  std::uint64_t seq = 0;
  std::int64_t sent_at_ms = 0;
};

// Drain: hand back jobs of the lease that have not started, at once.
struct Release {
  static constexpr std::string_view command = "RELEASE";
  std::string rid;
  std::string worker_id;
  std::string lease_id;
  std::vector<std::string> job_ids;
};
struct ReleaseReply {
  static constexpr std::string_view command = "RELEASE";
  std::string rid;
  std::uint32_t released = 0;
};

struct Bye {
  static constexpr std::string_view command = "BYE";
  std::string rid;
  std::string worker_id;
};
struct ByeReply {
  static constexpr std::string_view command = "BYE";
  std::string rid;
};

// Broker -> worker: stop this job now (kill its process group), report it cancelled.
struct CancelJob {
  static constexpr std::string_view command = "CANCEL";
  std::string job_id;
  std::uint32_t attempt = 0;
};

// Either side, in answer to a request it cannot serve: the request's rid (empty when the
// request was too broken to read one) and a structured error.
struct ErrorReply {
  static constexpr std::string_view command = "ERROR";
  std::string rid;
  Error error;
};

// ---------------------------------------------------------------------------------------
// Events (protocol QGE1). Frames: [topic][QGE1][command][body]; the topic frame comes first
// so that SUB prefix filters apply. Topics:
//   "job.<org_id>.<job_id>"   JobEvent
//   "hb.<worker_id>"          Heartbeat
//   "worker.<worker_id>"      WorkerEvent
// `seq` rises by one per event from one `source` (a broker, scheduler or worker id): a
// subscriber to everything a source publishes that sees a gap knows it missed events and
// re-reads current state with STATUS. A JobEvent's `org_seq` rises by one per JOB event of its
// org from that source, for subscribers to one org's (or every org's) job topics only.

struct JobEvent {
  static constexpr std::string_view command = "JOB";
  std::string source;
  std::uint64_t seq = 0;
  std::string job_id;
  std::string org_id;
  std::string app_version_id;
  std::uint32_t attempt = 0;
  JobStatus status = JobStatus::queued;
  std::string worker_id;
  std::string message;
  std::int64_t at_ms = 0;
  std::uint64_t org_seq = 0;  // +1 per JOB event of org_id from this source; 0 = not counted
  // What the job is, so that a subscriber can show it without a STATUS: empty or absent when
  // the publisher does not say.
  std::string test_path;
  std::optional<Target> target;
  std::optional<Priority> priority;
};

struct WorkerEvent {
  static constexpr std::string_view command = "WORKER";
  std::string source;
  std::uint64_t seq = 0;
  std::string worker_id;
  std::string state;     // "joined", "lost", "left"
  std::string lease_id;  // the lease it lost, if any
  std::int64_t at_ms = 0;
};

}  // namespace qg::proto

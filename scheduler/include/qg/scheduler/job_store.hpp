#pragma once
// JobStore: the domain operations on jobs, group queues, leases and workers. Two
// implementations share one contract test suite: MemoryJobStore (embedded default, one mutex,
// not durable) and RedisJobStore (every multi-key transition is one Lua script).
//
// Time is always passed in (`now_ms`, unix epoch milliseconds); no implementation reads a
// clock. Every method may be called from any thread of the owning process, one call at a
// time per RedisJobStore instance (it owns one connection); MemoryJobStore is thread-safe.
//
// Failures: StoreUnavailable (qg/common/errors.hpp) when the backing store cannot be reached;
// expected outcomes (not found, stale report, nothing to claim) are values.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/messages.hpp"
#include "qg/scheduler/farm_stats.hpp"
#include "qg/scheduler/timing_history.hpp"

namespace spdlog {
class logger;
}
namespace qg {
struct RedisAddress;
}

namespace qg::sched {

// Org tiers, lowest first: premium goes before enterprise, enterprise before standard.
enum class OrgTier : std::uint8_t { standard = 0, enterprise = 1, premium = 2 };

// Exponential back-off with jitter for infrastructure retries:
// delay(attempt) = min(cap, base * factor^(attempt-1)) * (1 +- jitter).
struct Backoff {
  std::chrono::milliseconds base{1000};
  double factor = 2.0;
  std::chrono::milliseconds cap{60000};
  double jitter = 0.2;  // fraction; 0 = exact delays
};

struct StoreSettings {
  std::string key_prefix = "qg:";             // Redis key prefix; tests use one per test
  std::chrono::milliseconds group_window{0};  // a group is claimable once its oldest job waited this; 0 = at once
  std::uint32_t group_max = 50;               // ... or once it holds this many jobs; also the claim size
  std::chrono::milliseconds lease{10000};     // a lease not renewed for this long expires
  std::uint32_t default_max_attempts = 3;
  Backoff backoff{};
  // Ranking across groups: a group's rank is the creation time of its first job minus head
  // starts for its priority and its org's tier; lower goes first. Waiting longer than the
  // head-start difference lifts any group above a fresher one (ageing).
  std::chrono::milliseconds high_head_start{10 * 60 * 1000};
  std::chrono::milliseconds medium_head_start{5 * 60 * 1000};
  // Premium > enterprise > standard: premium's head start is the larger.
  std::chrono::milliseconds premium_head_start{60 * 60 * 1000};
  std::chrono::milliseconds enterprise_head_start{30 * 60 * 1000};
  std::map<std::string, OrgTier> org_tiers;  // orgs not listed are standard
  // Among groups whose ranks differ by no more than this, one whose build the worker has
  // installed wins. 0 = exact ties only.
  std::chrono::milliseconds affinity_slack{2000};
  // Fair share inside a tier: among the claim's candidate groups of the best candidate's tier
  // whose ranks are within fair_share_slack of the best, the group of the org holding the
  // fewest devices (leases) for its weight goes first, so orgs of one tier share the devices
  // in proportion to their weights while each has work queued. A group waits at most this
  // much longer than rank order alone would make it (the ageing bound grows by it, no more).
  // 0 = off (rank order only).
  std::chrono::milliseconds fair_share_slack{10 * 60 * 1000};
  std::map<std::string, double> org_weights;  // orgs not listed weigh 1; a weight is > 0
  // Device health: a worker whose last quarantine_after groups in a row ended in an
  // infrastructure failure (a report with the status error: install failed, device error) is
  // quarantined: it claims nothing until quarantine_cooldown has passed, then one job (a
  // probe); a probe that fails quarantines it again, anything else a worker reports of a test
  // it ran (passed, failed, timed out) makes it healthy. 0 = never quarantine.
  std::uint32_t quarantine_after = 3;
  std::chrono::milliseconds quarantine_cooldown{10 * 60 * 1000};
  // Redis only: a submission counts as written (and is acknowledged) only once WAIT says this
  // many replicas have it, within min_replicas_timeout; otherwise the submit fails with
  // StoreUnavailable (the jobs may or may not survive a failover: the client retries with
  // its idempotency key). 0 = once the primary has it (replication is asynchronous).
  std::uint32_t min_replicas = 0;
  std::chrono::milliseconds min_replicas_timeout{1000};
  // Retention: a job is deleted (every key and index entry naming it, its idempotency key
  // with the last job of its submission) this long after it reached a final state: passed,
  // failed, timed_out, cancelled or error after `retention`, dead after `dead_retention`.
  // nullopt: kept for ever. The scheduler's sweep_retention() deletes them.
  std::optional<std::chrono::milliseconds> retention = std::chrono::hours(24 * 7);
  std::optional<std::chrono::milliseconds> dead_retention = std::chrono::hours(24 * 30);
  // Timing history (qg/scheduler/timing_history.hpp): at most this many summaries per org
  // (tests, installs and their per-target fallbacks); they expire with `retention`. 0 = keep
  // none.
  std::uint32_t timing_history_fields = 10000;
};

// A submit request after validation, with ids chosen by the broker.
struct NewSubmission {
  std::string submission_id;
  std::string org_id;
  std::string app_version_id;
  proto::Priority priority = proto::Priority::medium;
  proto::Target target = proto::Target::emulator;
  std::string idempotency_key;  // empty = none
  std::uint32_t retries = 0;
  std::uint32_t max_attempts = 0;    // 0 = StoreSettings::default_max_attempts
  std::vector<std::string> job_ids;  // one per test, same order
  std::vector<std::string> test_paths;
  // Worker labels its jobs need (key -> exact value; validated by proto::check_requirements).
  // Part of the group's identity: jobs of one build with other requirements form another group.
  std::map<std::string, std::string> requirements{};
};

struct SubmitOutcome {
  std::string submission_id;
  std::vector<std::string> job_ids;
  bool duplicate = false;  // the idempotency key was known: nothing was written
};

// One submission's result in a batch: the outcome, or why this submission was refused
// (nothing of it was written).
struct SubmitResult {
  std::optional<SubmitOutcome> outcome;
  std::string error;  // set when outcome is empty
};

struct ListQuery {
  std::string org_id;
  std::string app_version_id;
  std::optional<proto::JobStatus> status;
  std::optional<proto::Target> target;
  std::string cursor;  // opaque, from ListPage::next_cursor
  std::uint32_t limit = 50;
};
struct ListPage {
  std::vector<proto::Job> jobs;  // newest first
  std::string next_cursor;       // empty = last page
};

struct ClaimRequest {
  std::string worker_id;
  std::vector<proto::Target> targets;
  std::vector<std::string> installed;  // "<org_id>/<app_version_id>"
  // At most this many jobs of the chosen group (0: the store's group_max). A policy above the
  // store may take less than a whole group so that idle devices share the tail of the work.
  std::uint32_t max_jobs = 0;
  // The worker's labels, from its own registration (HELLO on its authenticated connection),
  // never from the pull: only groups whose every requirement they hold are claimed.
  std::map<std::string, std::string> labels{};
};
struct Claim {
  std::string lease_id;
  std::string group_key;  // "<org_id>/<app_version_id>/<placement>" (detail::placement: target[?requirements])
  std::string org_id;
  std::string app_version_id;
  proto::Target target = proto::Target::emulator;
  std::vector<proto::Job> jobs;  // status assigned, attempt raised, in run order
};

// What happened to a report. accepted=false leaves the store unchanged.
struct ReportOutcome {
  bool accepted = false;
  std::string reason;             // "stale_attempt", "lost_lease", "already_final", "not_found"
  std::optional<proto::Job> job;  // the job after the report, when accepted
  bool requeued = false;          // accepted, and the job went back to its queue (retry)
};

// A lease that expired, and what became of each of its unfinished jobs.
struct ExpiredLease {
  std::string lease_id;
  std::string worker_id;
  std::vector<proto::Job> jobs;  // queued again (attempt kept until next claim) or dead/error
};

struct QueuePage {
  std::vector<proto::GroupInfo> groups;
  std::map<std::string, std::uint64_t> by_status;
  std::map<std::string, std::uint64_t> by_priority;
  std::string next_cursor;
};

struct StatsSnapshot {
  std::map<std::string, std::uint64_t> by_status;
  std::map<std::string, std::uint64_t> by_org;
  double jobs_per_sec = 0;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Writes the jobs and queues them in their group in one atomic step (a worker never sees
  // half a submission). With an idempotency key already used by this org, writes nothing and
  // returns the first submission's ids with duplicate=true.
  virtual SubmitOutcome submit(const NewSubmission& submission, std::int64_t now_ms) = 0;

  // Several submissions in one store round trip, applied in order, each exactly as submit()
  // would (a later one sees an earlier one's idempotency key). A submission that submit()
  // would refuse with StoreError gets an error entry and changes nothing; the others go
  // ahead. Throws StoreUnavailable when the store cannot be reached (then none, some or all
  // were written: each is all-or-nothing, and resending with an idempotency key is safe).
  virtual std::vector<SubmitResult> submit_many(std::span<const NewSubmission> submissions, std::int64_t now_ms);

  // Asynchronous submits, for a caller with other work to do while the store writes (the
  // broker reads the next requests while Redis runs the last batch). send_submits() hands a
  // batch over and returns; take_submits() hands back the results, one batch at a time in
  // send order, each as submit_many() would have returned it. The store applies all calls in
  // the order they are made, so every later call sees a sent batch applied. One caller at a
  // time (also for MemoryJobStore). The default runs submit_many() at once.
  struct SentSubmits {
    enum class Failure : std::uint8_t { none, unavailable, full, internal };
    std::vector<NewSubmission> submissions;  // the batch, handed back
    std::vector<SubmitResult> results;       // one per submission, when failure is none
    // unavailable: the store could not be reached (none, some or all were written, each
    // all-or-nothing, as when submit_many throws StoreUnavailable); full: the store is out of
    // memory and wrote nothing of it (StoreFull); internal: a store error.
    Failure failure = Failure::none;
    std::string error;
  };
  // Throws StoreUnavailable when the batch cannot be sent (then nothing of it was written).
  virtual void send_submits(std::vector<NewSubmission> submissions, std::int64_t now_ms);
  // The oldest batch not yet taken, when its results are in; with `wait`, waits for them (up
  // to the store's command timeout, then it comes back failed). Empty optional when no batch
  // is out, or (without `wait`) its results are not in yet.
  virtual std::optional<SentSubmits> take_submits(bool wait);
  // Batches sent and not yet taken.
  virtual std::size_t submits_in_flight() const { return sent_submits_.size(); }
  // A descriptor that becomes readable when the oldest batch's results may have come in; -1
  // when there is nothing to wait for: no batch is out, or take_submits() has one at once.
  virtual int submits_fd() const { return -1; }

  // One entry per id, empty optional when there is no such job.
  virtual std::vector<std::optional<proto::Job>> get(std::span<const std::string> job_ids) = 0;

  virtual ListPage list(const ListQuery& query) = 0;

  // Cancels one job: a queued job ends cancelled at once; an assigned/running one is marked
  // cancel_requested (outcome "cancel_requested", the worker is told by the caller); a final
  // job is left alone ("already_final").
  virtual proto::CancelResult cancel_job(const std::string& job_id, std::int64_t now_ms) = 0;
  // Cancels every non-final job of one build (org + app version), as cancel_job does.
  virtual std::vector<proto::CancelResult> cancel_build(const std::string& org_id, const std::string& app_version_id,
                                                        std::int64_t now_ms) = 0;

  // Puts a dead job back in its queue with a fresh attempt budget. Empty optional when there
  // is no such job; the job's status (unchanged) when it is not dead.
  virtual std::optional<proto::JobStatus> retry_dead(const std::string& job_id, std::int64_t now_ms) = 0;

  // Claims the best-ranked claimable group for one of the worker's targets, whole (up to
  // group_max jobs), under a new lease. Empty optional when nothing is claimable.
  virtual std::optional<Claim> claim_group(const ClaimRequest& request, std::int64_t now_ms) = 0;

  // Submits (as submit_many), then tries one claim per request (as claim_group), all in one
  // store round trip: a worker waiting for work gets a just-submitted group without a second
  // round trip. The claims see the submissions. Throws StoreUnavailable as submit_many does
  // (then, too, a claim may have been made: its lease expires and its jobs are requeued).
  struct SubmitAndClaim {
    std::vector<SubmitResult> submits;
    std::vector<std::optional<Claim>> claims;  // one per request
  };
  virtual SubmitAndClaim submit_and_claim(std::span<const NewSubmission> submissions,
                                          std::span<const ClaimRequest> claims, std::int64_t now_ms);

  // Records a final result. Ignored (accepted=false) unless the job is held under this lease
  // at this attempt. A failure with retries left, or an infrastructure error with attempts
  // left, requeues the job (with back-off for infrastructure errors).
  virtual ReportOutcome report(const proto::Report& report, std::int64_t now_ms) = 0;

  // Several reports in one store round trip, applied in order, each exactly as report()
  // would; one outcome per report. Throws as report() does. Without with_jobs an outcome may
  // come without its job (ReportOutcome::job), which spares the store reading it back (the
  // broker needs it only for the events it publishes while someone subscribes).
  virtual std::vector<ReportOutcome> report_many(std::span<const proto::Report> reports, std::int64_t now_ms,
                                                 bool with_jobs = true);

  // Records a non-final status (installing, running) of a held job; false when stale.
  virtual bool progress(const proto::Progress& progress, std::int64_t now_ms) = 0;

  // Renews the worker's lease; false when the lease is unknown or not the worker's.
  virtual bool renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) = 0;

  // Several renewals in one store round trip, each exactly as renew_lease (the default loops).
  struct LeaseRenewal {
    std::string worker_id;
    std::string lease_id;
  };
  virtual std::vector<bool> renew_leases(std::span<const LeaseRenewal> renewals, std::int64_t now_ms);

  // Hands jobs of a lease that have not started back to their queue at once (drain).
  // Returns how many were released.
  virtual std::uint32_t release(const std::string& worker_id, const std::string& lease_id,
                                std::span<const std::string> job_ids, std::int64_t now_ms) = 0;

  // Scheduler: expires up to `max` leases whose time is up, requeueing their unfinished jobs
  // with back-off (or ending them when out of attempts). Each lease is expired by exactly one
  // caller even when several schedulers race.
  virtual std::vector<ExpiredLease> expire_leases(std::int64_t now_ms, std::size_t max) = 0;

  // Scheduler: makes due work claimable (retries whose back-off has passed, groups whose
  // batching window closed). Returns how many jobs or groups it moved.
  virtual std::size_t promote_due(std::int64_t now_ms, std::size_t max) = 0;

  // Scheduler: retention. Deletes up to `max` jobs whose final state is older than their
  // retention (StoreSettings), oldest first, with every key and index entry that names them;
  // `more` when more may be due at once. Safe when several schedulers race (each job is
  // deleted once).
  struct Sweep {
    std::size_t deleted = 0;
    bool more = false;
  };
  virtual Sweep sweep_retention(std::int64_t now_ms, std::size_t max) = 0;

  // Scheduler, at start: makes this store's retention the one every process sharing the store
  // goes by (Redis: <p>retention, read by retention() and by the scripts that finish jobs,
  // which keep no finished-at index while retention of finished jobs is off).
  virtual void publish_retention() {}

  // The shortest retention in force (finished or dead), nullopt when both are off: a job
  // that get() does not find and whose id is older than this was most likely deleted by it
  // (its id's time is its creation; it finished later). Redis: the published one, else this
  // store's settings.
  virtual std::optional<std::chrono::milliseconds> retention() = 0;

  // Earliest time promote_due or expire_leases has work, if any (lets the scheduler sleep).
  virtual std::optional<std::int64_t> next_due_ms() = 0;

  virtual QueuePage queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) = 0;
  virtual StatsSnapshot stats(std::int64_t now_ms) = 0;
  // Farm statistics (qg/scheduler/farm_stats.hpp): the tallies of the last hour and day per
  // (org, target), recorded by report() and every other move to a final status.
  virtual farm::Windows farm_tallies(std::int64_t now_ms) = 0;
  // STATS' `farm` records: farm_tallies() and the oldest queued job per (org, target), read
  // from queue(). Only org_id's when it is not empty. Defined in src/farm_stats.cpp.
  std::vector<proto::FarmStat> farm_stats(std::int64_t now_ms, const std::string& org_id = "");
  virtual std::uint64_t queue_depth() = 0;
  // Jobs queued per org (waiting in a group or out a back-off: the `queued` of stats() by
  // org), kept by every transition into or out of queued; orgs with none are absent. One
  // read of a counter, for the broker's quotas (which sample it, never per submit).
  virtual std::map<std::string, std::uint64_t> queued_by_org() = 0;

  // Timing history (qg/scheduler/timing_history.hpp), written by report() and report_many():
  // one entry per key, empty when the org has no such summary or it is older than the
  // retention of finished jobs.
  virtual std::vector<std::optional<timing::Summary>> timing(std::span<const timing::Key> keys,
                                                             std::int64_t now_ms) = 0;
  // The summaries an org's history holds now, expired ones not yet evicted included (at most
  // StoreSettings::timing_history_fields).
  virtual std::size_t timing_fields(const std::string& org_id) = 0;
  // For estimates (qg/scheduler/eta.hpp): a target's claimable groups, best rank first, the
  // first `limit`, each with its queued jobs.
  struct ReadyGroup {
    std::string key;  // "<org_id>/<app_version_id>/<target>"
    std::uint64_t queued = 0;
  };
  virtual std::vector<ReadyGroup> ready_groups(proto::Target target, std::size_t limit) = 0;
  // Up to `limit` ids of a group's queued jobs in the order claims take them (priority band,
  // high first, then oldest first); empty for a group with none. Redis may list a job
  // cancelled while queued among them (its entry stays until a claim drops it).
  virtual std::vector<std::string> group_queue(const std::string& group_key, std::size_t limit) = 0;
  // The jobs each lease still holds (0 for a lease that has ended), one entry per id.
  virtual std::vector<std::uint64_t> lease_jobs_left(std::span<const std::string> lease_ids) = 0;

  // Device health (StoreSettings::quarantine_after): the workers quarantined now, each with
  // the time (unix ms) from which it may claim a probe job.
  virtual std::map<std::string, std::int64_t> quarantined() = 0;
  // Ends a worker's quarantine and forgets its failures; false when it was not quarantined.
  virtual bool unquarantine(const std::string& worker_id) = 0;

  // Worker registry, for `qgjob workers`. The broker a worker talks to writes its record
  // (upsert_worker, which also takes it out of the departed records); workers() lists them.
  // A worker that leaves (BYE: state "left") or is forgotten (an operator, or silent longer
  // than --forget-workers-after: "forgotten") moves to the departed records, listed by
  // departed_workers() until sweep_workers drops them.
  virtual void upsert_worker(const proto::WorkerInfo& worker) = 0;
  void remove_worker(const std::string& worker_id) { (void)retire_worker(worker_id, "left"); }
  // Moves the worker's record to the departed ones with `state`; false when it has none.
  virtual bool retire_worker(const std::string& worker_id, std::string_view state) = 0;
  virtual std::vector<proto::WorkerInfo> workers() = 0;  // by worker id
  virtual std::vector<proto::WorkerInfo> departed_workers() = 0;
  // Retires as "forgotten" every record last seen before `seen_before_ms` and drops departed
  // records last seen before `drop_before_ms`. Returns the ids forgotten. O(workers): the
  // scheduler calls it every few seconds, not per round.
  virtual std::vector<std::string> sweep_workers(std::int64_t seen_before_ms, std::int64_t drop_before_ms) = 0;

  // Processes that announce themselves (kind "scheduler", "broker"), each announcement valid
  // until `who.expires_at_ms`: health asks whether a scheduler is alive. Announcing again
  // (same id, host, pid and start) renews it. announced() lists the unexpired ones.
  virtual void announce(std::string_view kind, const proto::ProcessInfo& who, std::int64_t now_ms) = 0;
  virtual std::vector<proto::ProcessInfo> announced(std::string_view kind, std::int64_t now_ms) = 0;
  // What the backing store's memory holds against its limit (Redis used_memory and
  // maxmemory; max 0 = no limit). Empty for a store without such a limit (memory).
  struct MemoryUse {
    std::uint64_t used_bytes = 0;
    std::uint64_t max_bytes = 0;
  };
  virtual std::optional<MemoryUse> memory_use() { return std::nullopt; }

  // True when the backing store answers.
  virtual bool ping() = 0;

  // A file descriptor that becomes readable when work may have become claimable (a submit,
  // a promotion, a requeue, from this process or another). The broker polls it and calls
  // drain_wakeups() before retrying held pulls. Owned by the store. Wakeups are delivered
  // from the first call of either on (a store nobody waits on receives none).
  virtual int wakeup_fd() = 0;
  virtual void drain_wakeups() = 0;

 private:
  std::deque<SentSubmits> sent_submits_;  // the default send_submits(): done, not taken
};

// The embedded default: every structure in memory behind one mutex. Not durable.
std::unique_ptr<JobStore> make_memory_store(const StoreSettings& settings);

// Redis-backed store. `url` is redis://host:port[/db] (RedisAddress::parse has every form).
// Connects at once; throws StoreUnavailable when Redis cannot be reached, RedisAuthError (a
// ConfigError) when it refuses the credentials. Loads its scripts and reloads them after
// NOSCRIPT (Redis restart or failover). `log` (none when null) hears what its connections
// live through: a connection lost and regained, the primary Sentinel names and a failover.
std::unique_ptr<JobStore> make_redis_store(const std::string& url, const StoreSettings& settings);
std::unique_ptr<JobStore> make_redis_store(const RedisAddress& address, const StoreSettings& settings,
                                           std::shared_ptr<spdlog::logger> log = nullptr);

// make_redis_store() until Redis answers, for a process starting up: each failure logged
// (warn) and retried after a back-off doubling from 100 ms to 5 s. Returns nullptr when
// `stop` (a signal handler's flag) is set first; the back-off is slept in 20 ms steps, so a
// stop ends the wait at once. Throws what make_redis_store() throws but StoreUnavailable, so
// a Redis that is down is waited for and one that refuses the credentials ends the wait.
// The store logs on `log` as it runs.
std::unique_ptr<JobStore> wait_for_redis_store(const RedisAddress& address, const StoreSettings& settings,
                                               const std::shared_ptr<spdlog::logger>& log,
                                               const volatile std::sig_atomic_t& stop);

}  // namespace qg::sched

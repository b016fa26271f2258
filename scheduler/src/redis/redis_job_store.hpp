#pragma once
// RedisJobStore: every multi-key transition is one Lua script (scheduler/lua), called
// through the store's function library (connection.cpp). Reads that need no atomicity (get,
// list, stats) are pipelined. docs/architecture.md lists every key.
//
// The class is declared here and its members are defined by transition, one file each in
// this folder (the groups below name them). The functions every script call runs (base(),
// fcall_argv(), maybe_resubscribe()) and the spec packer of every submission are defined
// here, so that each file can inline them.

#include <unistd.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../redis_library.hpp"
#include "../store_common.hpp"
#include "job_codec.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/redis.hpp"
#include "qg/common/string_arena.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched::redis {

class RedisJobStore final : public JobStore {
  // A batch of send_submits(), until take_submits() hands it back.
  struct InFlightSubmits {
    std::vector<NewSubmission> subs;
    std::int64_t now_ms = 0;
    std::vector<std::size_t> sent;  // the submissions the script got (the others failed checks)
    std::vector<SubmitResult> out;
    std::vector<std::string> args;                       // kSubmit's, specs included: built when needed (full_args)
    std::string sentinel;                                // set: sent as MULTI, MSETNX, natives, kSubmitSent, EXEC
    std::vector<std::string_view> msetnx;                // its MSETNX from the sentinel on (plan_sent)
    std::vector<std::vector<std::string_view>> natives;  // its RPUSHes and HINCRBYs (plan_sent)
    std::vector<std::string_view> sent_fcall;            // kSubmitSent's whole FCALL, as first sent (plan_sent)
    StringArena sent_strings;                            // what msetnx and sent_fcall view beside subs
    std::size_t replies = 0;                             // deferred replies still to take
    RedisValue last;                                     // EXEC's or the FCALL's reply
    bool waits = false;                                  // a WAIT follows (min_replicas): the last reply
    std::optional<RedisValue> replicas;                  // WAIT's reply
    bool resent = false;                                 // settle_sent wrote again after the WAIT
    std::string queue_error;                             // the first error a queued command got
    std::string lost;                                    // set when a reply was lost with the connection
  };

 public:
  // connection.cpp: the connections, the function library, the wakeup subscriber.
  RedisJobStore(const RedisAddress& address, const StoreSettings& settings, std::shared_ptr<spdlog::logger> logger);
  ~RedisJobStore() override;
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;
  bool ping() override;
  int wakeup_fd() override;
  void drain_wakeups() override;

  // submit.cpp: submissions written before the call returns, alone or with claims.
  SubmitOutcome submit(const NewSubmission& s, std::int64_t now_ms) override;
  std::vector<SubmitResult> submit_many(std::span<const NewSubmission> subs, std::int64_t now_ms) override;
  SubmitAndClaim submit_and_claim(std::span<const NewSubmission> subs, std::span<const ClaimRequest> claims,
                                  std::int64_t now_ms) override;

  // submit_sent.cpp: batches of submissions sent without waiting for their replies.
  void send_submits(std::vector<NewSubmission> subs, std::int64_t now_ms) override;
  std::optional<SentSubmits> take_submits(bool wait) override;
  std::size_t submits_in_flight() const override;
  int submits_fd() const override;

  // claim.cpp
  std::optional<Claim> claim_group(const ClaimRequest& request, std::int64_t now_ms) override;

  // report.cpp: what a worker says of the jobs it holds.
  ReportOutcome report(const proto::Report& r, std::int64_t now_ms) override;
  std::vector<ReportOutcome> report_many(std::span<const proto::Report> reports, std::int64_t now_ms,
                                         bool with_jobs) override;
  bool progress(const proto::Progress& p, std::int64_t now_ms) override;
  bool renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) override;
  std::vector<bool> renew_leases(std::span<const LeaseRenewal> renewals, std::int64_t now_ms) override;
  std::uint32_t release(const std::string& worker_id, const std::string& lease_id, std::span<const std::string> job_ids,
                        std::int64_t now_ms) override;

  // cancel.cpp
  proto::CancelResult cancel_job(const std::string& job_id, std::int64_t now_ms) override;
  std::vector<proto::CancelResult> cancel_build(const std::string& org_id, const std::string& app_version_id,
                                                std::int64_t now_ms) override;
  std::optional<JobStatus> retry_dead(const std::string& job_id, std::int64_t now_ms) override;

  // time.cpp: work that falls due.
  std::vector<ExpiredLease> expire_leases(std::int64_t now_ms, std::size_t max) override;
  std::size_t promote_due(std::int64_t now_ms, std::size_t max) override;
  std::optional<std::int64_t> next_due_ms() override;
  Sweep sweep_retention(std::int64_t now_ms, std::size_t max) override;
  void publish_retention() override;
  std::optional<std::chrono::milliseconds> retention() override;

  // queries.cpp
  std::vector<std::optional<Job>> get(std::span<const std::string> job_ids) override;
  ListPage list(const ListQuery& q) override;
  QueuePage queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) override;
  StatsSnapshot stats(std::int64_t now_ms) override;
  farm::Windows farm_tallies(std::int64_t now_ms) override;  // farm_stats.cpp
  std::uint64_t queue_depth() override;
  std::map<std::string, std::uint64_t> queued_by_org() override;
  // timing.cpp: timing history (<p>th:<org>, written by kReport) and the estimates' reads.
  std::vector<std::optional<timing::Summary>> timing(std::span<const timing::Key> keys, std::int64_t now_ms) override;
  std::size_t timing_fields(const std::string& org_id) override;
  std::vector<ReadyGroup> ready_groups(proto::Target target, std::size_t limit) override;
  std::vector<std::string> group_queue(const std::string& group_key, std::size_t limit) override;
  std::vector<std::uint64_t> lease_jobs_left(std::span<const std::string> lease_ids) override;

  // health.cpp: device health (quarantine), <p>whealth and <p>quar.
  std::map<std::string, std::int64_t> quarantined() override;
  bool unquarantine(const std::string& worker_id) override;

  // registry.cpp: workers and the processes that announce themselves.
  void upsert_worker(const proto::WorkerInfo& worker) override;
  bool retire_worker(const std::string& worker_id, std::string_view state) override;
  std::vector<proto::WorkerInfo> workers() override;
  std::vector<proto::WorkerInfo> departed_workers() override;
  std::vector<std::string> sweep_workers(std::int64_t seen_before_ms, std::int64_t drop_before_ms) override;
  void announce(std::string_view kind, const proto::ProcessInfo& who, std::int64_t now_ms) override;
  std::vector<proto::ProcessInfo> announced(std::string_view kind, std::int64_t now_ms) override;
  std::optional<MemoryUse> memory_use() override;

 private:
  // The reports as kReport takes them: the jobs' state keys in one msgpack sequence, and per
  // report its other seven values in another: lease id, attempt, status, the packed outcome
  // (exit code, duration, error text, log tail: the state's fields as a pass writes them, so a
  // pass keeps no error text), the reporting worker's id, and for the farm statistics the
  // test duration's bin and the install's bin (-1: none; farm_stats.hpp); repeats: some job has more than one report in
  // the batch.
  struct PackedReports {
    std::string keys, rest;
    std::string history;  // two numbers per report: test and install ms for the timing history, -1: none
    bool repeats = false;
  };

  // A claim script's reply (kClaim, kHandOff), its jobs decoded once read_specs() has the
  // specs of those the reply names by id.
  struct ClaimReply {
    std::optional<Claim> claim;       // nullopt: nothing claimed
    std::vector<std::string> ids;     // the jobs in order, when the reply names them by id
    std::vector<std::string> states;  // their states
  };

  // The four arguments every script call begins with; `extra` is room for what the caller adds.
  std::vector<std::string> base(std::int64_t now_ms, std::size_t extra = 0) const {
    std::vector<std::string> args;
    args.reserve(4 + extra);
    args.push_back(prefix_);
    args.push_back(std::to_string(now_ms));
    args.push_back(group_max_arg_);
    args.push_back(group_window_arg_);
    return args;
  }

  std::vector<std::string_view> fcall_argv(ScriptId id, const std::vector<std::string>& args) const {
    std::vector<std::string_view> argv;
    argv.reserve(args.size() + 3);
    argv.emplace_back("FCALL");
    argv.emplace_back(functions_[id]);
    argv.emplace_back("0");
    for (const auto& a : args) argv.emplace_back(a);
    return argv;
  }

  // Re-subscribes after the subscriber connection dropped, once its back-off allows; then
  // signals the eventfd, since wakeups may have been missed meanwhile.
  void maybe_resubscribe() {
    if (!wakeups_wanted_) return;
    if (sub_.connected() && sub_.generation() == subscribed_generation_) return;
    if (steady_ms() < sub_.next_attempt_ms()) return;
    try {
      subscribe();
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
    } catch (const Error&) {
      sub_.disconnect();
    }
  }

  // The packer of a submission's specs. They are packed here, not in Lua, where building
  // them cost Redis more than writing them.
  SpecPacker packer_of(const NewSubmission& s, std::int64_t now_ms) const {
    const std::uint32_t max_attempts = detail::max_attempts_of(s, settings_);
    return SpecPacker(s, detail::placement_of(s), proto::to_string(s.priority), max_attempts,
                      detail::rank_base(settings_, s.org_id, s.priority, now_ms), now_ms);
  }

  // connection.cpp
  void make_library();
  void load_scripts();
  RedisValue eval(ScriptId id, const std::vector<std::string>& args);
  std::vector<RedisValue> eval_pipeline(const std::vector<std::pair<ScriptId, std::vector<std::string>>>& calls,
                                        std::vector<std::vector<std::string>> plain = {});
  void subscribe();
  void want_wakeups();

  // submit.cpp
  // With settings_.min_replicas: WAIT for that many replicas to have every write of this
  // connection so far, or throw StoreUnavailable (check_replicated).
  void confirm_replicated();
  // Throws StoreUnavailable unless WAIT's reply counts settings_.min_replicas replicas.
  void check_replicated(const RedisValue& wait_reply) const;
  static std::vector<std::size_t> check_submissions(std::span<const NewSubmission> subs,
                                                    std::vector<SubmitResult>& out);
  std::vector<std::string> submit_args(std::span<const NewSubmission> subs, const std::vector<std::size_t>& sent,
                                       std::int64_t now_ms) const;
  static void parse_submits(const RedisValue& reply, std::span<const NewSubmission> subs,
                            const std::vector<std::size_t>& sent, std::vector<SubmitResult>& out);
  static void parse_submit_entry(const RedisValue& r, const NewSubmission& s, SubmitResult& result);
  ClaimReply handed_off(const NewSubmission& s, SubmitResult& result, const std::string& worker,
                        const std::string& lease_id, std::int64_t now_ms) const;

  // submit_sent.cpp
  static std::vector<std::string_view> sent_again_fcall(const InFlightSubmits& batch);
  void plan_sent(InFlightSubmits& batch) const;
  void settle_sent(InFlightSubmits& batch);
  static bool repeats_within(const InFlightSubmits& batch);
  const std::vector<std::string>& full_args(InFlightSubmits& batch) const;

  // claim.cpp
  std::vector<std::string> claim_args(const ClaimRequest& request, std::int64_t now_ms,
                                      const std::string& lease_id) const;
  static std::string assigned_state(std::int64_t now_ms, std::string_view worker, std::string_view lease_id);
  static std::string fair_share_arg(const StoreSettings& settings);
  static ClaimReply parse_claim(const RedisValue& reply, const std::string& lease_id);
  std::vector<std::optional<Claim>> read_specs(std::vector<ClaimReply> replies);

  // report.cpp
  PackedReports pack_reports(std::span<const proto::Report> reports) const;
  std::vector<std::string> renew_args(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms);

  // cancel.cpp
  static proto::CancelResult cancel_result(const RedisValue& v);

  // time.cpp
  void push_delays(std::vector<std::string>& args);

  StoreSettings settings_;
  std::string prefix_;
  // The decimal forms of the settings that calls send (base(), claim_args()), made once.
  std::string group_max_arg_ = std::to_string(settings_.group_max);
  std::string group_window_arg_ = std::to_string(settings_.group_window.count());
  std::string lease_arg_ = std::to_string(settings_.lease.count());
  std::string affinity_slack_arg_ = std::to_string(settings_.affinity_slack.count());
  std::string candidates_arg_ = std::to_string(detail::kClaimCandidates);
  std::string fair_share_arg_ = fair_share_arg(settings_);
  std::string quarantine_after_arg_ = std::to_string(settings_.quarantine_after);
  std::string quarantine_cooldown_arg_ = std::to_string(settings_.quarantine_cooldown.count());
  std::string timing_fields_arg_ = std::to_string(settings_.timing_history_fields);
  std::string timing_ttl_arg_ = std::to_string(settings_.retention ? settings_.retention->count() : 0);
  std::string min_replicas_arg_ = std::to_string(settings_.min_replicas);  // WAIT's
  std::string min_replicas_timeout_arg_ = std::to_string(settings_.min_replicas_timeout.count());
  RedisConnection conn_;
  RedisConnection sub_;
  // Batches of send_submits() not yet taken, oldest first; their replies are deferred on
  // conn_, in the same order.
  std::deque<InFlightSubmits> in_flight_;
  std::string library_;
  std::array<std::string, kScriptCount> functions_;
  bool loaded_ = false;
  std::mt19937_64 rng_;
  IdGenerator lease_ids_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::uint64_t subscribed_generation_ = 0;
  bool wakeups_wanted_ = false;
};

}  // namespace qg::sched::redis

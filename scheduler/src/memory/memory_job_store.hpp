#pragma once
// MemoryJobStore: the embedded default. The same structures as the Redis store (group
// queues, ready/pending/delayed/dead/lease sorted sets, counters, list indexes), kept in
// memory behind one mutex, so both stores order and fence work identically.
//
// The class is declared here, with the moves its transitions share (status counts, group
// placement, finishing and requeueing a job), inline; they expect mutex_ held. The transitions
// are defined by kind, one file each in this folder, as the Redis store's are.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../store_common.hpp"
#include "qg/common/ids.hpp"
#include "qg/proto/field_rules.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched::memory {

using proto::Job;
using proto::JobStatus;

// A Redis-like sorted set: members ordered by (score, member).
template <class Score>
class SortedSet {
 public:
  void add(const std::string& member, Score score) {
    auto it = index_.find(member);
    if (it != index_.end()) {
      order_.erase({it->second, member});
      it->second = score;
    } else {
      index_.emplace(member, score);
    }
    order_.insert({score, member});
  }
  bool remove(const std::string& member) {
    auto it = index_.find(member);
    if (it == index_.end()) return false;
    order_.erase({it->second, member});
    index_.erase(it);
    return true;
  }
  std::optional<Score> score(const std::string& member) const {
    auto it = index_.find(member);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  bool contains(const std::string& member) const { return index_.contains(member); }
  std::size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  const std::set<std::pair<Score, std::string>>& order() const { return order_; }

 private:
  std::set<std::pair<Score, std::string>> order_;
  std::unordered_map<std::string, Score> index_;
};

struct JobRec {
  Job job;
  std::int64_t rank_base = 0;
  std::uint32_t retries_used = 0;
  std::uint32_t test_failures = 0;
  bool cancel_requested = false;
  std::uint32_t budget = 3;
  std::string group;
  std::string idem;  // "<org>:<idempotency key>" of its submission; empty: none
};

// The groups ready for claims of one placement (a target, or a target with requirements).
struct ReadySets {
  SortedSet<double> groups;
  std::unordered_map<std::string, SortedSet<double>> by_org;  // org -> its ready groups
  SortedSet<double> org_heads;                                // org -> the best rank of its ready groups
  std::map<std::string, std::string> requirements;            // of the placement; none for a plain target
};

struct Lease {
  std::string worker_id;
  std::string group;
  std::vector<std::string> jobs;
};

class MemoryJobStore final : public JobStore {
 public:
  // submit_claim.cpp: construction, the wakeup fd, submit and claim.
  explicit MemoryJobStore(const StoreSettings& settings);
  ~MemoryJobStore() override;
  MemoryJobStore(const MemoryJobStore&) = delete;
  MemoryJobStore& operator=(const MemoryJobStore&) = delete;
  bool ping() override;
  int wakeup_fd() override;
  void drain_wakeups() override;
  SubmitOutcome submit(const NewSubmission& s, std::int64_t now_ms) override;
  std::optional<Claim> claim_group(const ClaimRequest& request, std::int64_t now_ms) override;

  // report.cpp: what a worker says of the jobs it holds.
  ReportOutcome report(const proto::Report& r, std::int64_t now_ms) override;
  bool progress(const proto::Progress& p, std::int64_t now_ms) override;
  bool renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) override;
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
  std::optional<std::chrono::milliseconds> retention() override;

  // health.cpp: device health (quarantine).
  std::map<std::string, std::int64_t> quarantined() override;
  bool unquarantine(const std::string& worker_id) override;

  // queries.cpp
  std::vector<std::optional<Job>> get(std::span<const std::string> job_ids) override;
  ListPage list(const ListQuery& q) override;
  QueuePage queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) override;
  StatsSnapshot stats(std::int64_t now_ms) override;
  farm::Windows farm_tallies(std::int64_t now_ms) override;
  std::uint64_t queue_depth() override;
  std::map<std::string, std::uint64_t> queued_by_org() override;
  // timing.cpp: timing history and what estimates read of the queues.
  std::vector<std::optional<timing::Summary>> timing(std::span<const timing::Key> keys, std::int64_t now_ms) override;
  std::size_t timing_fields(const std::string& org_id) override;
  std::vector<ReadyGroup> ready_groups(proto::Target target, std::size_t limit) override;
  std::vector<std::string> group_queue(const std::string& group_key, std::size_t limit) override;
  std::vector<std::uint64_t> lease_jobs_left(std::span<const std::string> lease_ids) override;

  // registry.cpp: workers and the processes that announce themselves.
  void upsert_worker(const proto::WorkerInfo& worker) override;
  bool retire_worker(const std::string& worker_id, std::string_view state) override;
  std::vector<proto::WorkerInfo> workers() override;
  std::vector<proto::WorkerInfo> departed_workers() override;
  std::vector<std::string> sweep_workers(std::int64_t seen_before_ms, std::int64_t drop_before_ms) override;
  void announce(std::string_view kind, const proto::ProcessInfo& who, std::int64_t now_ms) override;
  std::vector<proto::ProcessInfo> announced(std::string_view kind, std::int64_t now_ms) override;

 private:
  // The moves the transitions of every file share; mutex_ held.
  static std::size_t target_index(proto::Target t) { return static_cast<std::size_t>(t); }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void count(JobStatus from, JobStatus to, proto::Priority priority, const std::string& org) {
    counts_[std::string(proto::to_string(from))] -= 1;
    counts_[std::string(proto::to_string(to))] += 1;
    const std::string p(proto::to_string(priority));
    if (from == JobStatus::queued) {
      qprio_[p] -= 1;
      if (auto it = orgq_.find(org); it != orgq_.end() && --it->second <= 0) orgq_.erase(it);
    }
    if (to == JobStatus::queued) {
      qprio_[p] += 1;
      orgq_[org] += 1;
    }
  }

  void set_status(JobRec& rec, JobStatus to, std::int64_t now_ms) {
    count(rec.job.status, to, rec.job.priority, rec.job.org_id);
    rec.job.status = to;
    rec.job.updated_at_ms = now_ms;
  }

  // The first job of each priority band of a group (high, medium, low; nullptr: none). A
  // group's jobs are ordered by job_score: band, then age.
  static std::array<const std::string*, 3> band_heads(const SortedSet<double>& group) {
    std::array<const std::string*, 3> heads{};
    for (int band = 0; band < 3; ++band) {
      auto it = group.order().lower_bound({band * 1e13, std::string()});
      if (it != group.order().end() && it->first < (band + 1) * 1e13) heads[band] = &it->second;
    }
    return heads;
  }

  // The job a claim takes next from a non-empty group, and its rank base: the best of the
  // bands' first jobs by rank (equal ranks: the higher band), so a low job that has waited
  // past the head starts goes before fresher jobs of its group's higher bands, as it would
  // before another group's.
  std::pair<const std::string*, std::int64_t> next_job(const SortedSet<double>& group) const {
    const std::string* best = nullptr;
    std::int64_t best_rank = 0;
    for (const std::string* id : band_heads(group)) {
      if (id == nullptr) continue;
      const std::int64_t rank = jobs_.at(*id).rank_base;
      if (best == nullptr || rank < best_rank) {
        best = id;
        best_rank = rank;
      }
    }
    return {best, best_rank};
  }

  // Rank of a non-empty group: that of the job a claim would take first.
  double group_rank(const std::string& g) { return static_cast<double>(next_job(groups_[g]).second); }

  // The ready sets of group g's placement (its target, and its requirements if it has any:
  // detail::placement): those of a plain target are always there; those of a placement with
  // requirements exist while they hold a group (the Redis store's <p>reqsets:<target>).
  ReadySets* ready_sets(const detail::GroupParts& parts, bool create) {
    if (parts.placement.find('?') == std::string::npos) return &plain_ready_[target_index(parts.target)];
    auto& of_target = req_ready_[target_index(parts.target)];
    auto it = of_target.find(parts.placement);
    if (it == of_target.end()) {
      if (!create) return nullptr;
      it = of_target.emplace(parts.placement, ReadySets{}).first;
      it->second.requirements = detail::placement_requirements(parts.placement);
    }
    return &it->second;
  }

  // Group g's entry in its placement's ready set: at `score`, or out. Each org's ready groups
  // there and each org's best rank follow it (ReadySets::by_org, org_heads; the Redis store's
  // <p>ready:<placement>:<org> and <p>rorg:<placement>), so that fair share finds the best
  // group of every org, not only of the orgs whose groups lead the set.
  void set_ready(const std::string& g, std::optional<double> score) {
    const auto parts = detail::split_group_key(g);
    ReadySets* sets = ready_sets(parts, score.has_value());
    if (sets == nullptr) return;
    if (score) {
      sets->groups.add(g, *score);
    } else if (!sets->groups.remove(g)) {
      return;
    }
    const std::string org = detail::org_of_group(g);
    auto& mine = sets->by_org[org];
    if (score) {
      mine.add(g, *score);
    } else {
      mine.remove(g);
    }
    if (mine.empty()) {
      sets->by_org.erase(org);
      sets->org_heads.remove(org);
    } else {
      sets->org_heads.add(org, mine.order().begin()->first);
    }
    if (sets->groups.empty() && sets != &plain_ready_[target_index(parts.target)]) {
      req_ready_[target_index(parts.target)].erase(parts.placement);
    }
  }
  bool is_ready(const std::string& g) {
    const ReadySets* sets = ready_sets(detail::split_group_key(g), false);
    return sets != nullptr && sets->groups.contains(g);
  }

  // Puts a group where it belongs after jobs entered or left it: nowhere when empty, in
  // pending while its batching window is open, else in its target's ready set at its rank.
  // `requeue`: the jobs that entered had waited already (retries, promotions): no window.
  void refresh_group(const std::string& g, std::int64_t now_ms, bool requeue) {
    const std::size_t n = groups_[g].size();
    if (n == 0) {
      set_ready(g, std::nullopt);
      pending_.remove(g);
      groups_.erase(g);
      return;
    }
    if (pending_.contains(g)) {
      if (requeue || n >= settings_.group_max) {
        pending_.remove(g);
        set_ready(g, group_rank(g));
      }
      return;
    }
    if (is_ready(g) || requeue || settings_.group_window.count() == 0 || n >= settings_.group_max) {
      set_ready(g, group_rank(g));
    } else {
      pending_.add(g, now_ms + settings_.group_window.count());
    }
  }

  // A lease ends: its org holds one device less (fair share).
  void end_lease(std::unordered_map<std::string, Lease>::iterator it) {
    const std::string org = detail::org_of_group(it->second.group);
    if (auto held = org_leases_.find(org); held != org_leases_.end() && --held->second <= 0) org_leases_.erase(held);
    leases_.erase(it);
  }

  void lease_drop(JobRec& rec) {
    const std::string lease_id = rec.job.lease_id;
    rec.job.lease_id.clear();
    if (lease_id.empty()) return;
    auto it = leases_.find(lease_id);
    if (it == leases_.end()) return;
    auto& jobs = it->second.jobs;
    jobs.erase(std::remove(jobs.begin(), jobs.end(), rec.job.id), jobs.end());
    if (jobs.empty()) {
      end_lease(it);
      lease_exp_.remove(lease_id);
    }
  }

  void finish(JobRec& rec, JobStatus status, std::int64_t now_ms) {
    set_status(rec, status, now_ms);
    lease_drop(rec);
    auto bt = builds_.find(rec.job.org_id + "/" + rec.job.app_version_id);
    if (bt != builds_.end()) {
      bt->second.erase(rec.job.id);
      if (bt->second.empty()) builds_.erase(bt);
    }
    fin_[now_ms / 1000] += 1;
    if (status != JobStatus::dead && settings_.retention) done_.add(rec.job.id, now_ms);
    record_final(rec, status, now_ms);
  }

  void make_dead(JobRec& rec, std::int64_t now_ms) {
    finish(rec, JobStatus::dead, now_ms);
    dead_.add(rec.job.id, now_ms);
  }

  void requeue_now(JobRec& rec, std::int64_t now_ms) {
    set_status(rec, JobStatus::queued, now_ms);
    lease_drop(rec);
    groups_[rec.group].add(rec.job.id, detail::job_score(rec.job.priority, rec.job.created_at_ms));
    refresh_group(rec.group, now_ms, true);
    wake();
  }

  // The due time of an infrastructure retry `delay_ms` from now: one per group and attempt, so
  // that a group whose install failed comes back whole (as the Redis store's <p>rdue keys).
  std::int64_t retry_due(const JobRec& rec, std::int64_t delay_ms, std::int64_t now_ms) {
    auto [it, fresh] = retry_due_.try_emplace({rec.group, rec.job.attempt}, now_ms + delay_ms);
    if (!fresh && it->second < now_ms) it->second = now_ms + delay_ms;
    const std::int64_t due = it->second;
    if (retry_due_.size() > 1024) std::erase_if(retry_due_, [&](const auto& e) { return e.second < now_ms; });
    return due;
  }

  void requeue_later(JobRec& rec, std::int64_t due_ms, std::int64_t now_ms) {
    set_status(rec, JobStatus::queued, now_ms);
    lease_drop(rec);
    delayed_.add(rec.job.id, due_ms);
  }

  // retention.cpp: deletes one job past its retention, with every entry naming it.
  void erase_job(const std::string& id);
  // farm_stats.cpp
  void record_final(const JobRec& rec, JobStatus status, std::int64_t now_ms);
  void record_run(const JobRec& rec, const proto::Report& report, std::int64_t now_ms);
  // timing.cpp; mutex_ held: an accepted report's test and install durations into the history.
  void record_timing(const JobRec& rec, const proto::Report& report, std::int64_t now_ms);
  // health.cpp; mutex_ held. A report accepted from a worker: an infrastructure failure
  // (counted once per lease) or a test it ran. claim_gate: whether it may claim now (nullopt:
  // quarantined) and, for a probe, the one job it may take.
  void note_report_health(const std::string& worker_id, const std::string& lease_id, JobStatus status,
                          std::int64_t now_ms);
  std::optional<std::uint32_t> claim_gate(const std::string& worker_id, std::int64_t now_ms) const;
  void probe_claimed(const std::string& worker_id, std::int64_t now_ms);

  // cancel.cpp
  proto::CancelResult cancel_locked(const std::string& job_id, std::int64_t now_ms);

  // queries.cpp
  std::vector<std::optional<Job>> load(std::span<const std::string> ids) const;
  proto::GroupInfo group_info(const std::string& g, bool claimable, std::int64_t now_ms);

  StoreSettings settings_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
  IdGenerator lease_ids_;
  int wake_fd_ = -1;

  std::unordered_map<std::string, JobRec> jobs_;
  std::unordered_map<std::string, std::string> idem_;
  std::unordered_map<std::string, std::vector<std::string>> subs_;
  std::unordered_map<std::string, SortedSet<double>> groups_;
  std::array<ReadySets, 3> plain_ready_;  // per target: its groups without requirements
  // Per target: placement with requirements -> its ready groups; none is empty.
  std::array<std::map<std::string, ReadySets>, 3> req_ready_;
  SortedSet<std::int64_t> pending_;
  SortedSet<std::int64_t> delayed_;
  SortedSet<std::int64_t> dead_;
  SortedSet<std::int64_t> done_;  // finished (not dead) jobs, score = when; retention sweeps it
  std::unordered_map<std::string, std::size_t> sub_jobs_;  // jobs of each submission still kept
  std::unordered_map<std::string, Lease> leases_;
  std::unordered_map<std::string, std::int64_t> org_leases_;  // leases held per org (fair share); none: absent
  std::map<std::pair<std::string, std::uint32_t>, std::int64_t> retry_due_;  // (group, attempt) -> due ms
  struct WorkerHealth {
    std::uint32_t failures = 0;  // groups in a row that ended in an infrastructure failure
    std::string last_lease;      // the lease whose failure was counted last
  };
  std::unordered_map<std::string, WorkerHealth> health_;  // workers with failures only
  std::map<std::string, std::int64_t> quarantine_;        // worker -> when it may claim a probe
  SortedSet<std::int64_t> lease_exp_;
  std::map<std::string, std::int64_t> counts_;
  std::map<std::string, std::int64_t> qprio_;
  std::map<std::string, std::int64_t> orgcounts_;
  std::unordered_map<std::string, std::int64_t> orgq_;  // queued jobs per org; none: absent
  std::set<std::string> idx_all_;
  std::unordered_map<std::string, std::set<std::string>> idx_org_;
  std::unordered_map<std::string, std::set<std::string>> idx_app_;
  std::unordered_map<std::string, std::set<std::string>> builds_;
  std::map<std::int64_t, std::uint64_t> fin_;
  std::map<std::string, proto::WorkerInfo> workers_;
  std::map<std::string, proto::WorkerInfo> departed_;  // left or forgotten
  // kind -> encoded ProcessInfo (without its expiry) -> expires_at_ms
  std::map<std::string, std::map<std::string, std::int64_t>, std::less<>> announced_;
  farm::Buckets farm_;
  // Timing history: org -> field -> summary (the Redis store's <p>th:<org>).
  std::unordered_map<std::string, std::unordered_map<std::string, timing::Summary>> timing_;
};

}  // namespace qg::sched::memory

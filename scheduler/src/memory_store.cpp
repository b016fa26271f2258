// MemoryJobStore: the embedded default. The same structures as the Redis store (group
// queues, ready/pending/delayed/dead/lease sorted sets, counters, list indexes), kept in
// memory behind one mutex, so both stores order and fence work identically.

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "store_common.hpp"

namespace qg::sched {
namespace {

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
};

struct Lease {
  std::string worker_id;
  std::string group;
  std::vector<std::string> jobs;
};

class MemoryJobStore final : public JobStore {
 public:
  explicit MemoryJobStore(const StoreSettings& settings) : settings_(settings), rng_(std::random_device{}()) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw Error("eventfd failed");
  }
  ~MemoryJobStore() override { ::close(wake_fd_); }
  MemoryJobStore(const MemoryJobStore&) = delete;
  MemoryJobStore& operator=(const MemoryJobStore&) = delete;

  SubmitOutcome submit(const NewSubmission& s, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    SubmitOutcome out;
    std::string idem;
    if (!s.idempotency_key.empty()) {
      idem = s.org_id + ":" + s.idempotency_key;
      auto it = idem_.find(idem);
      if (it != idem_.end()) {
        out.submission_id = it->second;
        out.job_ids = subs_[it->second];
        out.duplicate = true;
        return out;
      }
    }
    if (s.job_ids.size() != s.test_paths.size()) throw StoreError("submit: job_ids and test_paths differ in size");
    std::unordered_set<std::string_view> seen;  // an id given twice is taken by its first use
    for (const auto& id : s.job_ids) {
      if (jobs_.contains(id) || (s.job_ids.size() > 1 && !seen.insert(id).second))
        throw StoreError("submit: job id already exists: " + id);
    }
    const std::string g = detail::group_key(s.org_id, s.app_version_id, s.target);
    const std::string build = s.org_id + "/" + s.app_version_id;
    const std::uint32_t max_attempts = detail::max_attempts_of(s, settings_);
    const std::int64_t rank = detail::rank_base(settings_, s.org_id, s.priority, now_ms);
    auto& group = groups_[g];
    auto& by_org = idx_org_[s.org_id];
    auto& by_app = idx_app_[build];
    auto& of_build = builds_[build];
    for (std::size_t i = 0; i < s.job_ids.size(); ++i) {
      JobRec rec;
      rec.job = detail::new_job(s, i, max_attempts, now_ms);
      const Job& j = rec.job;
      rec.rank_base = rank;
      rec.budget = max_attempts;
      rec.group = g;
      // Members sort by submit time, so a new one almost always goes last: hinting the end
      // spares the walk down each tree (a few dozen string compares per job at 10^6 jobs).
      const std::string member = detail::index_member(now_ms, j.id);
      idx_all_.emplace_hint(idx_all_.end(), member);
      by_org.emplace_hint(by_org.end(), member);
      by_app.emplace_hint(by_app.end(), member);
      of_build.emplace_hint(of_build.end(), j.id);
      group.add(j.id, detail::job_score(s.priority, now_ms));
      jobs_.emplace(j.id, std::move(rec));
    }
    const auto n = static_cast<std::int64_t>(s.job_ids.size());
    counts_["queued"] += n;
    qprio_[std::string(proto::to_string(s.priority))] += n;
    orgcounts_[s.org_id] += n;
    subs_[s.submission_id] = s.job_ids;
    if (!idem.empty()) idem_[idem] = s.submission_id;
    refresh_group(g, now_ms, false);
    if (ready_[target_index(s.target)].contains(g)) wake();
    out.submission_id = s.submission_id;
    out.job_ids = s.job_ids;
    return out;
  }

  std::vector<std::optional<Job>> get(std::span<const std::string> job_ids) override {
    std::lock_guard lock(mutex_);
    return load(job_ids);
  }

  ListPage list(const ListQuery& q) override {
    std::lock_guard lock(mutex_);
    static const std::set<std::string> kEmpty;
    const std::set<std::string>* index = &idx_all_;
    auto choice = detail::choose_index(q);
    if (choice.kind == detail::IndexChoice::app) {
      auto it = idx_app_.find(q.org_id + "/" + q.app_version_id);
      index = it == idx_app_.end() ? &kEmpty : &it->second;
    } else if (choice.kind == detail::IndexChoice::org) {
      auto it = idx_org_.find(q.org_id);
      index = it == idx_org_.end() ? &kEmpty : &it->second;
    }
    auto fetch = [&](const std::string& after, std::size_t n) {
      std::vector<std::string> out;
      auto it = after.empty() ? index->end() : index->lower_bound(after);
      while (it != index->begin() && out.size() < n) {
        --it;
        out.push_back(*it);
      }
      return out;
    };
    auto loader = [&](const std::vector<std::string>& ids) { return load(ids); };
    return detail::page_index(q, fetch, loader);
  }

  proto::CancelResult cancel_job(const std::string& job_id, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    return cancel_locked(job_id, now_ms);
  }

  std::vector<proto::CancelResult> cancel_build(const std::string& org_id, const std::string& app_version_id,
                                                std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    std::vector<proto::CancelResult> out;
    auto it = builds_.find(org_id + "/" + app_version_id);
    if (it == builds_.end()) return out;
    std::vector<std::string> ids(it->second.begin(), it->second.end());
    for (const auto& id : ids) out.push_back(cancel_locked(id, now_ms));
    return out;
  }

  std::optional<JobStatus> retry_dead(const std::string& job_id, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return std::nullopt;
    JobRec& rec = it->second;
    if (rec.job.status != JobStatus::dead) return rec.job.status;
    dead_.remove(job_id);
    rec.job.max_attempts = rec.job.attempt + rec.budget;
    set_status(rec, JobStatus::queued, now_ms);
    builds_[rec.job.org_id + "/" + rec.job.app_version_id].insert(job_id);
    groups_[rec.group].add(job_id, detail::job_score(rec.job.priority, rec.job.created_at_ms));
    refresh_group(rec.group, now_ms, true);
    wake();
    return JobStatus::queued;
  }

  std::optional<Claim> claim_group(const ClaimRequest& request, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<double, std::string>> candidates;
    std::set<proto::Target> seen;
    for (auto t : request.targets) {
      if (!seen.insert(t).second) continue;
      int taken = 0;
      for (const auto& entry : ready_[target_index(t)].order()) {
        if (taken++ >= detail::kClaimCandidates) break;
        candidates.push_back(entry);
      }
    }
    if (candidates.empty()) return std::nullopt;
    std::sort(candidates.begin(), candidates.end());
    std::string chosen = candidates.front().second;
    const double limit = candidates.front().first + static_cast<double>(settings_.affinity_slack.count());
    std::set<std::string> installed(request.installed.begin(), request.installed.end());
    for (const auto& [rank, key] : candidates) {
      if (rank > limit) break;
      auto last = key.rfind('/');
      if (installed.contains(key.substr(0, last))) {
        chosen = key;
        break;
      }
    }
    Claim claim;
    claim.lease_id = lease_ids_.next(now_ms);
    claim.group_key = chosen;
    auto parts = detail::split_group_key(chosen);
    claim.org_id = parts.org_id;
    claim.app_version_id = parts.app_version_id;
    claim.target = parts.target;
    Lease lease{request.worker_id, chosen, {}};
    auto& group = groups_[chosen];
    // The group's first jobs by rank, at most group_max and at most what the caller asked
    // for; the rest stays queued at the group's rank for the next claim.
    const std::size_t take =
        request.max_jobs == 0 ? settings_.group_max : std::min(request.max_jobs, settings_.group_max);
    while (!group.empty() && lease.jobs.size() < take) {
      std::string id = *next_job(group).first;
      group.remove(id);
      JobRec& rec = jobs_.at(id);
      rec.job.attempt += 1;
      rec.job.worker_id = request.worker_id;
      rec.job.lease_id = claim.lease_id;
      set_status(rec, JobStatus::assigned, now_ms);
      lease.jobs.push_back(id);
      claim.jobs.push_back(rec.job);
    }
    refresh_group(chosen, now_ms, false);
    lease_exp_.add(claim.lease_id, now_ms + settings_.lease.count());
    leases_.emplace(claim.lease_id, std::move(lease));
    return claim;
  }

  ReportOutcome report(const proto::Report& r, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    ReportOutcome out;
    auto it = jobs_.find(r.job_id);
    if (it == jobs_.end()) {
      out.reason = "not_found";
      return out;
    }
    JobRec& rec = it->second;
    Job& j = rec.job;
    if (proto::is_final(j.status)) {
      out.reason = "already_final";
      return out;
    }
    if (j.attempt != r.attempt) {
      out.reason = "stale_attempt";
      return out;
    }
    if (j.lease_id.empty() || j.lease_id != r.lease_id) {
      out.reason = "lost_lease";
      return out;
    }
    if (!proto::is_final(r.status) || r.status == JobStatus::dead) {
      out.reason = "invalid_status";
      return out;
    }
    out.accepted = true;
    j.exit_code = r.exit_code;
    j.duration_ms = r.duration_ms;
    j.log_tail = r.log_tail;
    switch (r.status) {
      case JobStatus::passed:
        j.flaky = rec.test_failures > 0;
        j.last_error.clear();
        finish(rec, JobStatus::passed, now_ms);
        break;
      case JobStatus::failed:
      case JobStatus::timed_out:
        j.last_error = !r.error.empty()                   ? r.error
                       : r.status == JobStatus::timed_out ? "timed out"
                                                          : "exit code " + std::to_string(r.exit_code);
        rec.test_failures += 1;
        if (rec.cancel_requested) {
          finish(rec, JobStatus::cancelled, now_ms);
        } else if (rec.retries_used < j.retries) {
          rec.retries_used += 1;
          requeue_now(rec, now_ms);
          out.requeued = true;
        } else {
          finish(rec, r.status, now_ms);
        }
        break;
      case JobStatus::error:
        j.last_error = r.error.empty() ? "infrastructure error" : r.error;
        if (rec.cancel_requested) {
          finish(rec, JobStatus::cancelled, now_ms);
        } else if (j.attempt < j.max_attempts) {
          requeue_later(rec, now_ms + detail::backoff_delay(settings_.backoff, j.attempt, rng_), now_ms);
          out.requeued = true;
        } else {
          make_dead(rec, now_ms);
        }
        break;
      default:
        finish(rec, JobStatus::cancelled, now_ms);
        break;
    }
    out.job = j;
    return out;
  }

  bool progress(const proto::Progress& p, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(p.job_id);
    if (it == jobs_.end()) return false;
    JobRec& rec = it->second;
    if (proto::is_final(rec.job.status) || rec.job.attempt != p.attempt || rec.job.lease_id.empty() ||
        rec.job.lease_id != p.lease_id) {
      return false;
    }
    if (p.status != JobStatus::installing && p.status != JobStatus::running) return false;
    set_status(rec, p.status, now_ms);
    return true;
  }

  bool renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    auto it = leases_.find(lease_id);
    if (it == leases_.end() || it->second.worker_id != worker_id) return false;
    lease_exp_.add(lease_id, now_ms + settings_.lease.count());
    return true;
  }

  std::uint32_t release(const std::string& worker_id, const std::string& lease_id, std::span<const std::string> job_ids,
                        std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    auto it = leases_.find(lease_id);
    if (it == leases_.end() || it->second.worker_id != worker_id) return 0;
    std::uint32_t released = 0;
    for (const auto& id : job_ids) {
      auto jt = jobs_.find(id);
      if (jt == jobs_.end()) continue;
      JobRec& rec = jt->second;
      if (rec.job.lease_id != lease_id) continue;
      if (rec.job.status != JobStatus::assigned && rec.job.status != JobStatus::installing) continue;
      requeue_now(rec, now_ms);
      ++released;
    }
    return released;
  }

  std::vector<ExpiredLease> expire_leases(std::int64_t now_ms, std::size_t max) override {
    std::lock_guard lock(mutex_);
    std::vector<ExpiredLease> out;
    while (out.size() < max && !lease_exp_.empty()) {
      auto [expiry, lease_id] = *lease_exp_.order().begin();
      if (expiry > now_ms) break;
      ExpiredLease expired;
      expired.lease_id = lease_id;
      auto lt = leases_.find(lease_id);
      if (lt != leases_.end()) {
        expired.worker_id = lt->second.worker_id;
        std::vector<std::string> ids = lt->second.jobs;
        for (const auto& id : ids) {
          auto jt = jobs_.find(id);
          if (jt == jobs_.end()) continue;
          JobRec& rec = jt->second;
          if (rec.job.lease_id != lease_id || proto::is_final(rec.job.status)) continue;
          rec.job.last_error = "lease expired";
          if (rec.cancel_requested) {
            finish(rec, JobStatus::cancelled, now_ms);
          } else if (rec.job.attempt >= rec.job.max_attempts) {
            make_dead(rec, now_ms);
          } else {
            requeue_later(rec, now_ms + detail::backoff_delay(settings_.backoff, rec.job.attempt, rng_), now_ms);
          }
          expired.jobs.push_back(rec.job);
        }
        leases_.erase(lease_id);
      }
      lease_exp_.remove(lease_id);
      out.push_back(std::move(expired));
    }
    return out;
  }

  std::size_t promote_due(std::int64_t now_ms, std::size_t max) override {
    std::lock_guard lock(mutex_);
    std::size_t moved = 0;
    while (moved < max && !pending_.empty()) {
      auto [due, g] = *pending_.order().begin();
      if (due > now_ms) break;
      pending_.remove(g);
      refresh_group(g, now_ms, true);
      ++moved;
    }
    while (moved < max && !delayed_.empty()) {
      auto [due, id] = *delayed_.order().begin();
      if (due > now_ms) break;
      delayed_.remove(id);
      JobRec& rec = jobs_.at(id);
      groups_[rec.group].add(id, detail::job_score(rec.job.priority, rec.job.created_at_ms));
      refresh_group(rec.group, now_ms, true);
      ++moved;
    }
    if (moved > 0) wake();
    return moved;
  }

  std::optional<std::int64_t> next_due_ms() override {
    std::lock_guard lock(mutex_);
    std::optional<std::int64_t> due;
    auto consider = [&](const SortedSet<std::int64_t>& set) {
      if (set.empty()) return;
      auto first = set.order().begin()->first;
      if (!due || first < *due) due = first;
    };
    consider(pending_);
    consider(delayed_);
    consider(lease_exp_);
    return due;
  }

  QueuePage queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    QueuePage page;
    limit = std::clamp<std::uint32_t>(limit, 1, 1000);
    int phase = 0;
    std::size_t offset = 0;
    if (!cursor.empty()) {
      auto colon = cursor.find(':');
      if (colon != std::string::npos) {
        phase = std::atoi(cursor.substr(0, colon).c_str());
        offset = static_cast<std::size_t>(std::strtoull(cursor.c_str() + colon + 1, nullptr, 10));
      }
    }
    for (; phase < 4; ++phase, offset = 0) {
      std::vector<std::string> keys;
      auto collect = [&](const auto& set) {
        std::size_t i = 0;
        for (const auto& entry : set.order()) {
          if (i++ < offset) continue;
          if (keys.size() >= limit - page.groups.size()) break;
          keys.push_back(entry.second);
        }
      };
      if (phase < 3) {
        collect(ready_[static_cast<std::size_t>(phase)]);
      } else {
        collect(pending_);
      }
      for (const auto& key : keys) page.groups.push_back(group_info(key, phase < 3, now_ms));
      if (page.groups.size() >= limit) {
        page.next_cursor = std::to_string(phase) + ":" + std::to_string(offset + keys.size());
        break;
      }
    }
    for (const auto& [k, v] : counts_) {
      if (v > 0) page.by_status[k] = static_cast<std::uint64_t>(v);
    }
    for (const auto& [k, v] : qprio_) {
      if (v > 0) page.by_priority[k] = static_cast<std::uint64_t>(v);
    }
    return page;
  }

  StatsSnapshot stats(std::int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    StatsSnapshot snap;
    for (const auto& [k, v] : counts_) {
      if (v > 0) snap.by_status[k] = static_cast<std::uint64_t>(v);
    }
    for (const auto& [k, v] : orgcounts_) {
      if (v > 0) snap.by_org[k] = static_cast<std::uint64_t>(v);
    }
    const std::int64_t sec = now_ms / 1000;
    std::uint64_t finished = 0;
    for (auto it = fin_.begin(); it != fin_.end();) {
      if (it->first <= sec - detail::kRateWindowSec) {
        it = fin_.erase(it);
        continue;
      }
      if (it->first <= sec) finished += it->second;
      ++it;
    }
    snap.jobs_per_sec = static_cast<double>(finished) / static_cast<double>(detail::kRateWindowSec);
    return snap;
  }

  std::uint64_t queue_depth() override {
    std::lock_guard lock(mutex_);
    auto it = counts_.find("queued");
    return it == counts_.end() || it->second < 0 ? 0 : static_cast<std::uint64_t>(it->second);
  }

  void upsert_worker(const proto::WorkerInfo& worker) override {
    std::lock_guard lock(mutex_);
    workers_[worker.worker_id] = worker;
  }
  void remove_worker(const std::string& worker_id) override {
    std::lock_guard lock(mutex_);
    workers_.erase(worker_id);
  }
  std::vector<proto::WorkerInfo> workers() override {
    std::lock_guard lock(mutex_);
    std::vector<proto::WorkerInfo> out;
    for (const auto& [id, w] : workers_) out.push_back(w);
    return out;
  }

  bool ping() override { return true; }
  int wakeup_fd() override { return wake_fd_; }
  void drain_wakeups() override {
    std::uint64_t value = 0;
    while (::read(wake_fd_, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
    }
  }

 private:
  static std::size_t target_index(proto::Target t) { return static_cast<std::size_t>(t); }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  std::vector<std::optional<Job>> load(std::span<const std::string> ids) const {
    std::vector<std::optional<Job>> out;
    out.reserve(ids.size());
    for (const auto& id : ids) {
      auto it = jobs_.find(id);
      out.push_back(it == jobs_.end() ? std::nullopt : std::optional<Job>(it->second.job));
    }
    return out;
  }

  void count(JobStatus from, JobStatus to, proto::Priority priority) {
    counts_[std::string(proto::to_string(from))] -= 1;
    counts_[std::string(proto::to_string(to))] += 1;
    const std::string p(proto::to_string(priority));
    if (from == JobStatus::queued) qprio_[p] -= 1;
    if (to == JobStatus::queued) qprio_[p] += 1;
  }

  void set_status(JobRec& rec, JobStatus to, std::int64_t now_ms) {
    count(rec.job.status, to, rec.job.priority);
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

  // Puts a group where it belongs after jobs entered or left it: nowhere when empty, in
  // pending while its batching window is open, else in its target's ready set at its rank.
  // `requeue`: the jobs that entered had waited already (retries, promotions): no window.
  void refresh_group(const std::string& g, std::int64_t now_ms, bool requeue) {
    auto& ready = ready_[target_index(detail::split_group_key(g).target)];
    const std::size_t n = groups_[g].size();
    if (n == 0) {
      ready.remove(g);
      pending_.remove(g);
      groups_.erase(g);
      return;
    }
    if (pending_.contains(g)) {
      if (requeue || n >= settings_.group_max) {
        pending_.remove(g);
        ready.add(g, group_rank(g));
      }
      return;
    }
    if (ready.contains(g) || requeue || settings_.group_window.count() == 0 || n >= settings_.group_max) {
      ready.add(g, group_rank(g));
    } else {
      pending_.add(g, now_ms + settings_.group_window.count());
    }
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
      leases_.erase(it);
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

  void requeue_later(JobRec& rec, std::int64_t due_ms, std::int64_t now_ms) {
    set_status(rec, JobStatus::queued, now_ms);
    lease_drop(rec);
    delayed_.add(rec.job.id, due_ms);
  }

  proto::CancelResult cancel_locked(const std::string& job_id, std::int64_t now_ms) {
    proto::CancelResult result;
    result.job_id = job_id;
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      result.outcome = "not_found";
      return result;
    }
    JobRec& rec = it->second;
    if (proto::is_final(rec.job.status)) {
      result.outcome = "already_final";
      result.status = rec.job.status;
      return result;
    }
    if (rec.job.status == JobStatus::queued) {
      auto gt = groups_.find(rec.group);
      if (gt != groups_.end() && gt->second.remove(job_id)) refresh_group(rec.group, now_ms, false);
      delayed_.remove(job_id);
      finish(rec, JobStatus::cancelled, now_ms);
      result.outcome = "cancelled";
      result.status = JobStatus::cancelled;
      return result;
    }
    rec.cancel_requested = true;
    rec.job.updated_at_ms = now_ms;
    result.outcome = "cancel_requested";
    result.status = rec.job.status;
    return result;
  }

  proto::GroupInfo group_info(const std::string& g, bool claimable, std::int64_t now_ms) {
    proto::GroupInfo info;
    auto parts = detail::split_group_key(g);
    info.key = g;
    info.org_id = parts.org_id;
    info.app_version_id = parts.app_version_id;
    info.target = parts.target;
    info.claimable = claimable;
    const auto& group = groups_[g];
    info.depth = group.size();
    if (!group.empty()) {
      info.highest_priority = jobs_.at(group.order().begin()->second).job.priority;
      std::int64_t oldest = now_ms;
      for (const std::string* id : band_heads(group)) {
        if (id != nullptr) oldest = std::min(oldest, jobs_.at(*id).job.created_at_ms);
      }
      info.oldest_age_ms = now_ms - oldest;
    }
    return info;
  }

  StoreSettings settings_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
  IdGenerator lease_ids_;
  int wake_fd_ = -1;

  std::unordered_map<std::string, JobRec> jobs_;
  std::unordered_map<std::string, std::string> idem_;
  std::unordered_map<std::string, std::vector<std::string>> subs_;
  std::unordered_map<std::string, SortedSet<double>> groups_;
  std::array<SortedSet<double>, 3> ready_;
  SortedSet<std::int64_t> pending_;
  SortedSet<std::int64_t> delayed_;
  SortedSet<std::int64_t> dead_;
  std::unordered_map<std::string, Lease> leases_;
  SortedSet<std::int64_t> lease_exp_;
  std::map<std::string, std::int64_t> counts_;
  std::map<std::string, std::int64_t> qprio_;
  std::map<std::string, std::int64_t> orgcounts_;
  std::set<std::string> idx_all_;
  std::unordered_map<std::string, std::set<std::string>> idx_org_;
  std::unordered_map<std::string, std::set<std::string>> idx_app_;
  std::unordered_map<std::string, std::set<std::string>> builds_;
  std::map<std::int64_t, std::uint64_t> fin_;
  std::map<std::string, proto::WorkerInfo> workers_;
};

}  // namespace

std::unique_ptr<JobStore> make_memory_store(const StoreSettings& settings) {
  return std::make_unique<MemoryJobStore>(settings);
}

}  // namespace qg::sched

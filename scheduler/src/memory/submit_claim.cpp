// MemoryJobStore's construction and wakeup fd (an eventfd), its submissions and claims, and
// the factory.

#include <sys/eventfd.h>
#include <unistd.h>

#include <unordered_set>

#include "memory_job_store.hpp"
#include "qg/common/errors.hpp"

namespace qg::sched {
namespace memory {

MemoryJobStore::MemoryJobStore(const StoreSettings& settings) : settings_(settings), rng_(std::random_device{}()) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw Error("eventfd failed");
}

MemoryJobStore::~MemoryJobStore() { ::close(wake_fd_); }

bool MemoryJobStore::ping() { return true; }

int MemoryJobStore::wakeup_fd() { return wake_fd_; }

void MemoryJobStore::drain_wakeups() {
  std::uint64_t value = 0;
  while (::read(wake_fd_, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
  }
}

SubmitOutcome MemoryJobStore::submit(const NewSubmission& s, std::int64_t now_ms) {
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
  const std::string g = detail::group_key_of(s);
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
    rec.idem = idem;
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
  orgq_[s.org_id] += n;
  subs_[s.submission_id] = s.job_ids;
  sub_jobs_[s.submission_id] = s.job_ids.size();
  if (!idem.empty()) idem_[idem] = s.submission_id;
  refresh_group(g, now_ms, false);
  if (is_ready(g)) wake();
  out.submission_id = s.submission_id;
  out.job_ids = s.job_ids;
  return out;
}

std::optional<Claim> MemoryJobStore::claim_group(const ClaimRequest& request, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  const auto gate = claim_gate(request.worker_id, now_ms);
  if (!gate) return std::nullopt;  // quarantined, cooling down
  // The ready sets the worker may claim from: its targets' plain ones, and (capabilities) those
  // of placements with requirements that its labels all hold (as kClaim).
  std::vector<const ReadySets*> sets;
  std::set<proto::Target> seen;
  for (auto t : request.targets) {
    if (!seen.insert(t).second) continue;
    sets.push_back(&plain_ready_[target_index(t)]);
    if (request.labels.empty()) continue;
    for (const auto& [placement, ready] : req_ready_[target_index(t)]) {
      if (proto::labels_satisfy(request.labels, ready.requirements)) sets.push_back(&ready);
    }
  }
  std::vector<std::pair<double, std::string>> candidates;
  for (const auto* ready : sets) {
    int taken = 0;
    for (const auto& entry : ready->groups.order()) {
      if (taken++ >= detail::kClaimCandidates) break;
      candidates.push_back(entry);
    }
  }
  if (settings_.fair_share_slack.count() > 0) {
    // Fair share looks at the best group of each of the best orgs too (as kClaim).
    std::set<std::string> has;
    for (const auto& c : candidates) has.insert(detail::org_of_group(c.second));
    for (const auto* ready : sets) {
      int taken = 0;
      for (const auto& [rank, org] : ready->org_heads.order()) {
        if (taken++ >= detail::kClaimCandidates) break;
        if (!has.insert(org).second) continue;
        candidates.push_back(*ready->by_org.at(org).order().begin());
      }
    }
  }
  if (candidates.empty()) return std::nullopt;
  std::sort(candidates.begin(), candidates.end());
  const std::string fair_org = detail::fair_share_order(settings_, candidates, [&](const std::string& org) {
    auto it = org_leases_.find(org);
    return it == org_leases_.end() ? std::int64_t{0} : it->second;
  });
  std::string chosen = candidates.front().second;
  const double limit = candidates.front().first + static_cast<double>(settings_.affinity_slack.count());
  std::set<std::string> installed(request.installed.begin(), request.installed.end());
  for (const auto& [rank, key] : candidates) {
    if (rank > limit || (!fair_org.empty() && detail::org_of_group(key) != fair_org)) break;
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
  std::size_t take = request.max_jobs == 0 ? settings_.group_max : std::min(request.max_jobs, settings_.group_max);
  if (*gate > 0) {
    take = std::min<std::size_t>(take, *gate);  // a probe of a quarantined worker: one job
    probe_claimed(request.worker_id, now_ms);
  }
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
  org_leases_[claim.org_id] += 1;
  return claim;
}

}  // namespace memory

std::unique_ptr<JobStore> make_memory_store(const StoreSettings& settings) {
  return std::make_unique<memory::MemoryJobStore>(settings);
}

}  // namespace qg::sched

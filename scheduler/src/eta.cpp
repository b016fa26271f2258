// Queue position and expected finish of jobs (qg/scheduler/eta.hpp).

#include "qg/scheduler/eta.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "qg/scheduler/timing_history.hpp"
#include "store_common.hpp"

namespace qg::sched {
namespace {

// Reads several timing summaries with one store call: add() the keys, read(), then get().
class TimingReads {
 public:
  std::size_t add(const std::string& org, std::string field) {
    auto [it, fresh] = index_.try_emplace(org + '\n' + field, keys_.size());
    if (fresh) keys_.push_back({org, std::move(field)});
    return it->second;
  }
  void read(JobStore& store, std::int64_t now_ms) { found_ = store.timing(keys_, now_ms); }
  const std::optional<timing::Summary>& get(std::size_t i) const { return found_.at(i); }

 private:
  std::vector<timing::Key> keys_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<std::optional<timing::Summary>> found_;
};

double mean_or(const std::optional<timing::Summary>& s, double fallback) {
  return s ? static_cast<double>(s->mean_ms) : fallback;
}

std::int64_t whole_ms(double ms) { return static_cast<std::int64_t>(std::llround(std::max(0.0, ms))); }

}  // namespace

const EtaEstimator::TargetView& EtaEstimator::target_view(JobStore& store, proto::Target target, std::int64_t now_ms,
                                                          bool again) {
  auto& view = targets_[target];
  const auto fresh_for = settings_.cache_for.count();
  if (!again && view.read_at_ms != 0 && now_ms - view.read_at_ms < fresh_for && now_ms >= view.read_at_ms) {
    return view;
  }
  if (again || !workers_read_ || now_ms - workers_read_at_ms_ >= fresh_for || now_ms < workers_read_at_ms_) {
    workers_ = store.workers();
    std::erase_if(workers_, [&](const proto::WorkerInfo& w) {
      return now_ms - w.last_seen_ms > settings_.lost_after.count() || w.state == "draining";
    });
    workers_read_ = true;
    workers_read_at_ms_ = now_ms;
  }
  view = TargetView{};
  view.read_at_ms = now_ms;
  const double unknown = static_cast<double>(settings_.unknown_test.count());
  TimingReads reads;
  // The busy workers of the target and the jobs their leases still hold.
  std::vector<std::string> leases;
  std::vector<std::size_t> lease_means;
  for (const auto& w : workers_) {
    if (std::ranges::find(w.targets, target) == w.targets.end()) continue;
    ++view.workers;
    if (w.lease_id.empty()) {
      ++view.idle;
      continue;
    }
    leases.push_back(w.lease_id);
    lease_means.push_back(reads.add(detail::org_of_group(w.group_key), timing::tests_field(target)));
  }
  auto groups = store.ready_groups(target, settings_.groups_max);
  std::vector<std::pair<std::size_t, std::size_t>> group_reads;  // test mean, install
  group_reads.reserve(groups.size());
  for (const auto& g : groups) {
    const auto key = detail::split_group_key(g.key);
    const auto install = reads.add(key.org_id, timing::build_install_field(target, key.app_version_id));
    reads.add(key.org_id, timing::installs_field(target));
    group_reads.emplace_back(reads.add(key.org_id, timing::tests_field(target)), install);
  }
  reads.read(store, now_ms);
  const auto left = store.lease_jobs_left(leases);
  for (std::size_t i = 0; i < leases.size(); ++i) {
    view.in_flight_ms += static_cast<double>(left[i]) * mean_or(reads.get(lease_means[i]), unknown);
  }
  view.groups.reserve(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto key = detail::split_group_key(groups[i].key);
    RankedGroup r;
    r.key = groups[i].key;
    r.queued = groups[i].queued;
    r.jobs_before = view.jobs;
    r.work_before_ms = view.work_ms;
    r.test_ms = mean_or(reads.get(group_reads[i].first), unknown);
    r.install_ms = mean_or(reads.get(group_reads[i].second),
                           mean_or(reads.get(reads.add(key.org_id, timing::installs_field(target))), 0));
    view.jobs += r.queued;
    view.work_ms += static_cast<double>(r.queued) * r.test_ms + r.install_ms;
    view.index.emplace(r.key, view.groups.size());
    view.groups.push_back(std::move(r));
  }
  return view;
}

EtaAnswer EtaEstimator::estimate(JobStore& store, std::span<const proto::Job> jobs, std::int64_t now_ms) {
  EtaAnswer answer;
  std::vector<const proto::Job*> open;
  for (const auto& j : jobs) {
    if (!proto::is_final(j.status)) open.push_back(&j);
  }
  if (open.empty()) return answer;
  const double unknown = static_cast<double>(settings_.unknown_test.count());
  // Each job's own history: its test, its org's tests, its build's installs, its org's installs.
  TimingReads reads;
  std::vector<std::array<std::size_t, 4>> own;
  own.reserve(open.size());
  for (const auto* j : open) {
    own.push_back({reads.add(j->org_id, timing::test_field(j->target, j->test_path)),
                   reads.add(j->org_id, timing::tests_field(j->target)),
                   reads.add(j->org_id, timing::build_install_field(j->target, j->app_version_id)),
                   reads.add(j->org_id, timing::installs_field(j->target))});
  }
  reads.read(store, now_ms);
  // A group's queue as claims take it: each job's place, and the expected work of the jobs
  // before each place (their tests' means; a test never seen at its org's median).
  struct GroupQueue {
    std::unordered_map<std::string, std::size_t> place;
    std::vector<double> work_before;  // one more entry than jobs: the whole queue's last
  };
  std::unordered_map<std::string, GroupQueue> positions;
  const auto read_queue = [&](const std::string& group, const proto::Job& j, double fallback) {
    GroupQueue q;
    auto ids = store.group_queue(group, settings_.group_jobs_max);
    TimingReads tests;
    std::vector<std::optional<std::size_t>> field;
    field.reserve(ids.size());
    for (const auto& job : store.get(ids)) {
      field.push_back(job ? std::optional(tests.add(j.org_id, timing::test_field(j.target, job->test_path)))
                          : std::nullopt);
    }
    tests.read(store, now_ms);
    q.work_before.reserve(ids.size() + 1);
    q.work_before.push_back(0);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      q.place.emplace(std::move(ids[k]), k);
      const double d = field[k] ? mean_or(tests.get(*field[k]), fallback) : 0;
      q.work_before.push_back(q.work_before.back() + d);
    }
    return q;
  };
  std::set<proto::Target> read_again;  // targets whose view this call read afresh
  bool every_eta = true;
  for (std::size_t i = 0; i < open.size(); ++i) {
    const auto& j = *open[i];
    const auto& tests = reads.get(own[i][1]);
    const double expected = mean_or(reads.get(own[i][0]), tests ? static_cast<double>(tests->p50_ms) : unknown);
    const double install = mean_or(reads.get(own[i][2]), mean_or(reads.get(own[i][3]), 0));
    const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now_ms - j.updated_at_ms));
    proto::JobEta eta;
    eta.job_id = j.id;
    if (j.status == proto::JobStatus::running) {
      eta.eta_ms = whole_ms(expected - elapsed);
    } else if (j.status == proto::JobStatus::installing) {
      eta.eta_ms = whole_ms(std::max(0.0, install - elapsed) + expected);
    } else if (j.status != proto::JobStatus::queued) {  // assigned
      eta.eta_ms = whole_ms(install + expected);
    } else {
      const std::string group = j.org_id + "/" + j.app_version_id + "/" + std::string(proto::to_string(j.target));
      const auto* viewed = &target_view(store, j.target, now_ms, false);
      // A group the cached view does not know may have come since it was read (a job's
      // estimate is asked right after its submit): the view is read again, once per call.
      if (!viewed->index.contains(group) && read_again.insert(j.target).second) {
        viewed = &target_view(store, j.target, now_ms, viewed->read_at_ms != now_ms);
      }
      const auto& view = *viewed;
      // Groups ranked before its group; a group not among the claimable ones read (its batching
      // window is open, its job backs off, or it ranks past groups_max) comes after them all.
      std::uint64_t groups_ahead = view.groups.size();
      std::uint64_t jobs_before = view.jobs;
      double work_before = view.work_ms;
      if (auto at = view.index.find(group); at != view.index.end()) {
        groups_ahead = at->second;
        jobs_before = view.groups[at->second].jobs_before;
        work_before = view.groups[at->second].work_before_ms;
      }
      auto it = positions.find(group);
      if (it == positions.end()) {
        const double median = tests ? static_cast<double>(tests->p50_ms) : unknown;
        it = positions.emplace(group, read_queue(group, j, median)).first;
      }
      const auto& queue = it->second;
      const auto found = queue.place.find(j.id);
      const std::size_t k = found == queue.place.end() ? queue.place.size() : found->second;
      eta.queued_ahead = jobs_before + k;
      if (view.workers > 0) {
        const double own_before = queue.work_before[k];
        double at;
        if (groups_ahead < view.idle) {
          // It starts at once. A claim takes a fair share of the queued work (at least 5 jobs,
          // as the claim sizer): a larger group is split over the idle workers left.
          const double per_claim =
              std::max(5.0, std::ceil(static_cast<double>(view.jobs) / static_cast<double>(view.workers)));
          const double parts = std::min(static_cast<double>(view.idle - groups_ahead),
                                        std::max(1.0, std::ceil(static_cast<double>(queue.place.size()) / per_claim)));
          at = install + own_before / parts + expected;
        } else {
          at = (view.in_flight_ms + work_before) / static_cast<double>(view.workers) + install + own_before + expected;
        }
        eta.eta_ms = whole_ms(at);
      }
    }
    if (!eta.eta_ms) every_eta = false;
    answer.queued_ahead = std::min(answer.queued_ahead.value_or(eta.queued_ahead), eta.queued_ahead);
    if (eta.eta_ms) answer.eta_ms = std::max(answer.eta_ms.value_or(0), *eta.eta_ms);
    answer.jobs.push_back(std::move(eta));
  }
  if (!every_eta) answer.eta_ms.reset();
  return answer;
}

}  // namespace qg::sched

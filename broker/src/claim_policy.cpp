#include "claim_policy.hpp"

#include <algorithm>
#include <exception>
#include <limits>

#include "qg/common/clock.hpp"
#include "qg/proto/messages.hpp"

namespace qg::broker {

std::uint32_t fair_share(std::uint64_t unfinished_jobs, std::uint64_t workers, std::uint32_t min_jobs) {
  if (workers == 0) return 0;
  const std::uint64_t share = unfinished_jobs / workers + (unfinished_jobs % workers != 0 ? 1 : 0);
  const std::uint64_t floored = std::max<std::uint64_t>({share, min_jobs, 1});
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(floored, std::numeric_limits<std::uint32_t>::max()));
}

std::uint64_t unfinished_jobs(const std::map<std::string, std::uint64_t>& by_status) {
  std::uint64_t n = 0;
  for (auto status : {proto::JobStatus::queued, proto::JobStatus::assigned, proto::JobStatus::installing,
                      proto::JobStatus::running}) {
    auto it = by_status.find(std::string(proto::to_string(status)));
    if (it != by_status.end()) n += it->second;
  }
  return n;
}

std::uint32_t ClaimSizer::max_jobs(std::int64_t now_ms, const std::function<Sample()>& take_sample,
                                   std::uint64_t unsampled_jobs) {
  if (!tried_ || now_ms - sampled_ms_ >= settings_.refresh.count() || now_ms < sampled_ms_) {
    tried_ = true;
    sampled_ms_ = now_ms;
    try {
      sample_ = take_sample();
    } catch (const std::exception&) {
      sample_.reset();  // unknown: whole groups, as without a policy
    }
  }
  if (!sample_) return 0;
  return fair_share(sample_->unfinished_jobs + unsampled_jobs, sample_->workers, settings_.min_jobs);
}

std::uint32_t claim_max_jobs(ClaimSizer& sizer, sched::JobStore& store, std::int64_t now_ms,
                             const std::function<std::uint64_t()>& count_workers, std::uint64_t submitting) {
  const auto max_jobs = sizer.max_jobs(
      steady_ms(),
      [&] {
        ClaimSizer::Sample sample;
        sample.unfinished_jobs = unfinished_jobs(store.stats(now_ms).by_status);
        sample.workers = count_workers();
        return sample;
      },
      submitting);
  return max_jobs;
}

}  // namespace qg::broker

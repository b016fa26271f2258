// RedisJobStore's cancellations (kCancel) and the retry of a dead job (kRetryDead).

#include <algorithm>

#include "redis_job_store.hpp"

namespace qg::sched::redis {

proto::CancelResult RedisJobStore::cancel_job(const std::string& job_id, std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back("job");
  args.push_back(job_id);
  auto reply = eval(kCancel, args);
  return cancel_result(reply[0]);
}

std::vector<proto::CancelResult> RedisJobStore::cancel_build(const std::string& org_id,
                                                             const std::string& app_version_id, std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back("build");
  args.push_back(org_id);
  args.push_back(app_version_id);
  auto reply = eval(kCancel, args);
  std::vector<proto::CancelResult> out;
  for (const auto& r : reply.array()) out.push_back(cancel_result(r));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.job_id < b.job_id; });
  return out;
}

proto::CancelResult RedisJobStore::cancel_result(const RedisValue& v) {
  proto::CancelResult r;
  r.job_id = v[0].str();
  r.outcome = v[1].str();
  r.status = proto::parse_status(v[2].str()).value_or(JobStatus::cancelled);
  return r;
}

std::optional<JobStatus> RedisJobStore::retry_dead(const std::string& job_id, std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back(job_id);
  auto reply = eval(kRetryDead, args);
  if (reply.is_nil()) return std::nullopt;
  return proto::parse_status(reply.str());
}

}  // namespace qg::sched::redis

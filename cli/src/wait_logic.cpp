#include "qg/cli/wait_logic.hpp"

#include <algorithm>
#include <iterator>

namespace qg::cli {

bool all_final(const std::vector<proto::Job>& jobs) {
  return std::all_of(jobs.begin(), jobs.end(), [](const proto::Job& j) { return proto::is_final(j.status); });
}

int wait_exit_code(const std::vector<proto::Job>& jobs, bool gave_up) {
  if (!all_final(jobs)) return gave_up ? exit_code::timeout : -1;
  bool all_passed =
      std::all_of(jobs.begin(), jobs.end(), [](const proto::Job& j) { return j.status == proto::JobStatus::passed; });
  return all_passed ? exit_code::ok : exit_code::failed;
}

std::string summarize(const std::vector<proto::Job>& jobs) {
  using proto::JobStatus;
  static const JobStatus order[] = {
      JobStatus::passed, JobStatus::failed,  JobStatus::timed_out,  JobStatus::error,    JobStatus::cancelled,
      JobStatus::dead,   JobStatus::running, JobStatus::installing, JobStatus::assigned, JobStatus::queued};
  std::string out;
  for (auto s : order) {
    auto n = std::count_if(jobs.begin(), jobs.end(), [&](const proto::Job& j) { return j.status == s; });
    if (n == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + std::string(proto::to_string(s));
  }
  return out.empty() ? "no jobs" : out;
}

std::string about(std::int64_t ms) {
  const std::int64_t s = (std::max<std::int64_t>(0, ms) + 500) / 1000;
  if (s < 10) return "under 10 s";
  if (s < 90) return std::to_string(s) + " s";
  const std::int64_t min = (s + 30) / 60;
  if (min < 90) return std::to_string(min) + " min";
  return std::to_string(min / 60) + " h " + std::to_string(min % 60) + " min";
}

std::string eta_phrase(const proto::StatusReply& reply) {
  if (reply.etas.empty()) return "";
  const std::uint64_t ahead = reply.queued_ahead.value_or(0);
  std::string out;
  if (ahead > 0) out = std::to_string(ahead) + " queued ahead, ";
  if (!reply.eta_ms) return out + "no estimate (no live worker for the target)";
  return out + (ahead > 0 ? "about " + about(*reply.eta_ms) : "about " + about(*reply.eta_ms) + " left");
}

void join_status(proto::StatusReply& all, proto::StatusReply&& batch) {
  const bool had_open = !all.etas.empty();
  std::move(batch.jobs.begin(), batch.jobs.end(), std::back_inserter(all.jobs));
  std::move(batch.missing.begin(), batch.missing.end(), std::back_inserter(all.missing));
  std::move(batch.expired.begin(), batch.expired.end(), std::back_inserter(all.expired));
  if (batch.etas.empty()) return;  // nothing open in this batch
  std::move(batch.etas.begin(), batch.etas.end(), std::back_inserter(all.etas));
  if (batch.queued_ahead)
    all.queued_ahead = std::min(all.queued_ahead.value_or(*batch.queued_ahead), *batch.queued_ahead);
  if (!batch.eta_ms || (had_open && !all.eta_ms)) {
    all.eta_ms.reset();
  } else {
    all.eta_ms = std::max(all.eta_ms.value_or(0), *batch.eta_ms);
  }
}

bool SeqTracker::observe(const std::string& source, std::uint64_t seq) {
  auto [it, inserted] = last_.emplace(source, seq);
  if (inserted) return false;
  return step(it->second, seq);
}

bool SeqTracker::observe_org(const std::string& source, const std::string& org_id, std::uint64_t org_seq) {
  if (org_seq == 0) return false;
  auto [it, inserted] = last_of_org_.emplace(std::make_pair(source, org_id), org_seq);
  if (inserted) return false;
  return step(it->second, org_seq);
}

bool SeqTracker::step(std::uint64_t& last, std::uint64_t seq) {
  bool gap = seq > last + 1;
  // A lower number means the source restarted its count: not a gap, but start again from it.
  last = seq;
  if (gap) ++gaps_;
  return gap;
}

}  // namespace qg::cli

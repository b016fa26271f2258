#include "qg/cli/wait_logic.hpp"

#include <algorithm>

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

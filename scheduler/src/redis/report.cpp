// RedisJobStore's transitions of the jobs a worker holds: reports (kReport), progress,
// lease renewal and release.

#include <algorithm>
#include <unordered_set>

#include "farm_stats.hpp"
#include "redis_job_store.hpp"

namespace qg::sched::redis {

ReportOutcome RedisJobStore::report(const proto::Report& r, std::int64_t now_ms) {
  return std::move(report_many(std::span<const proto::Report>(&r, 1), now_ms, true).at(0));
}

std::vector<ReportOutcome> RedisJobStore::report_many(std::span<const proto::Report> reports, std::int64_t now_ms,
                                                      bool with_jobs) {
  std::vector<ReportOutcome> out;
  if (reports.empty()) return out;
  auto args = base(now_ms);
  args.reserve(args.size() + 8 + detail::kMaxDelaySlots);
  args.push_back(std::to_string(reports.size()));
  // Back-off delays only for a batch that may need them (an infrastructure error retried
  // later): each argument costs the script a Lua string, and the others none.
  const bool errors = std::ranges::any_of(reports, [](const auto& r) { return r.status == proto::JobStatus::error; });
  if (errors) {
    args.push_back(std::to_string(detail::kMaxDelaySlots));
    push_delays(args);
  } else {
    args.emplace_back("0");
  }
  auto packed = pack_reports(reports);
  args.push_back(std::move(packed.keys));
  args.push_back(std::move(packed.rest));
  args.emplace_back(with_jobs ? "1" : "0");
  args.emplace_back(packed.repeats ? "1" : "0");
  std::string now_packed;
  PackTo to{&now_packed};
  msgpack::packer<PackTo>(to).pack_int64(now_ms);
  args.push_back(std::move(now_packed));
  args.push_back(quarantine_after_arg_);
  args.push_back(quarantine_cooldown_arg_);
  // Timing history: the reports' durations, the bound per org and the TTL ('' : none kept).
  if (settings_.timing_history_fields > 0) {
    args.push_back(std::move(packed.history));
    args.push_back(timing_fields_arg_);
    args.push_back(timing_ttl_arg_);
  } else {
    args.emplace_back();
  }
  // The specs, which never change, are read beside the script in the same round trip, so
  // that the script handles only the small states.
  std::vector<std::vector<std::string>> reads;
  if (with_jobs) {
    auto& specs = reads.emplace_back(std::vector<std::string>{"MGET"});
    specs.reserve(1 + reports.size());
    for (const auto& r : reports) specs.push_back(prefix_ + "j:" + r.job_id);
  }
  auto replies = eval_pipeline({{kReport, std::move(args)}}, std::move(reads));
  const auto& reply = replies.at(0);
  if (reply.is_error()) throw_reply_error(reply.str());
  if (with_jobs && replies.at(1).is_error()) throw_reply_error(replies[1].str());
  out.reserve(reports.size());
  // Without the jobs: a digit per report, then the reasons of those refused (see kReport).
  const std::string codes = with_jobs ? std::string() : reply[0].str();
  if (!with_jobs && codes.size() != reports.size()) throw StoreError("report: reply of the wrong size");
  std::size_t refused = 0;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto code = with_jobs ? reply[2 * i].integer() : codes[i] - '0';
    ReportOutcome o;
    o.accepted = code != 0;
    if (!o.accepted) {
      o.reason = with_jobs ? reply[2 * i + 1].str() : reply[1 + refused++].str();
    } else {
      o.requeued = code == 2;
      if (with_jobs) o.job = job_from_row(replies[1].array().at(i), reply[2 * i + 1]);
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The reports as kReport takes them (PackedReports).
RedisJobStore::PackedReports RedisJobStore::pack_reports(std::span<const proto::Report> reports) const {
  PackedReports out;
  out.keys.reserve(reports.size() * (prefix_.size() + 32));
  out.rest.reserve(reports.size() * 80);
  PackTo hto{&out.history};
  msgpack::packer<PackTo> h(hto);
  PackTo kto{&out.keys};
  msgpack::packer<PackTo> k(kto);
  PackTo to{&out.rest};
  msgpack::packer<PackTo> p(to);
  std::string outcome;
  PackTo oto{&outcome};
  msgpack::packer<PackTo> o(oto);
  std::unordered_set<std::string_view> seen;
  seen.reserve(reports.size());
  std::string key = prefix_ + "st:";
  const auto base_size = key.size();
  for (const auto& r : reports) {
    if (!seen.insert(r.job_id).second) out.repeats = true;
    key.resize(base_size);
    key += r.job_id;
    pack_str(k, key);
    pack_str(p, r.lease_id);
    p.pack_uint32(r.attempt);
    pack_str(p, proto::to_string(r.status));
    outcome.clear();
    o.pack_int32(r.exit_code);
    o.pack_int64(r.duration_ms);
    pack_str(o, r.status == proto::JobStatus::passed ? std::string_view() : std::string_view(r.error));
    pack_str(o, r.log_tail);
    pack_str(p, outcome);
    pack_str(p, r.worker_id);
    pack_stat_bins(p, r);
    const bool ran = r.status == proto::JobStatus::passed || r.status == proto::JobStatus::failed ||
                     r.status == proto::JobStatus::timed_out;
    h.pack_int64(ran ? std::max<std::int64_t>(0, r.duration_ms) : -1);
    h.pack_int64(r.install_ms ? std::max<std::int64_t>(0, *r.install_ms) : -1);
  }
  return out;
}

bool RedisJobStore::progress(const proto::Progress& p, std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back(p.job_id);
  args.push_back(p.lease_id);
  args.push_back(std::to_string(p.attempt));
  args.emplace_back(proto::to_string(p.status));
  args.push_back(p.worker_id);
  return eval(kProgress, args).integer() == 1;
}

bool RedisJobStore::renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) {
  return eval(kRenew, renew_args(worker_id, lease_id, now_ms)).integer() == 1;
}

std::vector<bool> RedisJobStore::renew_leases(std::span<const LeaseRenewal> renewals, std::int64_t now_ms) {
  std::vector<std::pair<ScriptId, std::vector<std::string>>> calls;
  calls.reserve(renewals.size());
  for (const auto& r : renewals) calls.emplace_back(kRenew, renew_args(r.worker_id, r.lease_id, now_ms));
  std::vector<bool> out;
  out.reserve(renewals.size());
  for (const auto& reply : eval_pipeline(calls)) out.push_back(reply.integer() == 1);
  return out;
}

std::vector<std::string> RedisJobStore::renew_args(const std::string& worker_id, const std::string& lease_id,
                                                   std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back(worker_id);
  args.push_back(lease_id);
  args.push_back(std::to_string(settings_.lease.count()));
  return args;
}

std::uint32_t RedisJobStore::release(const std::string& worker_id, const std::string& lease_id,
                                     std::span<const std::string> job_ids, std::int64_t now_ms) {
  auto args = base(now_ms);
  args.push_back(worker_id);
  args.push_back(lease_id);
  for (const auto& id : job_ids) args.push_back(id);
  return static_cast<std::uint32_t>(eval(kRelease, args).integer());
}

}  // namespace qg::sched::redis

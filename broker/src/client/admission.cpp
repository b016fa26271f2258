// Admission (admission.hpp): quota and token-bucket checks per org, O(1) per submit.
#include "admission.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "qg/proto/messages.hpp"

namespace qg::broker {

namespace {

// The quota's retry hint: between these, and this when no job was seen to leave the queue.
constexpr std::int64_t kQuotaRetryMinMs = 500;
constexpr std::int64_t kQuotaRetryMaxMs = 30000;
constexpr std::int64_t kQuotaRetryUnknownMs = 2000;

double burst_of(const RateLimit& r) { return r.burst > 0 ? r.burst : std::max(1.0, r.per_second); }

std::string jobs_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " job" : " jobs"); }

}  // namespace

Admission::Admission(QuotaSettings settings) : settings_(std::move(settings)), quotas_(settings_.any_quota()) {}

Admission::OrgState& Admission::state_of(std::string_view org, std::int64_t now_ms) {
  if (auto it = orgs_.find(org); it != orgs_.end()) return it->second;
  if (orgs_.size() >= forget_at_) {
    forget_idle(now_ms);
    forget_at_ = std::max<std::size_t>(4096, 2 * orgs_.size());
  }
  OrgState s;
  const auto limit = settings_.max_queued.find(org);
  s.limit = limit != settings_.max_queued.end() ? limit->second : settings_.default_max_queued;
  const auto rate = settings_.rates.find(org);
  s.rate = rate != settings_.rates.end() ? rate->second : settings_.default_rate;
  if (auto q = sample_.find(org); q != sample_.end()) s.queued = q->second;
  s.tokens = burst_of(s.rate);
  s.refilled_ms = now_ms;
  return orgs_.emplace(std::string(org), s).first->second;
}

void Admission::refill(OrgState& s, std::int64_t now_ms) const {
  if (now_ms > s.refilled_ms) {
    s.tokens =
        std::min(burst_of(s.rate), s.tokens + static_cast<double>(now_ms - s.refilled_ms) * s.rate.per_second / 1000.0);
  }
  s.refilled_ms = std::max(s.refilled_ms, now_ms);
}

std::optional<proto::Error> Admission::check_quota(const OrgState& s, std::uint64_t jobs) const {
  if (s.limit == 0 || s.queued + jobs <= s.limit) return std::nullopt;
  proto::Error e;
  e.code = std::string(proto::errc::quota_exceeded);
  e.queued = s.queued;
  e.limit = s.limit;
  if (jobs > s.limit) {
    // It would never fit: no retry can help.
    e.message =
        "a submission of " + jobs_text(jobs) + " is larger than the org's limit of " + jobs_text(s.limit) + " queued";
    return e;
  }
  e.message = "the org has " + jobs_text(s.queued) + " queued and a limit of " + std::to_string(s.limit) +
              "; this submission has " + std::to_string(jobs);
  std::int64_t wait = kQuotaRetryUnknownMs;
  if (s.drain_per_ms > 0) {
    const double excess = static_cast<double>(s.queued + jobs - s.limit);
    wait =
        std::clamp(static_cast<std::int64_t>(std::ceil(excess / s.drain_per_ms)), kQuotaRetryMinMs, kQuotaRetryMaxMs);
  }
  e.retry_after_ms = static_cast<std::uint64_t>(wait);
  return e;
}

std::optional<proto::Error> Admission::check_rate(const OrgState& s, std::uint64_t jobs) const {
  const double burst = burst_of(s.rate);
  const double need = std::min(static_cast<double>(jobs), burst);
  if (s.tokens >= need) return std::nullopt;
  proto::Error e;
  e.code = std::string(proto::errc::rate_limited);
  e.rate = s.rate.per_second;
  e.burst = static_cast<std::uint64_t>(burst);
  const double wait = std::ceil((need - s.tokens) * 1000.0 / s.rate.per_second);
  e.retry_after_ms = static_cast<std::uint64_t>(std::max(1.0, wait));
  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", s.rate.per_second);
  e.message =
      "the org may submit " + std::string(rate) + " jobs per second, " + jobs_text(e.burst.value()) + " at once";
  return e;
}

std::optional<proto::Error> Admission::admit(std::string_view org, std::uint64_t jobs, std::int64_t now_ms) {
  auto& s = state_of(org, now_ms);
  if (auto refused = check_quota(s, jobs)) return refused;
  if (s.rate.per_second > 0) {
    refill(s, now_ms);
    if (auto refused = check_rate(s, jobs)) return refused;
    s.tokens -= static_cast<double>(jobs);
  }
  if (s.limit > 0) {  // an org without a quota needs no count
    s.queued += jobs;
    s.admitted_since += jobs;
  }
  return std::nullopt;
}

bool Admission::sample_due(std::int64_t now_ms) const {
  return quotas_ && (!tried_ || now_ms - tried_ms_ >= settings_.sample_every.count() || now_ms < tried_ms_);
}

void Admission::sampled(std::map<std::string, std::uint64_t> queued, std::int64_t now_ms) {
  sample_.clear();
  for (auto& [org, n] : queued) sample_.emplace(org, n);
  const std::int64_t dt = ever_sampled_ ? now_ms - sampled_ms_ : 0;
  for (auto& [org, s] : orgs_) {
    const auto it = sample_.find(org);
    const std::uint64_t now_queued = it != sample_.end() ? it->second : 0;
    if (dt > 0) {
      // What left the queue since the last sample: what was counted less what is there now
      // (an underestimate while other brokers submit for the org too).
      const double left = s.queued > now_queued ? static_cast<double>(s.queued - now_queued) : 0.0;
      s.drain_per_ms = 0.5 * s.drain_per_ms + 0.5 * left / static_cast<double>(dt);
    }
    s.queued = now_queued;
    s.admitted_since = 0;
  }
  sampled_ms_ = now_ms;
  ever_sampled_ = true;
  tried_ms_ = now_ms;
  tried_ = true;
  forget_idle(now_ms);
}

void Admission::forget_idle(std::int64_t now_ms) {
  for (auto it = orgs_.begin(); it != orgs_.end();) {
    auto& s = it->second;
    if (s.rate.per_second > 0) refill(s, now_ms);
    const bool bucket_full = s.rate.per_second <= 0 || s.tokens >= burst_of(s.rate);
    if (s.queued == 0 && s.admitted_since == 0 && bucket_full) {
      it = orgs_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace qg::broker

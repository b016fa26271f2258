#pragma once
// Admission: whether an org may submit a batch of jobs now, under its quota of queued jobs and
// its submit rate (qg/broker/quotas.hpp). The broker asks it once per SUBMIT, before the
// submission is queued for the store; a refusal is answered at once and nothing of the
// submission is written.
//
// Cost: admit() is O(1) and makes no store call: one hash lookup of the org, a few
// arithmetic operations. The queued counts it checks quotas against are the store's
// (JobStore::queued_by_org), handed in by the caller through sampled() at most every
// QuotaSettings::sample_every (sample_due() says when), plus every job admitted since: after
// a sample a quota is exact for this broker's submissions and behind by what other brokers
// admitted since their last sample. Rates are token buckets kept here, one per org.
//
// Time is passed in (`now_ms`: a steady clock's milliseconds); nothing here reads a clock or
// sleeps. One thread at a time (the broker's loop).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "qg/broker/quotas.hpp"
#include "qg/proto/expected.hpp"

namespace qg::broker {

class Admission {
 public:
  explicit Admission(QuotaSettings settings);

  // Decides on `jobs` jobs of `org` at now_ms. Empty optional: admitted, and counted against
  // the org's quota and bucket. Otherwise the error to answer (nothing counted):
  //   QUOTA_EXCEEDED: queued + jobs would pass the org's limit. Carries queued, limit and, when
  //     the submission fits the limit at all, retry_after_ms: a hint, the time the org's queue
  //     takes to make room at the rate it was last seen to drain, within [0.5 s, 30 s]
  //     (2 s when no job was seen to leave it).
  //   RATE_LIMITED: the org's bucket holds fewer than min(jobs, burst) tokens. Carries rate,
  //     burst and retry_after_ms: when the bucket will hold that many. A submission larger
  //     than the burst is admitted when the bucket is full and leaves it in debt, so an org
  //     keeps to its rate on average whatever its submissions' sizes.
  // The quota is checked first: a submission refused for either consumes no tokens.
  std::optional<proto::Error> admit(std::string_view org, std::uint64_t jobs, std::int64_t now_ms);

  // True when a quota is set and the queued counts were last sampled (or tried) sample_every
  // or longer ago, or never.
  bool sample_due(std::int64_t now_ms) const;
  // The store's queued jobs per org (orgs with none absent), read at now_ms after every
  // submission admitted so far was applied to the store: the estimates start again from it.
  // Also forgets orgs with nothing queued whose bucket is full again.
  void sampled(std::map<std::string, std::uint64_t> queued, std::int64_t now_ms);
  // The sample could not be taken (store unreachable): the estimates stand; the next try
  // waits sample_every.
  void sample_failed(std::int64_t now_ms) {
    tried_ms_ = now_ms;
    tried_ = true;
  }

  // Orgs currently tracked (for tests: an org is forgotten once it has nothing to remember).
  std::size_t tracked_orgs() const { return orgs_.size(); }

 private:
  struct OrgState {
    std::uint64_t limit = 0;           // 0: no quota
    RateLimit rate{};                  // per_second 0: no rate
    std::uint64_t queued = 0;          // last sample + admitted since
    std::uint64_t admitted_since = 0;  // jobs admitted since the last sample
    double drain_per_ms = 0;           // jobs seen leaving the queue, smoothed; 0: none seen
    double tokens = 0;
    std::int64_t refilled_ms = 0;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  OrgState& state_of(std::string_view org, std::int64_t now_ms);
  void refill(OrgState& s, std::int64_t now_ms) const;
  std::optional<proto::Error> check_quota(const OrgState& s, std::uint64_t jobs) const;
  std::optional<proto::Error> check_rate(const OrgState& s, std::uint64_t jobs) const;
  // Removes the orgs with nothing to remember (no job counted, a full bucket).
  void forget_idle(std::int64_t now_ms);

  QuotaSettings settings_;
  bool quotas_ = false;  // some org has a quota: sampling is needed
  std::unordered_map<std::string, OrgState, Hash, std::equal_to<>> orgs_;
  std::map<std::string, std::uint64_t, std::less<>> sample_;  // the last sample
  std::int64_t sampled_ms_ = 0;                               // when it was taken
  bool ever_sampled_ = false;
  std::int64_t tried_ms_ = 0;  // the last sample taken or tried
  bool tried_ = false;
  std::size_t forget_at_ = 4096;  // without sampling, idle orgs are swept at this many
};

}  // namespace qg::broker

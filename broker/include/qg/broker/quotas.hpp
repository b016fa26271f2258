#pragma once
// Per-org quotas and submit rates of qg-broker (--org-max-queued, --org-submit-rate and their
// defaults for all orgs). A SUBMIT over either is refused whole with QUOTA_EXCEEDED or
// RATE_LIMITED (docs/protocol.md, section 9); the check is client/admission.hpp's.
//
// What they promise, and what not (docs/operations.md, "Quotas and rate limits"):
// - The queued count is the store's (JobStore::queued_by_org), sampled at most every
//   `sample_every`, plus what this broker admitted since. A quota can thus be overrun by what
//   other brokers admit within one sampling period; one broker alone never overruns it.
// - A rate is a token bucket per org in each broker: with n brokers an org may submit n times
//   the rate, unless each broker is given the org's rate divided by n.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace qg::broker {

// A token bucket: `per_second` jobs flow in, up to `burst` are held.
struct RateLimit {
  double per_second = 0;  // 0 = no limit
  double burst = 0;       // 0 = one second's worth (per_second, at least 1)
};

struct QuotaSettings {
  // Most jobs an org may have queued (waiting for a device, or backing off before a retry).
  // 0 = no limit. Orgs not in `max_queued` take the default; an entry of 0 exempts an org.
  std::uint64_t default_max_queued = 0;
  std::map<std::string, std::uint64_t, std::less<>> max_queued;
  // Jobs an org may submit per second through this broker; as above for the default.
  RateLimit default_rate{};
  std::map<std::string, RateLimit, std::less<>> rates;
  // How often the store's queued counts are read, at most (only while a quota is set).
  std::chrono::milliseconds sample_every{200};

  // Whether some org has a quota (the counts are then sampled) or a rate.
  bool any_quota() const {
    if (default_max_queued > 0) return true;
    for (const auto& [org, n] : max_queued) {
      if (n > 0) return true;
    }
    return false;
  }
  bool any_rate() const {
    if (default_rate.per_second > 0) return true;
    for (const auto& [org, r] : rates) {
      if (r.per_second > 0) return true;
    }
    return false;
  }
  bool any() const { return any_quota() || any_rate(); }
};

// Parsers of the flags' values. Each throws qg::ConfigError naming what is wrong.
// "ORG=N": an org id (the protocol's org_id rule) and a whole number.
std::pair<std::string, std::uint64_t> parse_org_max_queued(std::string_view text);
// "JOBS_PER_S[:BURST]": a rate (> 0, or 0 for none) and an optional burst (>= 1).
RateLimit parse_rate(std::string_view text);
// "ORG=JOBS_PER_S[:BURST]".
std::pair<std::string, RateLimit> parse_org_rate(std::string_view text);

}  // namespace qg::broker

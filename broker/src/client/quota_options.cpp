// The quota flags' parsers (quotas.hpp) and add_quota_options() (quota_options.hpp).
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <vector>

#include <boost/program_options.hpp>

#include "qg/broker/quota_options.hpp"
#include "qg/broker/quotas.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::broker {

namespace po = boost::program_options;

namespace {

// "ORG=REST" split at the first '=', the org checked by the protocol's rule.
std::pair<std::string, std::string_view> split_org(std::string_view text, std::string_view what) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    throw ConfigError("'" + std::string(text) + "' is not ORG=" + std::string(what));
  }
  const auto org = text.substr(0, eq);
  if (auto bad = proto::check_org_id(org)) {
    throw ConfigError("'" + std::string(org) + "' is not an org id: " + bad->message);
  }
  return {std::string(org), text.substr(eq + 1)};
}

template <class T>
T parse_number(std::string_view text, std::string_view what) {
  T value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw ConfigError("'" + std::string(text) + "' is not " + std::string(what));
  }
  return value;
}

}  // namespace

std::pair<std::string, std::uint64_t> parse_org_max_queued(std::string_view text) {
  auto [org, rest] = split_org(text, "N");
  return {std::move(org), parse_number<std::uint64_t>(rest, "a whole number of jobs")};
}

RateLimit parse_rate(std::string_view text) {
  RateLimit rate;
  const auto colon = text.find(':');
  rate.per_second = parse_number<double>(text.substr(0, colon), "a rate in jobs per second");
  if (!std::isfinite(rate.per_second) || rate.per_second < 0) {
    throw ConfigError("a rate must be 0 (none) or more jobs per second, not '" + std::string(text) + "'");
  }
  if (colon != std::string_view::npos) {
    const auto burst = parse_number<std::uint64_t>(text.substr(colon + 1), "a whole burst of jobs");
    if (burst < 1) throw ConfigError("a burst must be at least 1 job, not '" + std::string(text) + "'");
    rate.burst = static_cast<double>(burst);
  }
  return rate;
}

std::pair<std::string, RateLimit> parse_org_rate(std::string_view text) {
  auto [org, rest] = split_org(text, "JOBS_PER_S[:BURST]");
  return {std::move(org), parse_rate(rest)};
}

void add_quota_options(po::options_description& options, QuotaSettings& quotas) {
  // A ConfigError from a parser becomes a usage error naming the option.
  const auto usage = [](const char* name, auto&& parse) {
    try {
      parse();
    } catch (const ConfigError& e) {
      throw po::error(std::string("--") + name + ": " + e.what());
    }
  };
  options.add_options()(
      "org-max-queued",
      po::value<std::vector<std::string>>()->composing()->notifier([&quotas, usage](const std::vector<std::string>& v) {
        for (const auto& text : v) {
          usage("org-max-queued", [&] {
            auto [org, n] = parse_org_max_queued(text);
            quotas.max_queued.insert_or_assign(std::move(org), n);
          });
        }
      }),
      "ORG=N: the most jobs ORG may have queued (waiting for a device or for a retry); a SUBMIT "
      "past it is refused with QUOTA_EXCEEDED. Repeatable; N = 0 exempts ORG from the default")(
      "default-org-max-queued", po::value(&quotas.default_max_queued)->default_value(quotas.default_max_queued),
      "the same for every org not named by --org-max-queued; 0 = no limit")(
      "org-submit-rate",
      po::value<std::vector<std::string>>()->composing()->notifier([&quotas, usage](const std::vector<std::string>& v) {
        for (const auto& text : v) {
          usage("org-submit-rate", [&] {
            auto [org, rate] = parse_org_rate(text);
            quotas.rates.insert_or_assign(std::move(org), rate);
          });
        }
      }),
      "ORG=JOBS_PER_S[:BURST]: jobs ORG may submit per second through this broker, BURST at once "
      "(default one second's worth); a SUBMIT over it is refused with RATE_LIMITED. Repeatable; "
      "a rate of 0 exempts ORG from the default")(
      "default-org-submit-rate", po::value<std::string>()->notifier([&quotas, usage](const std::string& text) {
        usage("default-org-submit-rate", [&] { quotas.default_rate = parse_rate(text); });
      }),
      "JOBS_PER_S[:BURST] for every org not named by --org-submit-rate (default: no limit)");
}

}  // namespace qg::broker

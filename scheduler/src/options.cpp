#include "qg/scheduler/options.hpp"

#include <boost/program_options.hpp>

#include "qg/common/duration.hpp"
#include "qg/common/errors.hpp"

namespace qg::sched {

namespace po = boost::program_options;

void add_store_options(po::options_description& options, StoreOptions& v) {
  options.add_options()("group-window-ms", po::value(&v.group_window_ms)->default_value(v.group_window_ms),
                        "a group becomes claimable once its oldest job has waited this long (0 = at once)")(
      "group-max", po::value(&v.group_max)->default_value(v.group_max),
      "... or once it holds this many jobs; also the most jobs one worker claims at a time")(
      "lease-ms", po::value(&v.lease_ms)->default_value(v.lease_ms),
      "a claimed group whose worker sends nothing for this long is requeued")(
      "max-attempts", po::value(&v.max_attempts)->default_value(v.max_attempts),
      "infrastructure failures (install failed, worker lost) are retried until this many attempts")(
      "backoff-base-ms", po::value(&v.backoff_base_ms)->default_value(v.backoff_base_ms),
      "first retry delay after an infrastructure failure")(
      "backoff-factor", po::value(&v.backoff_factor)->default_value(v.backoff_factor),
      "each further retry waits this many times longer")(
      "backoff-cap-ms", po::value(&v.backoff_cap_ms)->default_value(v.backoff_cap_ms), "longest retry delay")(
      "backoff-jitter", po::value(&v.backoff_jitter)->default_value(v.backoff_jitter),
      "random spread of retry delays, as a fraction (0.2 = +-20%)")(
      "org-tier", po::value(&v.org_tiers)->composing(),
      "ORG=premium|enterprise|standard; repeatable. Premium goes before enterprise, enterprise before standard "
      "(head starts of 60 and 30 min); unlisted orgs are standard")(
      "org-weight", po::value(&v.org_weights)->composing(),
      "ORG=W (W > 0); repeatable. Orgs of one tier share the devices in proportion to their weights while "
      "each has work queued; unlisted orgs weigh 1")(
      "fair-share-slack", po::value(&v.fair_share_slack)->default_value(v.fair_share_slack),
      "fair share may run a group of an org below its share before better-ranked groups of its tier by at most "
      "this much rank (30s, 15m, 2h); 0s = rank order only")(
      "quarantine-after", po::value(&v.quarantine_after)->default_value(v.quarantine_after),
      "a worker whose groups end in this many infrastructure failures in a row (install failed, device error) "
      "is quarantined: it gets no work until --quarantine-cooldown has passed, then one job as a probe; "
      "0 = never")("quarantine-cooldown", po::value(&v.quarantine_cooldown)->default_value(v.quarantine_cooldown),
                   "how long a quarantined worker waits before each probe (30s, 15m, 12h, 7d)")(
      "timing-history-fields", po::value(&v.timing_history_fields)->default_value(v.timing_history_fields),
      "the most summaries of test and install durations kept per org for estimates (STATUS's eta_ms); the "
      "least recently written goes first; 0 = keep none")(
      "key-prefix", po::value(&v.key_prefix)->default_value(v.key_prefix), "prefix of every Redis key")(
      "redis-min-replicas", po::value(&v.redis_min_replicas)->default_value(v.redis_min_replicas),
      "acknowledge a SUBMIT only once Redis's WAIT says this many replicas have it; fewer within "
      "--redis-min-replicas-timeout fails the submit with STORE_UNAVAILABLE (the client retries with its "
      "idempotency key). 0 = once the primary has it. Only brokers acknowledge submits")(
      "redis-min-replicas-timeout",
      po::value(&v.redis_min_replicas_timeout)->default_value(v.redis_min_replicas_timeout),
      "how long a submit waits for --redis-min-replicas replicas: 500ms, 2s, … (1ms to 1m)")(
      "retention", po::value(&v.retention)->default_value(v.retention),
      "finished jobs (passed, failed, timed_out, cancelled, error) are deleted this long after they finished, "
      "with their index entries and idempotency keys: 30s, 15m, 12h, 7d; 'off' keeps them for ever. The "
      "scheduler deletes them (the broker's embedded one for --store memory) and announces it to the brokers, "
      "which then answer a deleted job's STATUS as expired")(
      "dead-retention", po::value(&v.dead_retention)->default_value(v.dead_retention),
      "dead-lettered jobs are deleted this long after they died (same forms; 'off' keeps them)");
}

void add_registry_options(po::options_description& options, RegistryOptions& v) {
  options.add_options()(
      "forget-workers-after", po::value(&v.forget_workers_after)->default_value(v.forget_workers_after),
      "a worker not heard from for this long (30s, 15m, 12h, 7d) is taken off `qgjob workers` (still shown by "
      "`qgjob workers --all`, as forgotten, for 7 days); it shows `lost` from three heartbeats of silence on. "
      "0 = never");
}

std::chrono::milliseconds RegistryOptions::forget_after() const {
  return *duration_option("--forget-workers-after", forget_workers_after);
}

StoreSettings StoreOptions::apply() const {
  StoreSettings s;
  auto positive = [](long value, const char* name) {
    if (value < 0) throw ConfigError(std::string("--") + name + " must not be negative");
    return std::chrono::milliseconds(value);
  };
  s.group_window = positive(group_window_ms, "group-window-ms");
  if (group_max == 0 || group_max > 10000) throw ConfigError("--group-max must be 1..10000");
  s.group_max = group_max;
  s.lease = positive(lease_ms, "lease-ms");
  if (s.lease.count() < 100) throw ConfigError("--lease-ms must be at least 100");
  if (max_attempts == 0 || max_attempts > 20) throw ConfigError("--max-attempts must be 1..20");
  s.default_max_attempts = max_attempts;
  s.backoff.base = positive(backoff_base_ms, "backoff-base-ms");
  if (backoff_factor < 1.0) throw ConfigError("--backoff-factor must be at least 1");
  s.backoff.factor = backoff_factor;
  s.backoff.cap = positive(backoff_cap_ms, "backoff-cap-ms");
  if (backoff_jitter < 0 || backoff_jitter > 1) throw ConfigError("--backoff-jitter must be 0..1");
  s.backoff.jitter = backoff_jitter;
  if (key_prefix.empty()) throw ConfigError("--key-prefix must not be empty");
  s.key_prefix = key_prefix;
  if (redis_min_replicas > 100) throw ConfigError("--redis-min-replicas must be 0..100");
  s.min_replicas = redis_min_replicas;
  // WAIT takes 0 as "for ever", which would stall the broker behind a missing replica.
  s.min_replicas_timeout = *duration_option("--redis-min-replicas-timeout", redis_min_replicas_timeout);
  if (s.min_replicas_timeout.count() < 1 || s.min_replicas_timeout > std::chrono::minutes(1)) {
    throw ConfigError("--redis-min-replicas-timeout must be 1ms to 1m");
  }
  auto keep = [](const char* option, const std::string& text) {
    auto d = duration_option(option, text, "off");
    if (d && d->count() < 1000) throw ConfigError(std::string(option) + " must be at least 1s (or 'off')");
    return d;
  };
  s.retention = keep("--retention", retention);
  s.dead_retention = keep("--dead-retention", dead_retention);
  for (const auto& entry : org_tiers) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError("--org-tier takes ORG=TIER, got '" + entry + "'");
    auto org = entry.substr(0, eq);
    auto tier = entry.substr(eq + 1);
    if (tier == "standard") {
      s.org_tiers[org] = OrgTier::standard;
    } else if (tier == "premium") {
      s.org_tiers[org] = OrgTier::premium;
    } else if (tier == "enterprise") {
      s.org_tiers[org] = OrgTier::enterprise;
    } else {
      throw ConfigError("--org-tier: unknown tier '" + tier + "' (standard, premium, enterprise)");
    }
  }
  for (const auto& entry : org_weights) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError("--org-weight takes ORG=W, got '" + entry + "'");
    double weight = 0;
    try {
      std::size_t used = 0;
      weight = std::stod(entry.substr(eq + 1), &used);
      if (used != entry.size() - eq - 1) weight = 0;
    } catch (const std::exception&) {
      weight = 0;
    }
    if (!(weight > 0 && weight <= 1e6))
      throw ConfigError("--org-weight: W must be a number in (0, 1000000], got '" + entry + "'");
    s.org_weights[entry.substr(0, eq)] = weight;
  }
  s.fair_share_slack = *duration_option("--fair-share-slack", fair_share_slack);
  if (quarantine_after > 1000) throw ConfigError("--quarantine-after must be 0..1000");
  s.quarantine_after = quarantine_after;
  s.quarantine_cooldown = *duration_option("--quarantine-cooldown", quarantine_cooldown);
  if (s.quarantine_cooldown.count() < 1) throw ConfigError("--quarantine-cooldown must be at least 1ms");
  if (timing_history_fields > 10'000'000) throw ConfigError("--timing-history-fields must be 0..10000000");
  s.timing_history_fields = timing_history_fields;
  return s;
}

}  // namespace qg::sched

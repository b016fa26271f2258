#pragma once
// Command-line options shared by qg-broker and qg-scheduler for the store's behaviour
// (batching, leases, retries, ranking). For mains only.

#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>

#include "qg/scheduler/job_store.hpp"

namespace qg::sched {

// Raw values bound to the options; apply() turns them into StoreSettings.
struct StoreOptions {
  long group_window_ms = 0;
  unsigned group_max = 50;
  long lease_ms = 10000;
  unsigned max_attempts = 3;
  long backoff_base_ms = 1000;
  double backoff_factor = 2.0;
  long backoff_cap_ms = 60000;
  double backoff_jitter = 0.2;
  std::vector<std::string> org_tiers;  // "org=premium"
  std::vector<std::string> org_weights;  // "org=2"
  std::string fair_share_slack = "10m";
  unsigned quarantine_after = 3;
  std::string quarantine_cooldown = "10m";
  std::string key_prefix = "qg:";
  unsigned redis_min_replicas = 0;
  long redis_min_replicas_timeout_ms = 1000;

  // Throws qg::ConfigError naming the option on a bad value.
  StoreSettings apply() const;
};

void add_store_options(boost::program_options::options_description& options, StoreOptions& values);

}  // namespace qg::sched

#pragma once
// Command-line options shared by qg-broker and qg-scheduler for the store's behaviour
// (batching, leases, retries, ranking). For mains only.

#include <chrono>
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
  std::vector<std::string> org_tiers;    // "org=premium"
  std::vector<std::string> org_weights;  // "org=2"
  std::string fair_share_slack = "10m";
  unsigned quarantine_after = 3;
  std::string quarantine_cooldown = "10m";
  unsigned timing_history_fields = 10000;  // per org; 0 = no timing history
  std::string key_prefix = "qg:";
  unsigned redis_min_replicas = 0;
  std::string redis_min_replicas_timeout = "1s";
  std::string retention = "7d";        // finished jobs; "off": kept for ever
  std::string dead_retention = "30d";  // dead jobs; "off": kept for ever

  // Throws qg::ConfigError naming the option on a bad value.
  StoreSettings apply() const;
};

void add_store_options(boost::program_options::options_description& options, StoreOptions& values);

// The worker registry's upkeep (--forget-workers-after), for qg-scheduler and for qg-broker's
// embedded scheduler and its own records.
struct RegistryOptions {
  std::string forget_workers_after = "10m";

  // Throws qg::ConfigError naming the option on a bad value.
  std::chrono::milliseconds forget_after() const;
};

void add_registry_options(boost::program_options::options_description& options, RegistryOptions& values);

}  // namespace qg::sched

#pragma once
// The grouping bench's farm scenarios beside its main workload: ETA accuracy (each job's ETA
// at submit against its real finish, after a warm-up run that fills the timing history), fair share between two orgs
// of one tier (one submitting 20 times the other's jobs), and a flaky device (installs fail
// 80 % of the time) with and without quarantine. Real qg-broker, qg-scheduler and qg-worker
// processes with `sleep` stand-ins, as the main workload.

#include <string>

#include "harness/bench.hpp"

namespace qg::bench {

// Prints one table per scenario and records its figures (qg.eta.*, qg.fairness.*, qg.flaky.*).
void run_farm_scenarios(const std::string& redis_url, bool quick);

}  // namespace qg::bench

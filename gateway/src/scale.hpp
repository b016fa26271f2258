#pragma once
// Scale recommendations: per target, how many devices would finish the queued work within the
// drain target, against how many are live. A pure function of what QUEUE, WORKERS and LIST
// report, so it is tested without a broker.
//
// The estimate, per target:
//   work    = queued jobs x test time + queued groups x install time
//             (a group is installed once on the device that takes it)
//   needed  = ceil(work / drain target), at most one device per queued job, and never fewer
//             than the devices busy now (their work is under way)
//   change  = needed - live devices (not lost) serving the target; negative: that many idle
//             devices could go.
// Test and install times are measured, from STATS' farm figures of the target (the last hour,
// or the last day when the hour has none): the p50 of each (org, target), weighted across orgs
// by their runs (tests) and installs. Without STATS figures, the test time is the median of
// recently finished jobs (LIST), and failing that, as the install time, an assumed figure.
// A device serving several targets is counted for each. The reasoning is given as text with
// the numbers and says which figures were measured.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::gateway {

struct ScaleInputs {
  std::vector<proto::GroupInfo> groups;  // the queued groups
  bool queue_complete = true;            // false: more groups than were read
  std::vector<proto::WorkerInfo> workers;
  std::map<proto::Target, std::vector<std::int64_t>> recent_test_ms;  // finished jobs' durations
  std::vector<proto::FarmStat> farm;                                  // STATS' farm figures
  std::chrono::milliseconds drain_target{15 * 60 * 1000};
  std::chrono::milliseconds assumed_test{60000};
  std::chrono::milliseconds assumed_install{60000};
};

struct ScaleRecommendation {
  proto::Target target = proto::Target::emulator;
  std::uint64_t queued_jobs = 0;
  std::uint64_t queued_groups = 0;
  std::uint64_t live_workers = 0;
  std::uint64_t busy_workers = 0;
  std::int64_t test_ms = 0;
  bool test_ms_measured = false;  // from finished jobs (false: the assumed figure)
  std::uint64_t test_samples = 0;
  std::int64_t install_ms = 0;
  bool test_from_stats = false;      // test_ms is STATS' p50 (else LIST's median or assumed)
  bool install_ms_measured = false;  // from STATS (false: the assumed figure)
  std::uint64_t install_samples = 0;
  std::string measured_window;  // "hour" or "day" when STATS' figures were used
  std::int64_t work_ms = 0;
  std::uint64_t needed_workers = 0;
  std::int64_t change = 0;  // + add devices, - remove idle ones
  std::string reasoning;
};

// One recommendation per target (all three, in enum order).
std::vector<ScaleRecommendation> recommend_scale(const ScaleInputs& in);

}  // namespace qg::gateway

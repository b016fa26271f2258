#pragma once
// Retention of the worker's own per-job logs (<workdir>/logs/*.log): files last written
// longer ago than the retention are deleted, a bounded number per call, so a worker that runs
// for months keeps a bounded disk footprint. Run by the worker at start and every minute.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace qg::worker {

struct LogPrune {
  std::size_t deleted = 0;
  bool more = false;  // stopped at `max`: call again
};

// Deletes up to `max` regular files named *.log directly in `dir` whose last write is at or
// before `now_ms - keep` (unix ms). A missing directory is nothing to do; a file that cannot
// be read or deleted is skipped (never thrown): logs are the worker's convenience, not its job.
LogPrune prune_logs(const std::string& dir, std::chrono::milliseconds keep, std::int64_t now_ms, std::size_t max);

}  // namespace qg::worker

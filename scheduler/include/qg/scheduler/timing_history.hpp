#pragma once
// Timing history: how long each test and each install took lately, per org, so that the
// broker can say when queued work will finish (qg/scheduler/eta.hpp). Both stores keep it
// alike and write it where reports are accepted (JobStore::report):
//
//   - per (org, target, test path): a test's durations (reports passed, failed, timed_out);
//   - per (org, target): every test's durations, the fallback for a test never seen;
//   - per (org, app build, device): an install's durations (REPORT's install_ms);
//   - per (org, target, app build) on any device, and per (org, target) for any build.
//
// Each key keeps a fixed-size summary (Summary): an exponentially weighted mean (weight 1/n
// for the first `span` samples, then 1/span: 5 for one test or one build's installs on one
// device, which follow a change within a few runs; 100 for the fields that mix many tests or
// builds, T, I and N, so that their mean is the recent average, not the last few), streaming estimates of the median
// and the 90th percentile, the number of samples and when it was last written. An org's summaries are one hash of
// fields (Redis: <p>th:<org>) holding at most StoreSettings::timing_history_fields; a write past that evicts the field
// written longest ago (Redis: the oldest of a random sample of kEvictionSample fields, as Redis's own LRU
// approximates). A summary not written for the store's retention of finished jobs counts as absent, and the whole hash
// expires after it (Redis: PEXPIRE on every write).
//
// The Lua twin of update() is in scheduler/lua/report.lua: both compute in doubles and round
// half up, so the stores agree to the millisecond.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "qg/proto/messages.hpp"

namespace qg::sched::timing {

struct Summary {
  std::int64_t mean_ms = 0;
  std::int64_t p50_ms = 0;
  std::int64_t p90_ms = 0;
  std::uint32_t samples = 0;  // at most kMaxSamples
  std::int64_t seen_s = 0;    // unix seconds of the last write

  friend bool operator==(const Summary&, const Summary&) = default;
};

inline constexpr std::uint32_t kMaxSamples = 1'000'000;
inline constexpr int kEvictionSample = 16;

// Field names inside an org's hash.
std::string test_field(proto::Target target, std::string_view test_path);     // "t|<target>|<path>"
std::string tests_field(proto::Target target);                                // "T|<target>"
std::string install_field(std::string_view app, std::string_view worker);     // "i|<app>|<worker>"
std::string build_install_field(proto::Target target, std::string_view app);  // "I|<target>|<app>"
std::string installs_field(proto::Target target);                             // "N|<target>"

// The weighted mean's span of a field (see above): 100 for T, I and N fields, else 5.
std::uint32_t mean_span(std::string_view field);
// The summary after one more sample of `sample_ms` (negative samples count as 0).
Summary update(const std::optional<Summary>& before, std::int64_t sample_ms, std::int64_t now_ms,
               std::uint32_t span = 5);

// "<mean> <p50> <p90> <samples> <seen_s>", as both stores hold it.
std::string encode(const Summary& s);
// Empty optional for anything but that form.
std::optional<Summary> decode(std::string_view text);

// Whether a summary written last at s.seen_s has outlived `retention` at `now_ms` (never
// without retention).
bool expired(const Summary& s, std::int64_t now_ms, const std::optional<std::chrono::milliseconds>& retention);

// One field of one org, for JobStore::timing.
struct Key {
  std::string org_id;
  std::string field;
};

}  // namespace qg::sched::timing

#pragma once
// Figures made from the event stream the gateway follows (JOB and WORKER events), for /metrics:
// jobs submitted and finished by org, target and status; per target, histograms of test
// duration (running -> final), install duration (a device's first job of a build: claimed ->
// running) and the wait from submit to start (first queued -> running); installs and tests
// started, whose ratio is the tests run per install.
//
// Events are hints (docs/protocol.md 8.3): a lost event loses an observation, never more. The
// per-job and per-device state kept to pair events is bounded (kMaxTracked entries each); past
// it the oldest half is forgotten and counted. Thread-safe: the feed thread observes, scrapes read.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "prometheus_text.hpp"
#include "qg/proto/messages.hpp"

namespace qg::gateway {

class JobFlow {
 public:
  static constexpr std::size_t kMaxTracked = 200000;

  void observe(const proto::JobEvent& e);
  void observe(const proto::WorkerEvent& e);

  // Appends the families to `out`.
  void write(PromText& out) const;

 private:
  struct PerTarget {
    Histogram test_seconds{duration_buckets()};
    Histogram install_seconds{duration_buckets()};
    Histogram wait_seconds{duration_buckets()};
    std::uint64_t installs = 0;
    std::uint64_t tests_started = 0;
  };
  struct Session {  // a device's current build: installed once, then its tests
    std::string build;
    std::int64_t claimed_ms = 0;
    bool installed = false;
  };
  PerTarget& target(const std::string& name);
  template <class Map>
  void bound(Map& m);

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> submitted_;               // (org, target)
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> finished_;  // (org, target, status)
  std::map<std::string, PerTarget> targets_;
  std::unordered_map<std::string, std::int64_t> queued_at_;   // job -> first queued event
  std::unordered_map<std::string, std::int64_t> running_at_;  // job -> running event
  std::unordered_map<std::string, Session> sessions_;         // worker -> its build
  // "<job>/<attempt>" seen final: a final state is published by the worker and again by the broker.
  std::unordered_set<std::string> final_seen_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace qg::gateway

#pragma once
// Prometheus's text exposition format (version 0.0.4), written by hand: the gateway's figures are
// mostly read from the brokers at scrape time, so a client library's registry would have to be
// emptied and refilled on every scrape; a writer and a histogram type are all that is needed.
//
// PromText writes families in the order given: `family()` once (HELP and TYPE), then its samples.
// Label values are escaped (backslash, double quote, newline); names are the caller's constants.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace qg::gateway {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Cumulative buckets as Prometheus reads them; `counts[i]` are observations <= bounds[i] (not
// cumulative here: the writer sums them), the last one past every bound (+Inf).
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;  // bounds.size() + 1
  double sum = 0;
  std::uint64_t count = 0;
};

// A histogram with fixed upper bounds (seconds, or whatever unit the name says). Thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  HistogramSnapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  HistogramSnapshot data_;
};

// Bounds for durations in seconds: 5 ms .. 1 h.
std::vector<double> duration_buckets();
// Bounds for the gateway's broker requests in seconds: 0.1 ms .. 5 s.
std::vector<double> latency_buckets();

class PromText {
 public:
  // type: "counter", "gauge" or "histogram".
  void family(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name, const Labels& labels, double value);
  // _bucket, _sum and _count samples of `name`.
  void histogram(const std::string& name, const Labels& labels, const HistogramSnapshot& h);
  const std::string& text() const { return out_; }

 private:
  void labels(const Labels& labels, const std::string* le);
  std::string out_;
};

// The value of a label as the format wants it (\\, \", \n escaped).
std::string escape_label_value(const std::string& value);

}  // namespace qg::gateway

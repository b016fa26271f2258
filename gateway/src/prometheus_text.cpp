// The Prometheus text format; the contract is in prometheus_text.hpp.
#include "prometheus_text.hpp"

#include <cmath>
#include <cstdio>

namespace qg::gateway {

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<std::int64_t>(v));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) {
  data_.bounds = std::move(bounds);
  data_.counts.assign(data_.bounds.size() + 1, 0);
}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < data_.bounds.size() && value > data_.bounds[i]) ++i;
  std::lock_guard lock(mutex_);
  ++data_.counts[i];
  data_.sum += value;
  ++data_.count;
}

HistogramSnapshot Histogram::snapshot() const {
  std::lock_guard lock(mutex_);
  return data_;
}

std::vector<double> duration_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void PromText::family(const std::string& name, const std::string& type, const std::string& help) {
  out_ += "# HELP " + name + " ";
  for (char c : help) out_ += c == '\n' ? ' ' : c;
  out_ += "\n# TYPE " + name + " " + type + "\n";
}

void PromText::labels(const Labels& labels, const std::string* le) {
  if (labels.empty() && le == nullptr) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k + "=\"" + escape_label_value(v) + '"';
  }
  if (le != nullptr) out_ += std::string(first ? "" : ",") + "le=\"" + *le + '"';
  out_ += '}';
}

void PromText::sample(const std::string& name, const Labels& l, double value) {
  out_ += name;
  labels(l, nullptr);
  out_ += ' ' + number(value) + '\n';
}

void PromText::histogram(const std::string& name, const Labels& l, const HistogramSnapshot& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    const std::string le = i < h.bounds.size() ? number(h.bounds[i]) : "+Inf";
    out_ += name + "_bucket";
    labels(l, &le);
    out_ += ' ' + std::to_string(cumulative) + '\n';
  }
  out_ += name + "_sum";
  labels(l, nullptr);
  out_ += ' ' + number(h.sum) + '\n';
  out_ += name + "_count";
  labels(l, nullptr);
  out_ += ' ' + std::to_string(h.count) + '\n';
}

}  // namespace qg::gateway

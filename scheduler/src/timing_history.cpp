// Timing history's summaries (qg/scheduler/timing_history.hpp), shared by the memory store
// and the broker's estimates; report.lua computes update() alike.

#include "qg/scheduler/timing_history.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace qg::sched::timing {
namespace {

std::string join(char kind, std::string_view a, std::string_view b = {}, bool two = false) {
  std::string f;
  f.reserve(3 + a.size() + b.size());
  f += kind;
  f += '|';
  f += a;
  if (two) {
    f += '|';
    f += b;
  }
  return f;
}

std::int64_t round_half_up(double v) { return static_cast<std::int64_t>(std::floor(v + 0.5)); }

// A quantile estimate moved one step toward a sample: up by `up` steps when the sample is
// above it, down by one when below; its fixed point is where up * P(above) = P(below), the
// (up / (up + 1))-quantile.
std::int64_t nudge(std::int64_t estimate, std::int64_t sample, std::int64_t step, std::int64_t up) {
  if (sample > estimate) return estimate + up * step;
  if (sample < estimate) return std::max<std::int64_t>(0, estimate - step);
  return estimate;
}

}  // namespace

std::string test_field(proto::Target target, std::string_view test_path) {
  return join('t', proto::to_string(target), test_path, true);
}
std::string tests_field(proto::Target target) { return join('T', proto::to_string(target)); }
std::string install_field(std::string_view app, std::string_view worker) { return join('i', app, worker, true); }
std::string build_install_field(proto::Target target, std::string_view app) {
  return join('I', proto::to_string(target), app, true);
}
std::string installs_field(proto::Target target) { return join('N', proto::to_string(target)); }

std::uint32_t mean_span(std::string_view field) {
  return !field.empty() && (field[0] == 'T' || field[0] == 'I' || field[0] == 'N') ? 100 : 5;
}

Summary update(const std::optional<Summary>& before, std::int64_t sample_ms, std::int64_t now_ms, std::uint32_t span) {
  const std::int64_t x = std::max<std::int64_t>(0, sample_ms);
  Summary s;
  s.seen_s = now_ms / 1000;
  if (!before || before->samples == 0) {
    s.mean_ms = s.p50_ms = s.p90_ms = x;
    s.samples = 1;
    return s;
  }
  s.samples = std::min(before->samples + 1, kMaxSamples);
  const double weight = std::min<double>(s.samples, std::max<std::uint32_t>(1, span));
  s.mean_ms = round_half_up(static_cast<double>(before->mean_ms) + static_cast<double>(x - before->mean_ms) / weight);
  // The quantiles move by a sixteenth of the mean per sample (at least 1 ms).
  const std::int64_t step = std::max<std::int64_t>(1, round_half_up(static_cast<double>(s.mean_ms) / 16));
  s.p50_ms = nudge(before->p50_ms, x, step, 1);
  s.p90_ms = nudge(before->p90_ms, x, step, 9);
  return s;
}

std::string encode(const Summary& s) {
  return std::to_string(s.mean_ms) + ' ' + std::to_string(s.p50_ms) + ' ' + std::to_string(s.p90_ms) + ' ' +
         std::to_string(s.samples) + ' ' + std::to_string(s.seen_s);
}

std::optional<Summary> decode(std::string_view text) {
  Summary s;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  auto field = [&](auto& out, bool last) {
    auto [next, ec] = std::from_chars(p, end, out);
    if (ec != std::errc() || (last ? next != end : (next == end || *next != ' '))) return false;
    p = last ? next : next + 1;
    return true;
  };
  if (!field(s.mean_ms, false) || !field(s.p50_ms, false) || !field(s.p90_ms, false) || !field(s.samples, false) ||
      !field(s.seen_s, true)) {
    return std::nullopt;
  }
  return s;
}

bool expired(const Summary& s, std::int64_t now_ms, const std::optional<std::chrono::milliseconds>& retention) {
  return retention && s.seen_s * 1000 + retention->count() <= now_ms;
}

}  // namespace qg::sched::timing

#include "qg/common/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

#include "qg/common/errors.hpp"

namespace qg {

namespace {
// Units, largest first (format_duration picks the first that divides exactly).
constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> kUnits{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}}};
}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what) {
  auto fail = [&]() -> ConfigError {
    return ConfigError(std::string(what) + ": '" + std::string(text) +
                       "' is not a duration (a whole number and ms, s, m, h or d: 30s, 15m, 12h, 7d)");
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 18) throw fail();
  std::int64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  const std::string_view unit = text.substr(digits);
  for (const auto& [name, ms] : kUnits) {
    if (unit != name) continue;
    if (value > std::numeric_limits<std::int64_t>::max() / ms) throw fail();
    return std::chrono::milliseconds(value * ms);
  }
  throw fail();
}

std::string format_duration(std::chrono::milliseconds d) {
  const std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (const auto& [name, unit] : kUnits) {
    if (ms % unit == 0) return std::to_string(ms / unit) + std::string(name);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace qg

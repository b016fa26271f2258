#include "qg/common/duration.hpp"

#include <array>
#include <cstdint>
#include <utility>

#include "qg/common/errors.hpp"

namespace qg {

namespace {

// Units, largest first (format_duration_option picks the largest that divides exactly).
constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> kUnits = {{
    {"d", 24LL * 60 * 60 * 1000},
    {"h", 60LL * 60 * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
}};

constexpr std::int64_t kLongestMs = 100LL * 365 * 24 * 60 * 60 * 1000;

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view option) {
  auto refuse = [&]() -> ConfigError {
    return ConfigError(std::string(option) + ": '" + std::string(text) +
                       "' is not a duration (a whole number and a unit: 500ms, 30s, 15m, 12h, 7d; or 0)");
  };
  if (text == "0") return std::chrono::milliseconds(0);
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  // At most 12 digits: no overflow below, and anything longer is over the limit anyway.
  if (digits == 0 || digits > 12) throw refuse();
  std::int64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  const auto unit = text.substr(digits);
  for (const auto& [name, ms] : kUnits) {
    if (unit != name) continue;
    if (value > kLongestMs / ms) {
      throw ConfigError(std::string(option) + ": '" + std::string(text) + "' is over 100 years");
    }
    return std::chrono::milliseconds(value * ms);
  }
  throw refuse();
}

std::string format_duration_option(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  for (const auto& [name, unit] : kUnits) {
    if (ms % unit == 0) return std::to_string(ms / unit) + std::string(name);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace qg

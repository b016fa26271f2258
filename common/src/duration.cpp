#include "qg/common/duration.hpp"

#include <array>
#include <cstdint>
#include <utility>

#include "qg/common/errors.hpp"

namespace qg {
namespace {

constexpr std::int64_t kMaxMs = 100LL * 365 * 24 * 3600 * 1000;

struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Longest first, so format_duration picks the largest unit that divides evenly.
constexpr std::array<Unit, 5> kUnits{{{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}}};

}  // namespace

DurationParse parse_duration(std::string_view text) {
  const std::string shown = "'" + std::string(text.substr(0, 40)) + (text.size() > 40 ? "...'" : "'");
  if (text == "0") return {std::chrono::milliseconds(0), {}};
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0)
    return {std::nullopt, shown + " is not a duration: write a whole number and a unit, e.g. 30s, 15m, 12h, 7d"};
  const std::string_view unit = text.substr(digits);
  const Unit* found = nullptr;
  for (const auto& u : kUnits) {
    if (u.name == unit) found = &u;
  }
  if (found == nullptr) {
    return {std::nullopt,
            shown + (unit.empty() ? " has no unit" : " has an unknown unit") + " (ms, s, m, h or d, e.g. 30s, 7d)"};
  }
  if (digits > 15) return {std::nullopt, shown + " is too long (at most 100 years)"};
  std::int64_t n = 0;
  for (std::size_t i = 0; i < digits; ++i) n = n * 10 + (text[i] - '0');
  if (n > kMaxMs / found->ms) return {std::nullopt, shown + " is too long (at most 100 years)"};
  return {std::chrono::milliseconds(n * found->ms), {}};
}

std::optional<std::chrono::milliseconds> duration_option(std::string_view option, std::string_view text,
                                                         std::string_view off_word) {
  if (!off_word.empty() && text == off_word) return std::nullopt;
  auto parsed = parse_duration(text);
  if (!parsed.value) {
    std::string hint = off_word.empty() ? "" : " or '" + std::string(off_word) + "'";
    throw ConfigError(std::string(option) + ": " + parsed.error + hint);
  }
  return parsed.value;
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  for (const auto& u : kUnits) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + std::string(u.name);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace qg

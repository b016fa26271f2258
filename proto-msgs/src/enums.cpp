#include <array>

#include "qg/proto/messages.hpp"

namespace qg::proto {

namespace {
constexpr std::array<std::string_view, 3> kPriorities = {"low", "medium", "high"};
constexpr std::array<std::string_view, 3> kTargets = {"emulator", "device", "browserstack"};
constexpr std::array<std::string_view, 10> kStatuses = {"queued", "assigned",  "installing", "running",   "passed",
                                                        "failed", "timed_out", "error",      "cancelled", "dead"};

template <class E, std::size_t N>
std::optional<E> parse(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

template <std::size_t N>
std::string_view name(const std::array<std::string_view, N>& names, std::size_t i) noexcept {
  return i < N ? names[i] : std::string_view("unknown");
}
}  // namespace

std::string_view to_string(Priority p) noexcept { return name(kPriorities, static_cast<std::size_t>(p)); }
std::string_view to_string(Target t) noexcept { return name(kTargets, static_cast<std::size_t>(t)); }
std::string_view to_string(JobStatus s) noexcept { return name(kStatuses, static_cast<std::size_t>(s)); }

std::optional<Priority> parse_priority(std::string_view s) noexcept { return parse<Priority>(kPriorities, s); }
std::optional<Target> parse_target(std::string_view s) noexcept { return parse<Target>(kTargets, s); }
std::optional<JobStatus> parse_status(std::string_view s) noexcept { return parse<JobStatus>(kStatuses, s); }

bool is_final(JobStatus s) noexcept {
  switch (s) {
    case JobStatus::passed:
    case JobStatus::failed:
    case JobStatus::timed_out:
    case JobStatus::error:
    case JobStatus::cancelled:
    case JobStatus::dead:
      return true;
    default:
      return false;
  }
}

}  // namespace qg::proto

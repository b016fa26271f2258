#pragma once
// Value rules of requests, checked by decode<T>() after the structural walk succeeded (every
// field present has the right type). Replies and events have no value rules: they are
// decoded leniently. Private to qg_proto.

#include <cstddef>
#include <optional>

#include "qg/proto/codec.hpp"
#include "qg/proto/field_rules.hpp"
#include "qg/proto/messages.hpp"

namespace qg::proto::detail {

inline constexpr std::size_t kMaxRidBytes = 128;
inline constexpr std::size_t kMaxTests = 10000;
inline constexpr std::size_t kMaxJobIds = 1000;
inline constexpr std::uint32_t kMaxPageLimit = 1000;
inline constexpr std::uint32_t kDefaultPageLimit = 50;
inline constexpr std::uint32_t kMaxRetries = 10;
inline constexpr std::uint32_t kMaxAttempts = 20;
inline constexpr std::size_t kMaxTargets = 3;

// Requests: may normalise (a page limit of 0 becomes the default) and return the first
// rule broken, if any.
std::optional<Error> validate(SubmitRequest& m, const Limits& limits);
std::optional<Error> validate(StatusRequest& m, const Limits& limits);
std::optional<Error> validate(ListRequest& m, const Limits& limits);
std::optional<Error> validate(CancelRequest& m, const Limits& limits);
std::optional<Error> validate(RetryRequest& m, const Limits& limits);
std::optional<Error> validate(QueueRequest& m, const Limits& limits);
std::optional<Error> validate(WorkersRequest& m, const Limits& limits);
std::optional<Error> validate(DrainWorkerRequest& m, const Limits& limits);
std::optional<Error> validate(ForgetWorkerRequest& m, const Limits& limits);
std::optional<Error> validate(HealthRequest& m, const Limits& limits);
std::optional<Error> validate(StatsRequest& m, const Limits& limits);
std::optional<Error> validate(EventsTopicRequest& m, const Limits& limits);
std::optional<Error> validate(Hello& m, const Limits& limits);
std::optional<Error> validate(Pull& m, const Limits& limits);
std::optional<Error> validate(Report& m, const Limits& limits);
std::optional<Error> validate(Progress& m, const Limits& limits);
std::optional<Error> validate(Heartbeat& m, const Limits& limits);
std::optional<Error> validate(Release& m, const Limits& limits);
std::optional<Error> validate(Bye& m, const Limits& limits);
std::optional<Error> validate(CancelJob& m, const Limits& limits);

// Replies and events: nothing to check beyond types.
template <class T>
std::optional<Error> validate(T& /*message*/, const Limits& /*limits*/) {
  return std::nullopt;
}

}  // namespace qg::proto::detail

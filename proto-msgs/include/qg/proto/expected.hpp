#pragma once
// A value or a protocol error. Expected outcomes of decoding and validation are values of
// this type; nothing in proto-msgs throws across its public API.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace qg::proto {

// A structured error as it travels on the wire: a stable machine code (see errc below),
// a human message and, where one field is to blame, that field's name.
struct Error {
  std::string code;
  std::string message;
  std::string field;  // empty when no single field is to blame
  // The figures of a refused submit (QUOTA_EXCEEDED, RATE_LIMITED; docs/protocol.md, section
  // 9); absent from every other error and left out of the wire when absent.
  std::optional<std::uint64_t> retry_after_ms{};  // wait this long before sending it again
  std::optional<std::uint64_t> queued{};          // QUOTA_EXCEEDED: the org's queued jobs as counted
  std::optional<std::uint64_t> limit{};           // QUOTA_EXCEEDED: the most the org may have queued
  std::optional<double> rate{};                   // RATE_LIMITED: jobs per second the org may submit
  std::optional<std::uint64_t> burst{};           // RATE_LIMITED: jobs it may submit at once

  friend bool operator==(const Error&, const Error&) = default;
};

template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Expected(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // Precondition: ok(). Calling value() on an error is a programming error (std::bad_variant_access).
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  // Precondition: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace qg::proto

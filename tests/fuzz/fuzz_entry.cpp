#include "fuzz_entry.hpp"

#include <array>
#include <exception>
#include <span>
#include <tuple>
#include <typeinfo>

#include "qg/proto/codec.hpp"

namespace qg::proto::fuzz {
namespace {

using AllTypes =
    std::tuple<SubmitRequest, SubmitReply, StatusRequest, StatusReply, ListRequest, ListReply, CancelRequest,
               CancelReply, RetryRequest, RetryReply, QueueRequest, QueueReply, WorkersRequest, WorkersReply,
               HealthRequest, HealthReply, DrainWorkerRequest, DrainWorkerReply, ForgetWorkerRequest, ForgetWorkerReply,
               StatsRequest, StatsReply, Hello, HelloReply, Pull, Assign, NoWork, Report, Confirm, Progress, Heartbeat,
               Release, ReleaseReply, Bye, ByeReply, CancelJob, DrainRequested, ErrorReply, JobEvent, WorkerEvent>;

// Small limits, so that every limit is reached by small inputs.
Limits tiny_limits() {
  Limits l;
  l.max_frames = 4;
  l.max_frame_bytes = 512;
  l.max_message_bytes = 768;
  l.max_string_bytes = 16;
  l.max_array_items = 4;
  l.max_map_items = 8;
  l.max_depth = 3;
  return l;
}

bool known_body_error(const std::string& code) {
  return code == errc::bad_body || code == errc::too_large || code == errc::missing_field ||
         code == errc::invalid_field;
}

std::string printable(std::string_view s) { return to_hex(s.substr(0, 64)); }

// decode -> encode -> decode -> encode must be stable, and any failure must be a body error.
template <class T>
std::string check_decode(std::string_view body, const char* type_name) {
  const Limits tiny = tiny_limits();
  const Expected<T> relaxed = decode<T>(body);
  const Expected<T> strict = decode<T>(body, tiny);
  if (!relaxed.ok() && !known_body_error(relaxed.error().code)) {
    return std::string(type_name) + ": unexpected error code " + relaxed.error().code + ": " + relaxed.error().message;
  }
  if (!strict.ok() && !known_body_error(strict.error().code)) {
    return std::string(type_name) + ": unexpected error code (tiny limits) " + strict.error().code;
  }
  if (strict.ok() && !relaxed.ok()) {
    return std::string(type_name) + ": accepted under tiny limits but not under the defaults: " + relaxed.error().code +
           " " + relaxed.error().field + " " + relaxed.error().message;
  }
  if (!relaxed.ok()) return {};
  const std::string once = encode(*relaxed);
  if (strict.ok() && encode(*strict) != once) return std::string(type_name) + ": limits changed the decoded value";
  const Expected<T> again = decode<T>(once);
  if (!again.ok()) {
    return std::string(type_name) + ": re-encoding is rejected: " + again.error().code + " " + again.error().field +
           " " + again.error().message + " body " + printable(once);
  }
  if (encode(*again) != once) return std::string(type_name) + ": encoding is not stable: " + printable(once);
  return {};
}

template <std::size_t... I>
std::string check_all_types(std::string_view body, std::index_sequence<I...>) {
  std::string failure;
  const auto one = [&](auto message) {
    if (failure.empty()) failure = check_decode<decltype(message)>(body, typeid(message).name());
  };
  (one(std::tuple_element_t<I, AllTypes>{}), ...);
  return failure;
}

// A body that is not one well-formed msgpack map within the limits fails the same way for
// every type (the walk has not started), so a few types stand for all of them there: this
// keeps the fuzzer fast on the many inputs that are structurally broken.
template <class T>
std::string check_same_structural_error(std::string_view body, const Error& expected) {
  const Expected<T> relaxed = decode<T>(body);
  if (relaxed.ok() || !(relaxed.error() == expected)) {
    return std::string(typeid(T).name()) + ": a structural error differs between types: " +
           (relaxed.ok() ? std::string("accepted") : relaxed.error().code + " " + relaxed.error().message) + " vs " +
           expected.code + " " + expected.message;
  }
  if (decode<T>(body, tiny_limits()).ok()) {
    return std::string(typeid(T).name()) + ": accepted under tiny limits but not under the defaults";
  }
  return {};
}

std::string check_body(std::string_view body) {
  (void)peek_rid(body);
  (void)peek_rid(body, tiny_limits());
  const Expected<ByeReply> probe = decode<ByeReply>(body);
  if (!probe.ok() && (probe.error().code == errc::bad_body || probe.error().code == errc::too_large)) {
    if (auto f = check_same_structural_error<SubmitRequest>(body, probe.error()); !f.empty()) return f;
    if (auto f = check_same_structural_error<StatusReply>(body, probe.error()); !f.empty()) return f;
    return check_same_structural_error<JobEvent>(body, probe.error());
  }
  return check_all_types(body, std::make_index_sequence<std::tuple_size_v<AllTypes>>{});
}

std::vector<std::string> split_frames(std::string_view bytes) {
  std::vector<std::string> frames;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = bytes.find(kFrameSeparator, start);
    if (at == std::string_view::npos) break;
    frames.emplace_back(bytes.substr(start, at - start));
    start = at + kFrameSeparator.size();
  }
  frames.emplace_back(bytes.substr(start));
  return frames;
}

std::string check_envelope(std::span<const std::string> frames, std::string_view protocol) {
  for (const Limits& limits : {Limits{}, tiny_limits()}) {
    const Expected<Envelope> envelope = parse_envelope(frames, protocol, limits);
    if (!envelope.ok()) {
      const std::string& code = envelope.error().code;
      if (code != errc::bad_frames && code != errc::bad_protocol && code != errc::too_large) {
        return "parse_envelope: unexpected error code " + code;
      }
      continue;
    }
    if (envelope->protocol != protocol) return "parse_envelope: accepted the wrong protocol";
    if (envelope->command.empty()) return "parse_envelope: accepted an empty command";
    if (envelope->body.size() > limits.max_frame_bytes) return "parse_envelope: accepted an oversize body";
  }
  return {};
}

}  // namespace

std::string run_one(const std::uint8_t* data, std::size_t size) {
  try {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    if (std::string failure = check_body(bytes); !failure.empty()) return "whole input: " + failure;

    const std::vector<std::string> frames = split_frames(bytes);
    if (frames.size() > 1) {
      if (std::string failure = check_body(frames.back()); !failure.empty()) return "last frame: " + failure;
    }
    for (std::string_view protocol : {kClientProtocol, kWorkerProtocol, kEventProtocol}) {
      if (std::string failure = check_envelope(frames, protocol); !failure.empty()) return failure;
    }
    if (!frames.empty()) {  // an event: the topic frame first
      const std::span<const std::string> after_topic = std::span<const std::string>(frames).subspan(1);
      if (std::string failure = check_envelope(after_topic, kEventProtocol); !failure.empty()) return failure;
    }
    const std::string hex = to_hex(bytes);
    if (from_hex(hex) != bytes) return "hex round trip failed";
    return {};
  } catch (const std::exception& e) {
    return std::string("exception escaped: ") + e.what();
  } catch (...) {
    return "unknown exception escaped";
  }
}

std::string join_frames(const std::vector<std::string>& frames) {
  std::string out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) out += kFrameSeparator;
    out += frames[i];
  }
  return out;
}

}  // namespace qg::proto::fuzz

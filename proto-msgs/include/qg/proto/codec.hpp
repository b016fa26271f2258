#pragma once
// Encoding and hardened decoding of protocol v1 bodies and envelopes. No I/O.
//
// decode<T>() never throws and never allocates more than the limits allow: every malformed,
// truncated, oversized or wrongly typed input comes back as an Error whose code is one of
// qg::proto::errc and whose field names the offending key when there is one.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/expected.hpp"
#include "qg/proto/messages.hpp"

namespace qg::proto {

struct Limits {
  std::size_t max_frames = 8;                // frames per message, after any ROUTER identity
  std::size_t max_frame_bytes = 4u << 20;    // one frame
  std::size_t max_message_bytes = 8u << 20;  // all frames together
  std::size_t max_string_bytes = 64u << 10;  // one msgpack string or bin
  std::size_t max_array_items = 10000;       // one msgpack array
  std::size_t max_map_items = 256;           // one msgpack map
  std::size_t max_depth = 8;                 // nesting of arrays and maps
};

// A received message stripped to its three parts, each checked against the limits.
struct Envelope {
  std::string protocol;
  std::string command;
  std::string body;
};

// Checks frame count, sizes and the protocol header, then returns the parts. `frames` are
// the frames after the ROUTER identity (and after the empty delimiter, if the peer sent one).
// Errors: bad_frames, too_large, bad_protocol.
Expected<Envelope> parse_envelope(std::span<const std::string> frames, std::string_view expected_protocol,
                                  const Limits& limits = {});
// The same checks and result, but the parts are moved out of `frames` (which the caller no
// longer needs) instead of copied. On an error `frames` is left unchanged.
Expected<Envelope> take_envelope(std::span<std::string> frames, std::string_view expected_protocol,
                                 const Limits& limits = {});

// Body encoders: a msgpack map with string keys. Every field is written, defaults included,
// except std::optional fields that are empty.
std::string encode(const SubmitRequest&);
std::string encode(const SubmitReply&);
std::string encode(const StatusRequest&);
std::string encode(const StatusReply&);
std::string encode(const ListRequest&);
std::string encode(const ListReply&);
std::string encode(const CancelRequest&);
std::string encode(const CancelReply&);
std::string encode(const RetryRequest&);
std::string encode(const RetryReply&);
std::string encode(const QueueRequest&);
std::string encode(const QueueReply&);
std::string encode(const WorkersRequest&);
std::string encode(const WorkersReply&);
std::string encode(const DrainWorkerRequest&);
std::string encode(const DrainWorkerReply&);
std::string encode(const ForgetWorkerRequest&);
std::string encode(const ForgetWorkerReply&);
std::string encode(const HealthRequest&);
std::string encode(const HealthReply&);
std::string encode(const StatsRequest&);
std::string encode(const StatsReply&);
std::string encode(const EventsTopicRequest&);
std::string encode(const EventsTopicReply&);
std::string encode(const Hello&);
std::string encode(const HelloReply&);
std::string encode(const Pull&);
std::string encode(const Assign&);
std::string encode(const NoWork&);
std::string encode(const Report&);
std::string encode(const Confirm&);
std::string encode(const Progress&);
std::string encode(const Heartbeat&);
std::string encode(const Release&);
std::string encode(const ReleaseReply&);
std::string encode(const Bye&);
std::string encode(const ByeReply&);
std::string encode(const CancelJob&);
std::string encode(const DrainRequested&);
std::string encode(const ErrorReply&);
std::string encode(const JobEvent&);
std::string encode(const WorkerEvent&);

// Body decoder for any message type above. Unknown keys are ignored; absent optional fields
// keep their defaults; absent required fields give missing_field; wrong types or values out
// of range give invalid_field; bytes that are not one msgpack map give bad_body; limits
// exceeded give too_large. Declared here, defined (explicitly instantiated) in codec.cpp
// for exactly the message types above.
template <class T>
Expected<T> decode(std::string_view body, const Limits& limits = {});

// Reads only the "rid" of a body, so an error reply can echo it even when the rest of the
// body is invalid. Empty string when there is none or the body is unreadable.
std::string peek_rid(std::string_view body, const Limits& limits = {}) noexcept;

// The three frames of a message, ready to send after any ROUTER identity.
template <class T>
std::vector<std::string> frames_of(std::string_view protocol, const T& message) {
  return {std::string(protocol), std::string(T::command), encode(message)};
}

// Hex helpers for tests and docs: "8a a3 72 69 64" style, spaces optional on input.
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex);

}  // namespace qg::proto

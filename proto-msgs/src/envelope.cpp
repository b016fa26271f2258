// Envelope checks (frame count, sizes, protocol header) and the hex helpers.

#include <array>
#include <string>
#include <string_view>

#include "qg/proto/codec.hpp"

namespace qg::proto {
namespace {

Error envelope_error(std::string_view code, std::string message, std::string field = {}) {
  return Error{std::string(code), std::move(message), std::move(field)};
}

// A frame's first bytes made safe to quote in an error message.
std::string printable_prefix(std::string_view bytes) {
  constexpr std::size_t kMax = 16;
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < kMax; ++i) {
    const char c = bytes[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (bytes.size() > kMax) out += "...";
  return out;
}

constexpr std::array<const char*, 3> kFrameNames = {"protocol", "command", "body"};

}  // namespace

namespace {

// Checks a message's frames; the index of the protocol frame (1 after an empty delimiter,
// else 0), or the error.
Expected<std::size_t> check_envelope(std::span<const std::string> frames, std::string_view expected_protocol,
                                     const Limits& limits) {
  // A REQ-style peer puts an empty delimiter frame first; skip exactly one.
  std::size_t first = 0;
  if (!frames.empty() && frames.front().empty()) {
    frames = frames.subspan(1);
    first = 1;
  }

  if (frames.size() > limits.max_frames) {
    return envelope_error(errc::too_large, std::to_string(frames.size()) + " frames, over max_frames (" +
                                               std::to_string(limits.max_frames) + ")");
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].size() > limits.max_frame_bytes) {
      return envelope_error(errc::too_large,
                            "frame " + std::to_string(i) + " of " + std::to_string(frames[i].size()) +
                                " bytes is over max_frame_bytes (" + std::to_string(limits.max_frame_bytes) + ")",
                            i < kFrameNames.size() ? kFrameNames[i] : "");
    }
    total += frames[i].size();
  }
  if (total > limits.max_message_bytes) {
    return envelope_error(errc::too_large, "message of " + std::to_string(total) +
                                               " bytes is over max_message_bytes (" +
                                               std::to_string(limits.max_message_bytes) + ")");
  }
  if (frames.empty()) return envelope_error(errc::bad_frames, "no frames; expected [protocol][command][body]");
  if (frames[0] != expected_protocol) {
    return envelope_error(
        errc::bad_protocol,
        "protocol header \"" + printable_prefix(frames[0]) + "\"; expected \"" + std::string(expected_protocol) + "\"",
        "protocol");
  }
  if (frames.size() != 3) {
    return envelope_error(errc::bad_frames,
                          std::to_string(frames.size()) + " frames; expected 3: [protocol][command][body]");
  }
  if (frames[1].empty()) return envelope_error(errc::bad_frames, "empty command frame", "command");
  return first;
}

}  // namespace

Expected<Envelope> parse_envelope(std::span<const std::string> frames, std::string_view expected_protocol,
                                  const Limits& limits) {
  auto first = check_envelope(frames, expected_protocol, limits);
  if (!first) return first.error();
  const std::size_t i = first.value();
  return Envelope{frames[i], frames[i + 1], frames[i + 2]};
}

Expected<Envelope> take_envelope(std::span<std::string> frames, std::string_view expected_protocol,
                                 const Limits& limits) {
  auto first = check_envelope(frames, expected_protocol, limits);
  if (!first) return first.error();
  const std::size_t i = first.value();
  return Envelope{std::move(frames[i]), std::move(frames[i + 1]), std::move(frames[i + 2])};
}

std::string to_hex(std::string_view bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (!out.empty()) out += ' ';
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  int high = -1;
  for (const char c : hex) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
    const int n = nibble(c);
    if (n < 0) return {};
    if (high < 0) {
      high = n;
    } else {
      out += static_cast<char>((high << 4) | n);
      high = -1;
    }
  }
  if (high >= 0) return {};  // odd number of digits
  return out;
}

}  // namespace qg::proto

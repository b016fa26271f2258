#pragma once
// Text that a terminal shows as it is: the test every receiver of free text off the wire can
// apply before passing it on (the broker's events-in), and the UTF-8 decoding that qgjob's
// escaping of such text for a terminal builds on. No I/O, no allocation, never throws.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qg {

// The valid UTF-8 sequence at text[at..]: its code point and length in bytes. Length 0 when the
// bytes there are not one (truncated, overlong, a surrogate, past U+10FFFF, a stray continuation
// byte) or `at` is past the end.
struct Utf8Char {
  std::uint32_t code_point = 0;
  std::size_t length = 0;
};
Utf8Char decode_utf8_at(std::string_view text, std::size_t at) noexcept;

// True for the code points a terminal takes as a command or that hide what follows: C0 controls
// (U+0000-U+001F), DEL, C1 controls (U+0080-U+009F, the 8-bit CSI U+009B among them) and the
// invisible direction marks and overrides (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
bool is_terminal_control(std::uint32_t code_point) noexcept;

// True when `text` is valid UTF-8 holding no terminal control (newline and tab included: plain
// text here is one line). The empty text is plain.
bool is_plain_text(std::string_view text) noexcept;

}  // namespace qg

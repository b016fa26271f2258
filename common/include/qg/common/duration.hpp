#pragma once
// Durations as operators write them on the command line: a whole number and one unit, `30s`,
// `15m`, `12h`, `7d` (also `500ms`). Every option that takes a length of time uses this
// parser, so they all read the same way and refuse the same mistakes.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace qg {

// A parsed duration, or why the text is not one (for the message of a ConfigError).
struct DurationParse {
  std::optional<std::chrono::milliseconds> value;
  std::string error;
};

// Parses "<digits><unit>", unit one of ms, s, m, h, d. No sign, no spaces, no fractions,
// no unit-less numbers except a bare "0"; at most 100 years (anything longer is a typo).
DurationParse parse_duration(std::string_view text);

// The same, for an option: throws ConfigError naming `option` (e.g. "--retention") when
// `text` is not a duration. `off_word`, when not empty, is also accepted and gives nullopt
// (e.g. "off": keep for ever).
std::optional<std::chrono::milliseconds> duration_option(std::string_view option, std::string_view text,
                                                         std::string_view off_word = {});

// The shortest text parse_duration reads back as `d` (7d, 90m, 1500ms).
std::string format_duration(std::chrono::milliseconds d);

}  // namespace qg

#pragma once
// Durations as operators write them on the command line and in env files: a whole number and a
// unit, `500ms`, `30s`, `15m`, `12h`, `7d`. A bare number is refused (its unit would be a
// guess).

#include <chrono>
#include <string>
#include <string_view>

namespace qg {

// The duration `text` names; throws ConfigError (naming `what`, e.g. "--quarantine-cooldown")
// when it is not a whole number followed by ms, s, m, h or d, or does not fit in 64 bits of
// milliseconds.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);

// The shortest exact form of `d` in the units above ("10m", "90s", "1500ms"), for help and logs.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace qg

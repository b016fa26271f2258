#pragma once
// Durations as operators write them in options: a whole number and a unit, `500ms`, `30s`,
// `15m`, `12h`, `7d`. A bare `0` is accepted (zero needs no unit; what zero means is the
// option's to say). Nothing else is: no fractions, no signs, no spaces, no combinations
// (`1h30m`), no bare non-zero number (is `10` seconds or minutes?).

#include <chrono>
#include <string>
#include <string_view>

namespace qg {

// The duration `text` names. Throws ConfigError naming `option` (e.g. "--forget-workers-after")
// and the accepted forms when `text` is not one of them or is over 100 years.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view option);

// The shortest of those forms that names `d` exactly ("7d", "90s", "1500ms", "0").
std::string format_duration_option(std::chrono::milliseconds d);

}  // namespace qg

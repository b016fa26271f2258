#pragma once
// Logging setup. A process makes one logger in main and passes it down; libraries never
// create loggers of their own and tests assert on counters and state, not on log text.

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace qg {

struct LogSettings {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  bool json = false;           // one JSON object per line instead of human text
};

// A logger named `name` writing to stderr. Throws ConfigError on an unknown level.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const LogSettings& settings);

// A logger that discards everything (tests, libraries given none).
std::shared_ptr<spdlog::logger> null_logger();

}  // namespace qg

#pragma once
// Command-line and environment configuration for the mains. Only mains include this; the
// libraries take plain Settings structs.
//
// Precedence: command line, then environment, then the defaults in the option description.
// An option `--foo-bar` is also read from `<PREFIX>FOO_BAR` for every prefix given (for
// example QG_ and QGJOB_); the first prefix found wins.

#include <functional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "qg/common/logging.hpp"

namespace qg {

namespace po = boost::program_options;

// Adds --log-level and --log-json to `options`.
void add_log_options(po::options_description& options, LogSettings& settings);

// Adds --redis-password-file, filling `path` (see redis_address() in redis_address.hpp).
void add_redis_password_option(po::options_description& options, std::string& path);

// Outcome of parsing: either run with the filled variables, or exit at once with `exit_code`
// after the text was printed (--help prints to stdout and exits 0, as does --version, which
// prints "<program> <version>"; a usage error prints to stderr and exits `usage_exit_code`).
// --help and --version are read from the command line only, never from the environment.
struct ParseOutcome {
  bool run = false;
  int exit_code = 0;
};

// Parses argv and the environment into the notifiers bound in `options`. `program` and
// `summary` head the --help text.
ParseOutcome parse_options(int argc, const char* const argv[], const po::options_description& options,
                           const std::vector<std::string>& env_prefixes, const std::string& program,
                           const std::string& summary, int usage_exit_code = 3,
                           const po::positional_options_description* positional = nullptr);

// Splits "a,b,c" (empty items dropped, spaces trimmed).
std::vector<std::string> split_list(const std::string& text, char separator = ',');

}  // namespace qg

#include "qg/common/config.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>

// The project's version (project() in the top CMakeLists.txt), given to this file alone by
// common/CMakeLists.txt so that a new version recompiles one file.
#ifndef QG_VERSION
#define QG_VERSION "0.0.0"
#endif

namespace qg {

void add_log_options(po::options_description& options, LogSettings& settings) {
  options.add_options()("log-level", po::value(&settings.level)->default_value(settings.level),
                        "log verbosity: trace, debug, info, warn, error, critical, off")(
      "log-json", po::bool_switch(&settings.json), "write logs as one JSON object per line");
}

void add_redis_password_option(po::options_description& options, std::string& path) {
  options.add_options()("redis-password-file", po::value(&path),
                        "file whose first line is the Redis password (replaces a password in --redis-url, "
                        "and keeps it out of the process list); make it readable by this user only");
}

namespace {

std::string env_name(const std::string& prefix, const std::string& option) {
  std::string name = prefix;
  for (char c : option) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

ParseOutcome parse_options(int argc, const char* const argv[], const po::options_description& options,
                           const std::vector<std::string>& env_prefixes, const std::string& program,
                           const std::string& summary, int usage_exit_code,
                           const po::positional_options_description* positional) {
  po::options_description all(program + " — " + summary + "\n\nOptions");
  all.add(options);
  all.add_options()("help,h", "show this help and exit")("version", "print the version and exit");
  po::variables_map vm;
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(all);
    if (positional != nullptr) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help") != 0) {
      std::cout << all << "\n";
      if (!env_prefixes.empty()) {
        std::cout << "Every option can also be set in the environment as " << env_prefixes.front()
                  << "<OPTION_NAME> (for example " << env_name(env_prefixes.front(), "log-level") << ").\n";
      }
      return {false, 0};
    }
    if (vm.count("version") != 0) {
      std::cout << program << " " << QG_VERSION << "\n";
      return {false, 0};
    }
    po::store(po::parse_environment(all,
                                    [&](const std::string& variable) -> std::string {
                                      for (const auto& prefix : env_prefixes) {
                                        if (variable.rfind(prefix, 0) != 0) continue;
                                        for (const auto& option : all.options()) {
                                          const auto& name = option->long_name();
                                          if (name == "help" || name == "version") continue;
                                          if (env_name(prefix, name) == variable) return name;
                                        }
                                      }
                                      return {};
                                    }),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << program << ": " << e.what() << " (see " << program << " --help)\n";
    return {false, usage_exit_code};
  }
  return {true, 0};
}

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::string item;
  auto flush = [&] {
    auto begin = item.find_first_not_of(" \t");
    auto end = item.find_last_not_of(" \t");
    if (begin != std::string::npos) out.push_back(item.substr(begin, end - begin + 1));
    item.clear();
  };
  for (char c : text) {
    if (c == separator) {
      flush();
    } else {
      item += c;
    }
  }
  flush();
  return out;
}

}  // namespace qg

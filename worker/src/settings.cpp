#include "qg/worker/settings.hpp"

#include <cctype>
#include <cmath>

#include "qg/common/config.hpp"
#include "qg/common/errors.hpp"

namespace qg::worker {

std::map<std::string, std::string> parse_labels(const std::string& text) {
  std::map<std::string, std::string> labels;
  for (const auto& item : split_list(text, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw ConfigError("label '" + item + "' is not key=value");
    auto trim = [](std::string s) {
      auto b = s.find_first_not_of(" \t");
      auto e = s.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    auto key = trim(item.substr(0, eq));
    auto value = trim(item.substr(eq + 1));
    if (key.empty()) throw ConfigError("label '" + item + "' has an empty key");
    if (!labels.emplace(key, value).second) throw ConfigError("label '" + key + "' given twice");
  }
  return labels;
}

std::vector<proto::Target> parse_targets(const std::string& text) {
  std::vector<proto::Target> targets;
  for (const auto& item : split_list(text, ',')) {
    auto t = proto::parse_target(item);
    if (!t) throw ConfigError("unknown target '" + item + "' (emulator, device or browserstack)");
    bool seen = false;
    for (auto x : targets) seen = seen || x == *t;
    if (!seen) targets.push_back(*t);
  }
  if (targets.empty()) throw ConfigError("--targets is empty");
  return targets;
}

std::string default_worker_id(const std::string& hostname, const std::string& device_id) {
  std::string id = hostname.empty() ? std::string("worker") : hostname;
  if (!device_id.empty()) id += "-" + device_id;
  for (auto& c : id) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') c = '-';
  }
  if (id.size() > 64) id.resize(64);
  return id;
}

milliseconds seconds_to_ms(double seconds, const std::string& option) {
  if (!std::isfinite(seconds) || seconds < 0) throw ConfigError("--" + option + " must be a number of seconds >= 0");
  return milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace qg::worker

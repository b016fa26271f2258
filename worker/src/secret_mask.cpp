// Masking secrets in text the worker sends (contract in qg/worker/secret_mask.hpp).
#include "qg/worker/secret_mask.hpp"

#include <algorithm>
#include <cctype>

namespace qg::worker {

const std::vector<std::string>& default_mask_patterns() {
  static const std::vector<std::string> patterns = {"*TOKEN*", "*SECRET*", "*PASSWORD*", "*KEY*"};
  return patterns;
}

bool glob_match_nocase(std::string_view pattern, std::string_view name) {
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  // Greedy match with one backtrack point: the last '*' seen and where its run ended.
  std::size_t p = 0, n = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && same(pattern[p], name[n])))) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

SecretMask::SecretMask(std::vector<std::string> values) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](const std::string& v) { return v.size() < kMinSecretBytes; }),
      values.end());
  std::sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  values.erase(std::unique(values.begin(), values.end()), values.end());
  values_ = std::move(values);
  for (const auto& v : values_) first_byte_[static_cast<unsigned char>(v.front())] = true;
}

SecretMask SecretMask::from_environment(const std::vector<std::string>& patterns, const char* const* env) {
  std::vector<std::string> values;
  for (; env != nullptr && *env != nullptr; ++env) {
    std::string_view entry(*env);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = entry.substr(0, eq);
    if (std::any_of(patterns.begin(), patterns.end(),
                    [&](const std::string& pattern) { return glob_match_nocase(pattern, name); })) {
      values.emplace_back(entry.substr(eq + 1));
    }
  }
  return SecretMask(std::move(values));
}

std::string SecretMask::apply(std::string_view text, std::size_t from) const {
  std::string out;
  out.reserve(text.size() > from ? text.size() - from : 0);
  std::size_t i = 0;
  while (i < text.size()) {
    if (first_byte_[static_cast<unsigned char>(text[i])]) {
      auto hit = std::find_if(values_.begin(), values_.end(),
                              [&](const std::string& v) { return text.substr(i, v.size()) == v; });
      if (hit != values_.end()) {
        if (i + hit->size() > from) out += kMaskText;
        i += hit->size();
        continue;
      }
    }
    if (i >= from) out += text[i];
    ++i;
  }
  return out;
}

}  // namespace qg::worker

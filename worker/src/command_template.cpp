// Placeholders, shell quoting and turning a checked template into an argv (contract in
// qg/worker/command_template.hpp; the start-up check itself is in template_check.cpp).
#include "qg/worker/command_template.hpp"

#include <algorithm>
#include <cctype>

#include "qg/common/shell_quote.hpp"
#include "template_check.hpp"

namespace qg::worker {

const std::vector<std::string>& placeholder_names() {
  static const std::vector<std::string> names = {"org_id", "app_version_id", "test_path", "target",
                                                 "job_id", "attempt",        "device_id"};
  return names;
}

std::string placeholder_env_name(std::string_view name) {
  if (name == "job_id") return "QG_JOB_ID";
  std::string out = "QG_JOB_";
  for (char c : name) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string shell_quote(std::string_view value) { return qg::shell_quote(value); }

namespace {

bool is_word(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

}  // namespace

std::string render_template(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{' && (i == 0 || text[i - 1] != '$')) {
      auto close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        auto name = text.substr(i + 1, close - i - 1);
        auto it = values.find(std::string(name));
        if (it != values.end()) {
          out += shell_quote(it->second);
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i];
    ++i;
  }
  return out;
}

std::vector<std::string> unknown_placeholders(std::string_view text) {
  std::vector<std::string> unknown;
  const auto& known = placeholder_names();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{' || (i > 0 && text[i - 1] == '$')) continue;
    auto close = text.find('}', i + 1);
    if (close == std::string_view::npos) break;
    auto name = std::string(text.substr(i + 1, close - i - 1));
    if (is_word(name) && std::find(known.begin(), known.end(), name) == known.end()) unknown.push_back(name);
  }
  return unknown;
}

CommandTemplate::CommandTemplate(std::string text, std::string_view option) : text_(std::move(text)) {
  auto checked = detail::check_template(text_, option);
  shell_ = checked.shell;
  words_ = std::move(checked.words);
}

std::vector<std::string> CommandTemplate::argv(const std::map<std::string, std::string>& values) const {
  if (text_.empty()) return {};
  if (shell_) {
    std::map<std::string, std::string> all = values;
    for (const auto& name : placeholder_names()) all.emplace(name, "");
    return {"/bin/sh", "-c", render_template(text_, all)};
  }
  std::vector<std::string> out;
  out.reserve(words_.size());
  for (const auto& word : words_) {
    std::string arg;
    for (const auto& part : word) {
      if (!part.placeholder) {
        arg += part.text;
      } else if (auto it = values.find(part.text); it != values.end()) {
        arg += it->second;
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::string display_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    out += shell_quote(arg);
  }
  return out;
}

}  // namespace qg::worker

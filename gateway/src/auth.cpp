// Bearer tokens to roles; the contract is in auth.hpp.
#include "auth.hpp"

#include <fstream>
#include <sstream>

#include "qg/common/errors.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::gateway {

namespace {

constexpr std::size_t kMinTokenBytes = 16;
constexpr std::size_t kMaxTokenBytes = 256;

bool token_chars_ok(std::string_view token) {
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Equal without an early exit on the first different byte, so the time taken does not tell
// an attacker how much of a guess was right.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read --tokens-file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string Caller::describe() const {
  switch (role) {
    case Role::local:
      return "local";
    case Role::admin:
      return "admin";
    case Role::org:
      return "org:" + org_id;
  }
  return "?";
}

std::vector<TokenEntry> parse_tokens(std::string_view text) {
  std::vector<TokenEntry> entries;
  std::size_t line_no = 0;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream words(line);
    std::string token, role, extra;
    words >> token;
    if (token.empty() || token[0] == '#') continue;
    const std::string where = "tokens file line " + std::to_string(line_no) + ": ";
    words >> role >> extra;
    if (role.empty() || !extra.empty()) throw ConfigError(where + "expected \"<token> <role>\"");
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes || !token_chars_ok(token)) {
      throw ConfigError(where + "a token is 16..256 printable characters without spaces");
    }
    TokenEntry entry{token, {}};
    if (role == "admin") {
      entry.caller.role = Caller::Role::admin;
    } else if (role.rfind("org:", 0) == 0) {
      entry.caller.role = Caller::Role::org;
      entry.caller.org_id = role.substr(4);
      if (auto bad = proto::check_org_id(entry.caller.org_id)) throw ConfigError(where + bad->message);
    } else {
      throw ConfigError(where + "role must be admin or org:<org_id>");
    }
    for (const auto& e : entries) {
      if (same_secret(e.token, token)) throw ConfigError(where + "this token is given twice");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

Authenticator::Authenticator(std::string tokens_file) : file_(std::move(tokens_file)) {
  if (!file_.empty()) tokens_ = std::make_shared<const std::vector<TokenEntry>>(parse_tokens(read_file(file_)));
}

std::optional<std::string> Authenticator::reload() {
  if (file_.empty()) return std::nullopt;
  try {
    auto fresh = std::make_shared<const std::vector<TokenEntry>>(parse_tokens(read_file(file_)));
    std::lock_guard lock(mutex_);
    tokens_ = std::move(fresh);
    return std::nullopt;
  } catch (const ConfigError& e) {
    return std::string(e.what());
  }
}

std::size_t Authenticator::token_count() const {
  std::lock_guard lock(mutex_);
  return tokens_ ? tokens_->size() : 0;
}

std::optional<Caller> Authenticator::authenticate(std::string_view authorization) const {
  if (file_.empty()) return Caller{};
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return std::nullopt;
    }
  }
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  std::shared_ptr<const std::vector<TokenEntry>> tokens;
  {
    std::lock_guard lock(mutex_);
    tokens = tokens_;
  }
  // Every entry is compared, found or not, so the time taken does not tell which matched.
  std::optional<Caller> found;
  for (const auto& e : *tokens) {
    if (same_secret(e.token, token) && !found) found = e.caller;
  }
  return found;
}

}  // namespace qg::gateway

#pragma once
// Who calls: bearer tokens mapped to a role, as the broker maps CURVE keys (docs/protocol.md
// 2.1). Without a tokens file every caller is `local` (the gateway then listens on loopback
// only). An `org` caller sees and acts on its own org only (org_scope.hpp applies the rules);
// `admin` and `local` see every org. Tokens are compared in constant time and never logged.
//
// Tokens file: one "<token> <role>" per line, role `admin` or `org:<org_id>`; blank lines and
// lines starting with '#' are skipped. A token is 16..256 printable ASCII characters without
// spaces. Read again on reload() (SIGHUP); a file that does not parse leaves the old tokens.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qg::gateway {

struct Caller {
  enum class Role { local, admin, org };
  Role role = Role::local;
  std::string org_id;  // for Role::org

  bool sees_every_org() const { return role != Role::org; }
  bool acts_for_org(std::string_view org) const { return sees_every_org() || org == org_id; }
  std::string describe() const;  // "local", "admin", "org:acme" (never the token)
};

struct TokenEntry {
  std::string token;
  Caller caller;
};

// Parses a tokens file's text. Throws ConfigError naming the line (never its token) on a
// malformed line, a bad org id or a token given twice.
std::vector<TokenEntry> parse_tokens(std::string_view text);

class Authenticator {
 public:
  // `tokens_file` empty: no tokens, every caller local. Otherwise reads it now (ConfigError).
  explicit Authenticator(std::string tokens_file);

  bool enabled() const { return !file_.empty(); }
  // Reads the file again. On an error keeps the tokens in force and returns the reason.
  std::optional<std::string> reload();
  std::size_t token_count() const;

  // The caller of an Authorization header value ("Bearer <token>"); empty when tokens are on
  // and the header is absent, malformed or names no token.
  std::optional<Caller> authenticate(std::string_view authorization) const;

 private:
  std::string file_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<TokenEntry>> tokens_;
};

}  // namespace qg::gateway

#pragma once
// Where a Redis is and how to log in to it: the parsed --redis-url, and the password file
// that may stand in for the URL's password.
//
// A password never leaves this struct in text meant for people: url() masks it, and every
// ConfigError thrown here (a bad URL, an unreadable file) names the URL only with its
// credentials masked and the file only by its path.

#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace qg {

// redis://[[user]:password@]host[:port][/db] over TCP (port defaults to 6379), or
// unix://[[user]:password@]/path/to/redis.sock[?db=N] for a Redis on the same host (a Unix
// domain socket: no TCP stack on either side of each round trip). db defaults to 0.
//
// The user name and password are percent-decoded: `%40` for '@', `%2F` for '/', `%25` for
// '%'. A raw '@' in the password is taken too (the last '@' ends the credentials), but a raw
// '/' is not (it would end the host part). `redis://:pw@h` gives a password alone (Redis's
// `requirepass`, the "default" user); `redis://user:pw@h` an ACL user; `redis://user@h` an ACL
// user whose password comes from a file. rediss:// (TLS) is refused: this build's hiredis
// has none (docs/operations.md, "Redis credentials", shows how to tunnel instead).
//
// redis-sentinel://[[user]:password@]host1[:port],host2[:port],.../<master>[?db=N] names a
// primary watched by Redis Sentinel: the sentinels (port defaults to 26379) are asked where
// the primary called <master> is on every (re)connect (RedisConnection). The credentials are
// the data nodes'; the sentinels are sent the same ones, or none when a sentinel has no
// password (docs/operations.md, "Redis failover").
struct RedisEndpoint {
  std::string host;
  int port = 0;
};

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string socket_path;  // non-empty: connect to this Unix socket, not host:port
  int db = 0;
  std::string username;                  // empty: the default user (AUTH with the password alone)
  std::string password;                  // empty with an empty username: no AUTH at all
  std::vector<RedisEndpoint> sentinels;  // non-empty: host and port are found by asking these
  std::string master_name;               // the primary's name in the sentinels' configuration

  // Throws ConfigError on anything else (other scheme, empty host or path, bad port or db,
  // bad percent-encoding, control characters). The error text never holds the password.
  static RedisAddress parse(std::string_view url);

  // True when a connection must send AUTH.
  bool has_credentials() const { return !username.empty() || !password.empty(); }
  // True when the primary is found through Sentinel (redis-sentinel://).
  bool uses_sentinel() const { return !sentinels.empty(); }
  // The address for logs and errors: the password, when there is one, as "***"
  // (redis://user:***@host:port/db, redis-sentinel://user:***@s1:26379,s2:26379/name?db=N).
  std::string url() const;
  // The user as named in messages: "user 'NAME'" or "the default user", non-printable bytes
  // escaped.
  std::string user_description() const;
};

// The password in the first line of the file at `path`, its line end ("\n" or "\r\n")
// stripped. Throws ConfigError naming the file, never its contents, when it cannot be read
// or that line is empty. Warns on `log` when the file is open to its group or to others
// (the password is then not the owner's alone).
std::string read_password_file(const std::string& path, spdlog::logger& log);

// The address of a --redis-url with a --redis-password-file applied: the file's password,
// when `password_file` is not empty, replaces any password in the URL (the URL's user, if
// any, is kept). Throws ConfigError as parse() and read_password_file() do.
RedisAddress redis_address(std::string_view url, const std::string& password_file, spdlog::logger& log);

}  // namespace qg

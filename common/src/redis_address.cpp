// RedisAddress: parsing a Redis URL with its credentials, and showing it without them; the
// password file.
#include "qg/common/redis_address.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <spdlog/logger.h>

#include "qg/common/errors.hpp"

namespace qg {

namespace {

constexpr std::string_view kRedisScheme = "redis://", kUnixScheme = "unix://", kTlsScheme = "rediss://",
                           kSentinelScheme = "redis-sentinel://";
constexpr int kSentinelPort = 26379;
// The most sentinels one URL may name (a deployment has three or five).
constexpr std::size_t kMaxSentinels = 16;
// Longest stretch of a bad URL quoted in an error, so a huge value does not flood a log.
constexpr std::size_t kQuoteLimit = 200;
// The most of a password file read looking for its first line.
constexpr std::size_t kPasswordFileLimit = 64 * 1024;

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// A URL as it may be quoted in an error: whatever precedes its last '@' (the credentials, or
// what may be meant as them) replaced by "***", control characters by '?', cut short when long.
std::string quoted(std::string_view url) {
  std::string out(url);
  const auto scheme_end = out.find("://");
  const auto start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  if (const auto at = out.rfind('@'); at != std::string::npos && at >= start) out.replace(start, at - start, "***");
  if (out.size() > kQuoteLimit) out = out.substr(0, kQuoteLimit) + "...";
  for (char& c : out) {
    if (is_control(c)) c = '?';
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `%XX` sequences decoded into `out`; false on a '%' not followed by two hex digits.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 2 < in.size() ? hex_digit(in[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_digit(in[i + 2]) : -1;
    if (lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Every byte but the URL's unreserved characters as %XX, so that the text parses back.
std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out += {'%', kHex[u >> 4], kHex[u & 15]};
    }
  }
  return out;
}

}  // namespace

RedisAddress RedisAddress::parse(std::string_view url) {
  auto bad = [&](const char* why) {
    return ConfigError("bad Redis URL '" + quoted(url) + "': " + why +
                       " (expected redis://[[user]:password@]host[:port][/db], "
                       "unix://[[user]:password@]/path/to/redis.sock[?db=N] or "
                       "redis-sentinel://[[user]:password@]host[:port],host[:port]/master[?db=N])");
  };
  auto number = [&](std::string_view text, int lo, int hi, const char* what) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < lo || value > hi) throw bad(what);
    return value;
  };
  if (starts_with(url, kTlsScheme)) {
    throw ConfigError("Redis URL '" + quoted(url) +
                      "': rediss:// (TLS) is not supported by this build (its hiredis has no TLS); reach Redis "
                      "on loopback, a Unix socket or a private network, or through a TLS tunnel such as stunnel "
                      "(see docs/operations.md, \"Redis credentials\")");
  }
  for (char c : url) {
    if (is_control(c)) throw bad("control characters must be percent-encoded");
  }
  const bool unix_socket = starts_with(url, kUnixScheme), sentinel = starts_with(url, kSentinelScheme);
  if (!unix_socket && !sentinel && !starts_with(url, kRedisScheme)) {
    throw bad("scheme must be redis://, unix:// or redis-sentinel://");
  }
  std::string_view rest = url.substr(unix_socket ? kUnixScheme.size()
                                     : sentinel  ? kSentinelScheme.size()
                                                 : kRedisScheme.size());

  RedisAddress address;
  // The credentials end at the last '@' before the first '/' (where a socket path or the
  // database begins).
  if (const auto at = rest.substr(0, rest.find('/')).rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), address.username) ||
        (colon != std::string_view::npos && !percent_decode(userinfo.substr(colon + 1), address.password))) {
      throw bad("bad percent-encoding in the credentials ('%' must be followed by two hex digits)");
    }
    rest = rest.substr(at + 1);
  }

  // "?db=N" at the end of `text` (a socket path, a master name) read into address.db and cut off.
  const auto take_db_option = [&](std::string_view& text) {
    if (auto query = text.find('?'); query != std::string_view::npos) {
      constexpr std::string_view db_key = "db=";
      const auto q = text.substr(query + 1);
      if (q.substr(0, db_key.size()) != db_key) throw bad("the only option is db=N");
      address.db = number(q.substr(db_key.size()), 0, 1'000'000, "database must be a non-negative number");
      text = text.substr(0, query);
    }
  };
  // host[:port] into an endpoint (port `default_port` when not given).
  const auto endpoint = [&](std::string_view text, int default_port) {
    RedisEndpoint e{std::string(text), default_port};
    if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
      if (colon + 1 == text.size()) throw bad("empty port");
      e.port = number(text.substr(colon + 1), 1, 65535, "port must be 1..65535");
      e.host = std::string(text.substr(0, colon));
    }
    if (e.host.empty()) throw bad("empty host");
    if (e.host.find_first_of("@?#/, ") != std::string::npos) throw bad("options are not supported");
    return e;
  };
  if (sentinel) {
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) throw bad("the primary's name must follow the sentinels (/<master>)");
    std::string_view name = rest.substr(slash + 1);
    take_db_option(name);
    if (name.empty()) throw bad("empty primary name");
    if (name.find_first_of("/?#@ ") != std::string_view::npos) throw bad("bad primary name");
    address.master_name = std::string(name);
    for (std::string_view hosts = rest.substr(0, slash);;) {
      const auto comma = hosts.find(',');
      if (address.sentinels.size() == kMaxSentinels) throw bad("too many sentinels");
      address.sentinels.push_back(endpoint(hosts.substr(0, comma), kSentinelPort));
      if (comma == std::string_view::npos) break;
      hosts = hosts.substr(comma + 1);
    }
    // Until the sentinels are asked: the first of them, so that nothing mistakes the default.
    address.host = address.sentinels.front().host;
    address.port = address.sentinels.front().port;
    return address;
  }
  if (unix_socket) {
    std::string_view path = rest;
    take_db_option(path);
    if (path.empty() || path.front() != '/') throw bad("socket path must be absolute");
    address.socket_path = std::string(path);
    return address;
  }
  std::string_view db;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (db.empty()) throw bad("empty database number");
  }
  std::string_view port;
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (port.empty()) throw bad("empty port");
  }
  if (rest.empty()) throw bad("empty host");
  if (rest.find_first_of("@?# ") != std::string_view::npos) throw bad("options are not supported");
  address.host = std::string(rest);
  if (!port.empty()) address.port = number(port, 1, 65535, "port must be 1..65535");
  if (!db.empty()) address.db = number(db, 0, 1'000'000, "database must be a non-negative number");
  return address;
}

std::string RedisAddress::url() const {
  std::string credentials;
  if (has_credentials()) credentials = percent_encode(username) + (password.empty() ? "" : ":***") + "@";
  if (uses_sentinel()) {
    std::string out = "redis-sentinel://" + credentials;
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      out += (i == 0 ? "" : ",") + sentinels[i].host + ":" + std::to_string(sentinels[i].port);
    }
    return out + "/" + master_name + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  if (!socket_path.empty()) {
    return "unix://" + credentials + socket_path + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  std::string out = "redis://" + credentials + host + ":" + std::to_string(port);
  if (db != 0) out += "/" + std::to_string(db);
  return out;
}

std::string RedisAddress::user_description() const {
  if (username.empty()) return "the default user";
  std::string out = "user '";
  for (char c : username) {
    if (is_control(c) || c == '\'' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto u = static_cast<unsigned char>(c);
      out += {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string read_password_file(const std::string& path, spdlog::logger& log) {
  auto fail = [&](const std::string& why) { return ConfigError("Redis password file '" + path + "': " + why); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    log.warn("Redis password file '{}' is open to its group or to others (mode {:04o}); chmod 600 it", path,
             st.st_mode & 07777);
  }
  std::string text;
  char buffer[4096];
  while (text.find('\n') == std::string::npos && text.size() < kPasswordFileLimit) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  const auto newline = text.find('\n');
  if (newline == std::string::npos && text.size() >= kPasswordFileLimit) throw fail("its first line is too long");
  text.resize(std::min(newline, text.size()));
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) throw fail("its first line is empty (the password is the file's first line)");
  return text;
}

RedisAddress redis_address(std::string_view url, const std::string& password_file, spdlog::logger& log) {
  RedisAddress address = RedisAddress::parse(url);
  if (!password_file.empty()) address.password = read_password_file(password_file, log);
  return address;
}

}  // namespace qg

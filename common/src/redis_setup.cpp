// The set-up commands of a Redis connection and the Sentinel lookup (redis_setup.hpp).
#include "redis_setup.hpp"

#include <hiredis.h>

#include <vector>

namespace qg::detail {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

std::optional<RedisValue> setup_command(redisContext* context, std::initializer_list<std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  void* raw = redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (raw == nullptr) return std::nullopt;
  RedisReplyPtr reply(static_cast<redisReply*>(raw));
  return RedisValue::from(*reply);
}

bool wants_credentials(std::string_view message) { return message.rfind("NOAUTH", 0) == 0; }

bool refuses_credentials(std::string_view message) {
  return message.rfind("WRONGPASS", 0) == 0 || wants_credentials(message) ||
         (message.rfind("ERR", 0) == 0 && message.find("password") != std::string_view::npos);
}

namespace {

// True for an AUTH reply that says the server has no password at all (Redis 6 on: "ERR AUTH
// <password> called without any password configured for the default user"; before: "ERR
// Client sent AUTH, but no password is set").
bool has_no_password(std::string_view message) {
  return message.find("without any password configured") != std::string_view::npos ||
         message.find("no password is set") != std::string_view::npos;
}

// An error reply as it may be quoted: whole, unless it holds the password (a proxy might
// echo it), then only its error code.
std::string quoted_reply(const RedisAddress& address, const std::string& reply) {
  const bool echoes = !address.password.empty() && reply.find(address.password) != std::string::npos;
  return echoes ? reply.substr(0, reply.find(' ')) : reply;
}

struct OneSentinel {
  std::optional<RedisEndpoint> primary;
  std::string why;
  bool refused = false;
};

OneSentinel ask_one(const RedisAddress& address, const RedisEndpoint& sentinel, std::chrono::milliseconds timeout) {
  OneSentinel out;
  RedisAddress at;
  at.host = sentinel.host;
  at.port = sentinel.port;
  RedisContextPtr context = connect_context(at, timeout);
  if (!context) return {std::nullopt, "out of memory", false};
  if (context->err != 0) return {std::nullopt, context->errstr, false};
  if (redisSetTimeout(context.get(), to_timeval(timeout)) != REDIS_OK)
    return {std::nullopt, "cannot set timeout", false};
  if (address.has_credentials()) {
    auto reply = address.username.empty() ? setup_command(context.get(), {"AUTH", address.password})
                                          : setup_command(context.get(), {"AUTH", address.username, address.password});
    if (!reply) return {std::nullopt, context->errstr, false};
    if (reply->is_error() && !has_no_password(reply->str())) {
      const bool refused = refuses_credentials(reply->str());
      return {std::nullopt,
              (refused ? "refused the credentials for " + address.user_description() + " (" : "AUTH failed (") +
                  quoted_reply(address, reply->str()) + ")",
              refused};
    }
  }
  auto reply = setup_command(context.get(), {"SENTINEL", "get-master-addr-by-name", address.master_name});
  if (!reply) return {std::nullopt, context->errstr, false};
  if (reply->is_error()) {
    const bool refused = wants_credentials(reply->str());
    return {std::nullopt, refused ? "wants credentials (" + reply->str() + ")" : quoted_reply(address, reply->str()),
            refused};
  }
  if (reply->is_nil()) return {std::nullopt, "knows no primary named '" + address.master_name + "'", false};
  try {
    if (!reply->is_array() || reply->size() != 2) throw StoreError("not a pair");
    RedisEndpoint primary{(*reply)[0].str(), static_cast<int>((*reply)[1].integer())};
    if (primary.host.empty() || primary.port < 1 || primary.port > 65535) throw StoreError("not an address");
    out.primary = std::move(primary);
  } catch (const StoreError&) {
    out.why = "answered something that is not an address";
  }
  return out;
}

}  // namespace

SentinelAnswer ask_sentinels(const RedisAddress& address, std::chrono::milliseconds timeout, std::size_t& first) {
  SentinelAnswer answer;
  const std::size_t n = address.sentinels.size();
  std::size_t answered = 0, refused = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (first + k) % n;
    const auto& sentinel = address.sentinels[i];
    auto one = ask_one(address, sentinel, timeout);
    if (one.primary) {
      first = i;
      answer.primary = std::move(one.primary);
      return answer;
    }
    // A sentinel that could not be reached says nothing about the credentials.
    if (one.refused) ++refused;
    if (one.refused || one.why.find("knows no primary") != std::string::npos) ++answered;
    answer.why += (answer.why.empty() ? "" : "; ") +
                  ("sentinel " + sentinel.host + ":" + std::to_string(sentinel.port) + " " + one.why);
  }
  answer.refused = answered > 0 && refused == answered;
  return answer;
}

std::optional<std::string> server_role(redisContext* context) {
  auto reply = setup_command(context, {"ROLE"});
  if (!reply) return std::nullopt;
  if (reply->is_error()) return "error: " + reply->str();
  if (!reply->is_array() || reply->size() == 0) return "unknown";
  const auto& role = (*reply)[0];
  if (role.type() != RedisValue::Type::string && role.type() != RedisValue::Type::status) return "unknown";
  return role.str();
}

}  // namespace qg::detail

#include "qg/common/redis.hpp"

#include <hiredis.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "qg/common/clock.hpp"
#include "redis_setup.hpp"

namespace qg {

// ---------------------------------------------------------------------------------------
// Handles and values

void RedisContextDeleter::operator()(redisContext* context) const noexcept { redisFree(context); }
void RedisReplyDeleter::operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }

RedisValue RedisValue::from(const redisReply& reply) {
  RedisValue v;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      v.type_ = Type::string;
      v.str_.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      v.type_ = Type::status;
      v.str_.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      v.type_ = Type::error;
      v.str_.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type_ = Type::integer;
      v.integer_ = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.type_ = Type::array;
      v.elements_.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) v.elements_.push_back(from(*reply.element[i]));
      break;
    default:
      v.type_ = Type::nil;
      break;
  }
  return v;
}

RedisValue RedisValue::make_string(std::string s, Type type) {
  RedisValue v;
  v.type_ = type;
  v.str_ = std::move(s);
  return v;
}
RedisValue RedisValue::make_integer(long long value) {
  RedisValue v;
  v.type_ = Type::integer;
  v.integer_ = value;
  return v;
}
RedisValue RedisValue::make_array(std::vector<RedisValue> elements) {
  RedisValue v;
  v.type_ = Type::array;
  v.elements_ = std::move(elements);
  return v;
}

const std::string& RedisValue::str() const {
  if (type_ != Type::string && type_ != Type::status && type_ != Type::error) {
    throw StoreError("Redis reply is not a string");
  }
  return str_;
}

std::optional<std::string> RedisValue::opt_str() const {
  if (type_ == Type::nil) return std::nullopt;
  return str();
}

long long RedisValue::integer() const {
  if (type_ == Type::integer) return integer_;
  if (type_ == Type::string) {
    long long value = 0;
    auto [ptr, ec] = std::from_chars(str_.data(), str_.data() + str_.size(), value);
    if (ec == std::errc() && ptr == str_.data() + str_.size()) return value;
  }
  throw StoreError("Redis reply is not an integer");
}

const std::vector<RedisValue>& RedisValue::array() const {
  if (type_ != Type::array && type_ != Type::nil) throw StoreError("Redis reply is not an array");
  return elements_;
}

void throw_reply_error(const std::string& message) {
  if (is_missing_script(message)) throw RedisNoScript(message);
  // Refusals of a Redis that is not ready (still loading its AOF after a restart, busy with a
  // long script, a replica or a primary without its replicas during failover): the command
  // was not executed and can be retried, like a dropped connection.
  for (const char* transient : {"LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "READONLY ", "NOREPLICAS "}) {
    if (message.rfind(transient, 0) == 0) throw StoreUnavailable("Redis not ready: " + message);
  }
  // Redis at maxmemory refuses every write with OOM (a script or transaction holding one
  // does not run at all; EXEC then answers EXECABORT, and the store passes the queued
  // command's OOM here instead).
  if (message.rfind("OOM ", 0) == 0) {
    throw StoreFull(
        "the store is full: Redis reached its maxmemory and refuses writes; nothing was written. Raise Redis's "
        "maxmemory, lower qg-scheduler's --retention / --dead-retention so finished jobs go sooner, or drain the "
        "queue (cancel or run queued work), then retry (Redis said: " +
        message + ")");
  }
  throw StoreError("Redis error: " + message);
}

// ---------------------------------------------------------------------------------------
// RedisConnection

namespace {
using detail::refuses_credentials;
using detail::setup_command;
using detail::to_timeval;
using detail::wants_credentials;

// Appends one command to hiredis's output buffer in the protocol's form, written here:
// hiredis's own formatting (redisAppendCommandArgv) formats every argument's header with a
// printf-like call and copies the command twice, which cost a client sending many small
// arguments more than the rest of the request. False when hiredis fails.
template <class Range>
bool append_command(redisContext* context, const Range& args) {
  thread_local std::string buffer;
  buffer.clear();
  std::size_t argc = 0;
  std::size_t bytes = 16;
  for (const auto& a : args) {
    ++argc;
    bytes += a.size() + 24;
  }
  buffer.reserve(bytes);
  char digits[24];
  const auto header = [&](char kind, std::size_t n) {
    buffer.push_back(kind);
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    buffer.append(digits, end);
    buffer.append("\r\n", 2);
  };
  header('*', argc);
  for (const auto& a : args) {
    header('$', a.size());
    buffer.append(a.data(), a.size());
    buffer.append("\r\n", 2);
  }
  return redisAppendFormattedCommand(context, buffer.data(), buffer.size()) == REDIS_OK;
}

// Appends every command to hiredis's output buffer; false when hiredis fails.
template <class Commands>
bool append_all(redisContext* context, const Commands& commands) {
  for (const auto& c : commands) {
    if (!append_command(context, c)) return false;
  }
  return true;
}

}  // namespace

RedisContextPtr connect_context(const RedisAddress& address, std::chrono::milliseconds timeout) {
  const timeval tv = to_timeval(timeout);
  return RedisContextPtr(address.socket_path.empty() ? redisConnectWithTimeout(address.host.c_str(), address.port, tv)
                                                     : redisConnectUnixWithTimeout(address.socket_path.c_str(), tv));
}

RedisConnection::RedisConnection(RedisAddress address, RedisOptions options, std::shared_ptr<spdlog::logger> logger)
    : address_(std::move(address)), options_(options), logger_(std::move(logger)) {}

RedisConnection::~RedisConnection() = default;

int RedisConnection::fd() const { return context_ ? context_->fd : -1; }

void RedisConnection::disconnect() {
  lose_deferred("connection dropped");
  context_.reset();
}

void RedisConnection::lose_deferred(const std::string& why) {
  for (; unread_deferred_ > 0; --unread_deferred_) read_deferred_.push_back({std::nullopt, why});
}

void RedisConnection::read_deferred_aside() {
  while (unread_deferred_ > 0) {
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail_io("read");
    read_deferred_.push_back({take(raw), {}});
    note_reply(*read_deferred_.back().value);
    --unread_deferred_;
  }
}

void RedisConnection::connect() {
  lose_deferred("reconnected");
  context_.reset();
  stale_primary_ = false;
  auto back_off = [&] {
    backoff_ = std::clamp(backoff_ * 2, options_.reconnect_min, options_.reconnect_max);
    next_attempt_ms_ = steady_ms() + backoff_.count();
  };
  auto failed = [&](const std::string& why) {
    back_off();
    if (!was_lost_) {
      logger_->warn("redis {} unreachable: {}", address_.url(), why);
      was_lost_ = true;
    }
    throw StoreUnavailable("redis " + address_.url() + " unreachable: " + why);
  };
  // An error reply to quote: whole, unless it holds the password (no Redis echoes it, but a
  // proxy might), then only its error code.
  auto quoted = [&](const std::string& reply) {
    const bool echoes = !address_.password.empty() && reply.find(address_.password) != std::string::npos;
    return echoes ? reply.substr(0, reply.find(' ')) : reply;
  };
  // Redis refused the credentials, or wants some: `reply` is its error.
  auto refused = [&](const std::string& reply) {
    back_off();
    const std::string shown = quoted(reply);
    const std::string why = "Redis at " + address_.url() +
                            (address_.has_credentials() ? " refused the credentials for " + address_.user_description()
                                                        : " requires authentication and no credentials were given") +
                            " (" + shown + ")";
    if (generation_ == 0) throw RedisAuthError(why);
    if (!was_lost_) {
      logger_->error("{}; retrying", why);
      was_lost_ = true;
    }
    throw StoreUnavailable(why);
  };
  // Behind Sentinel: where the primary is now, asked on every (re)connect, so that a
  // connection lost to a failover finds the promoted replica.
  RedisAddress target = address_;
  if (address_.uses_sentinel()) {
    auto answer = detail::ask_sentinels(address_, options_.connect_timeout, first_sentinel_);
    if (!answer.primary && answer.refused) refused("sentinels: " + answer.why);
    if (!answer.primary) failed("no sentinel names a primary: " + answer.why);
    target.host = answer.primary->host;
    target.port = answer.primary->port;
    target.sentinels.clear();
  }
  const std::string at = target.host + ":" + std::to_string(target.port);
  RedisContextPtr context = connect_context(target, options_.connect_timeout);
  if (!context) failed("out of memory");
  if (context->err != 0) failed(address_.uses_sentinel() ? "primary " + at + ": " + context->errstr : context->errstr);
  if (options_.command_timeout.count() > 0 &&
      redisSetTimeout(context.get(), to_timeval(options_.command_timeout)) != REDIS_OK) {
    failed("cannot set timeout");
  }
  // Credentials before anything else: a Redis with a password answers every other command
  // with NOAUTH until then.
  if (address_.has_credentials()) {
    auto reply = address_.username.empty()
                     ? setup_command(context.get(), {"AUTH", address_.password})
                     : setup_command(context.get(), {"AUTH", address_.username, address_.password});
    if (!reply) failed(context->errstr);
    if (reply->is_error() && refuses_credentials(reply->str())) refused(reply->str());
    if (reply->is_error()) failed(quoted(reply->str()));
  }
  if (address_.uses_sentinel()) {
    // The sentinels' answer may be stale for a moment around a failover: only a server that
    // says it is the primary is used (a replica would refuse every write with READONLY).
    const auto role = detail::server_role(context.get());
    if (!role) failed("primary " + at + ": " + context->errstr);
    if (role->rfind("error: NOAUTH", 0) == 0) refused(role->substr(7));
    if (*role != "master") failed(at + " is not the primary (its ROLE is " + *role + ")");
    if (at != primary_) {
      logger_->info("redis {}: the primary is {}{}", address_.url(), at,
                    primary_.empty() ? "" : " (was " + primary_ + ")");
      primary_ = at;
    }
  }
  if (address_.db != 0) {
    const std::string db = std::to_string(address_.db);
    auto reply = setup_command(context.get(), {"SELECT", db});
    if (!reply) failed(context->errstr);
    if (reply->is_error()) {
      if (wants_credentials(reply->str())) refused(reply->str());
      throw StoreError("redis " + address_.url() + ": SELECT failed: " + reply->str());
    }
  } else if (!address_.has_credentials()) {
    // Nothing sent yet: a PING finds out whether this Redis wants credentials, so that this
    // shows here, once, and not as the error reply of some later command.
    auto reply = setup_command(context.get(), {"PING"});
    if (!reply) failed(context->errstr);
    if (reply->is_error() && wants_credentials(reply->str())) refused(reply->str());
  }
  context_ = std::move(context);
  ++generation_;
  next_attempt_ms_ = 0;
  backoff_ = std::chrono::milliseconds(0);
  if (was_lost_) {
    logger_->info("redis {} reconnected", address_.url());
    was_lost_ = false;
  }
}

void RedisConnection::note_reply(const RedisValue& value) {
  if (value.is_error() && address_.uses_sentinel() && value.str().rfind("READONLY", 0) == 0) stale_primary_ = true;
}

void RedisConnection::ensure_connected() {
  if (context_ && stale_primary_) {
    // A write reached a replica: the server this connection chose is no longer the primary.
    logger_->warn("redis {}: {} is no longer the primary (READONLY); asking the sentinels again", address_.url(),
                  primary_);
    disconnect();
    next_attempt_ms_ = 0;
  }
  if (context_) return;
  if (steady_ms() < next_attempt_ms_) {
    throw StoreUnavailable("redis " + address_.url() + " unavailable (next reconnect attempt in " +
                           std::to_string(next_attempt_ms_ - steady_ms()) + " ms)");
  }
  connect();
}

void RedisConnection::fail_io(const std::string& what) {
  std::string why = context_ && context_->errstr[0] != '\0' ? context_->errstr : "connection lost";
  lose_deferred("redis " + address_.url() + ": " + what + " failed: " + why);
  context_.reset();
  backoff_ = options_.reconnect_min;
  next_attempt_ms_ = 0;  // the first reconnect may be tried at once
  if (!was_lost_) {
    logger_->warn("redis {} connection lost during {}: {}", address_.url(), what, why);
    was_lost_ = true;
  }
  throw StoreUnavailable("redis " + address_.url() + ": " + what + " failed: " + why);
}

RedisValue RedisConnection::take(void* raw) {
  RedisReplyPtr reply(static_cast<redisReply*>(raw));
  return RedisValue::from(*reply);
}

RedisValue RedisConnection::command(std::span<const std::string_view> args) {
  ensure_connected();
  void* raw = nullptr;
  if (!append_command(context_.get(), args)) fail_io("command");
  // Sent before any deferred replies are read: one round trip still.
  if (unread_deferred_ > 0) read_deferred_aside();
  if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail_io("command");
  RedisValue value = take(raw);
  note_reply(value);
  if (value.is_error()) throw_reply_error(value.str());
  return value;
}

RedisValue RedisConnection::command(std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

RedisValue RedisConnection::command(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  return command(std::span<const std::string_view>(views));
}

std::vector<RedisValue> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  ensure_connected();
  if (!append_all(context_.get(), commands)) fail_io("pipeline");
  return read_pipeline(commands.size());
}

std::vector<RedisValue> RedisConnection::pipeline(std::span<const std::span<const std::string_view>> commands) {
  ensure_connected();
  if (!append_all(context_.get(), commands)) fail_io("pipeline");
  return read_pipeline(commands.size());
}

std::vector<RedisValue> RedisConnection::read_pipeline(std::size_t n) {
  read_deferred_aside();
  std::vector<RedisValue> replies;
  replies.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail_io("pipeline");
    replies.push_back(take(raw));
    note_reply(replies.back());
  }
  return replies;
}

void RedisConnection::write_out() {
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_.get(), &done) != REDIS_OK) fail_io("send");
  }
}

void RedisConnection::send(const std::vector<std::string>& args) {
  ensure_connected();
  if (!append_command(context_.get(), args)) fail_io("send");
  write_out();
}

void RedisConnection::send_deferred(std::span<const std::string_view> args) {
  send_deferred(std::span<const std::span<const std::string_view>>(&args, 1));
}

void RedisConnection::send_deferred(std::span<const std::span<const std::string_view>> commands) {
  ensure_connected();
  if (!append_all(context_.get(), commands)) fail_io("send");
  write_out();
  unread_deferred_ += commands.size();
}

std::optional<RedisConnection::DeferredReply> RedisConnection::take_deferred(bool wait) {
  auto pop = [&] {
    auto front = std::move(read_deferred_.front());
    read_deferred_.pop_front();
    return front;
  };
  if (!read_deferred_.empty()) return pop();
  if (unread_deferred_ == 0) return std::nullopt;
  try {
    void* raw = nullptr;
    if (wait) {
      if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail_io("read");
    } else {
      raw = reply_if_in();
      if (raw == nullptr) return std::nullopt;
    }
    --unread_deferred_;
    DeferredReply reply{take(raw), {}};
    note_reply(*reply.value);
    return reply;
  } catch (const StoreUnavailable&) {
    return pop();  // fail_io turned every unread reply into a lost one
  }
}

RedisValue RedisConnection::read() {
  ensure_connected();
  void* raw = nullptr;
  if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail_io("read");
  return take(raw);
}

void* RedisConnection::reply_if_in() {
  void* raw = nullptr;
  if (redisGetReplyFromReader(context_.get(), &raw) != REDIS_OK) fail_io("read");
  if (raw != nullptr) return raw;
  pollfd p{context_->fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return nullptr;
  // Readable: one read() cannot block (data or EOF is waiting).
  if (redisBufferRead(context_.get()) != REDIS_OK) fail_io("read");
  if (redisGetReplyFromReader(context_.get(), &raw) != REDIS_OK) fail_io("read");
  return raw;
}

std::optional<RedisValue> RedisConnection::try_read() {
  if (!context_) return std::nullopt;
  void* raw = reply_if_in();
  if (raw != nullptr) return take(raw);
  return std::nullopt;
}

}  // namespace qg

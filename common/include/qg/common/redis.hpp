#pragma once
// A Redis connection on hiredis 0.14 (RESP2). One RAII owner per hiredis handle; every
// hiredis error is translated into the qg::Error hierarchy in one place (redis.cpp):
//
//   I/O error, timeout, connection refused/closed  -> StoreUnavailable (connection marked broken)
//   a Redis error reply                             -> StoreError
//   a NOSCRIPT or "Function not found" reply        -> RedisNoScript (a StoreError), so callers
//                                                      can load their scripts and retry
//   credentials refused, or wanted and not given    -> RedisAuthError (a ConfigError) on a
//                                                      connection's first connect, else
//                                                      StoreUnavailable
//
// Every (re)connect authenticates first (AUTH, when the address has credentials), then
// selects the database (SELECT, when not 0).
//
// Behind Sentinel (redis-sentinel://, RedisAddress::uses_sentinel()), every (re)connect first
// asks the sentinels where the primary is, connects there, and checks with ROLE that it is
// the primary (a replica, or no answer, is StoreUnavailable and retried after the back-off).
// A failover is followed without a subscription to the sentinels: the old primary's
// connection breaks (it died, or Sentinel kills its clients as it demotes it) or a write to
// it is refused with READONLY, and either drops the connection, so the next call asks the
// sentinels again. Credentials refused by every sentinel that answered are a RedisAuthError
// on the first connect, as for a plain address. A broken connection reconnects on the next
// call, no sooner than its back-off allows (capped exponential); until then calls throw
// StoreUnavailable at once. A call never waits longer than the connect timeout to reconnect,
// nor longer than the command timeout for a reply. Not thread-safe: one caller at a time per
// connection.

#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "qg/common/errors.hpp"
#include "qg/common/redis_address.hpp"

struct redisContext;
struct redisReply;

namespace qg {

struct RedisOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{10000};  // 0 = wait for ever
  std::chrono::milliseconds reconnect_min{50};       // first back-off after a failed reconnect
  std::chrono::milliseconds reconnect_max{2000};     // back-off cap
};

// Redis refused the address's credentials (WRONGPASS, a password where none is configured),
// or wants credentials that were not given (NOAUTH). A ConfigError: the process cannot go on
// without a change of its configuration, and ends at start instead of retrying for ever. The
// text names the address (masked) and the user, never the password.
class RedisAuthError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// The script named by EVALSHA, or the function named by FCALL, is not on the server (a
// restart without persistence, a failover, SCRIPT FLUSH or FUNCTION FLUSH).
class RedisNoScript : public StoreError {
 public:
  using StoreError::StoreError;
};

// True for the error reply of a call to a script or function the server does not have.
inline bool is_missing_script(std::string_view message) {
  return message.rfind("NOSCRIPT", 0) == 0 || message.rfind("ERR Function not found", 0) == 0;
}

struct RedisContextDeleter {
  void operator()(redisContext* context) const noexcept;
};
struct RedisReplyDeleter {
  void operator()(redisReply* reply) const noexcept;
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A hiredis context connected (or not: check its err) to the address, over TCP or its Unix
// socket, within `timeout`. Null only when out of memory. It neither authenticates nor
// selects the database: RedisConnection does both.
RedisContextPtr connect_context(const RedisAddress& address, std::chrono::milliseconds timeout);

// A reply converted to an owned value (the hiredis reply is freed at once).
class RedisValue {
 public:
  enum class Type { nil, string, integer, array, status, error };

  RedisValue() = default;
  static RedisValue from(const redisReply& reply);
  static RedisValue make_string(std::string s, Type type = Type::string);
  static RedisValue make_integer(long long v);
  static RedisValue make_array(std::vector<RedisValue> elements);

  Type type() const { return type_; }
  bool is_nil() const { return type_ == Type::nil; }
  bool is_error() const { return type_ == Type::error; }
  bool is_array() const { return type_ == Type::array; }
  // The text of a string, status or error reply. Throws StoreError for other types.
  const std::string& str() const;
  // Empty optional for nil; the text for string/status; throws StoreError otherwise.
  std::optional<std::string> opt_str() const;
  // An integer reply, or a string reply holding a decimal integer. Throws StoreError otherwise.
  long long integer() const;
  // The elements of an array reply; empty for nil. Throws StoreError for other types.
  const std::vector<RedisValue>& array() const;
  std::size_t size() const { return elements_.size(); }
  const RedisValue& operator[](std::size_t i) const { return elements_.at(i); }

 private:
  Type type_ = Type::nil;
  std::string str_;
  long long integer_ = 0;
  std::vector<RedisValue> elements_;
};

// Throws the matching exception for an error reply: RedisNoScript, StoreUnavailable for a
// Redis that is not ready (LOADING, BUSY, MASTERDOWN, TRYAGAIN, READONLY, NOREPLICAS: not
// executed, retry later), StoreFull for OOM (at maxmemory: not executed), else StoreError.
[[noreturn]] void throw_reply_error(const std::string& message);

// One connection to Redis (TCP or a Unix socket). A process using one must ignore SIGPIPE,
// as qg-broker and qg-scheduler do: a write to a server that has gone raises it (at once on
// a Unix socket), and the write's error is what makes the connection reconnect.
class RedisConnection {
 public:
  RedisConnection(RedisAddress address, RedisOptions options, std::shared_ptr<spdlog::logger> logger);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects now, ignoring any back-off, and authenticates. Throws StoreUnavailable, or
  // RedisAuthError when Redis refuses the credentials (or wants some) on this connection's
  // first connect. On a later reconnect a refusal is StoreUnavailable (logged as an error
  // once) and retried after the back-off: a running process keeps serving what it can
  // while an operator puts the credentials right.
  void connect();
  bool connected() const { return static_cast<bool>(context_); }
  // The socket, -1 when not connected.
  int fd() const;
  // Rises by one on every successful (re)connect; lets owners redo per-connection set-up
  // (SUBSCRIBE) after a reconnect.
  std::uint64_t generation() const { return generation_; }
  // Steady-clock ms before which no reconnect is tried (0 when connected or never failed).
  std::int64_t next_attempt_ms() const { return next_attempt_ms_; }
  const RedisAddress& address() const { return address_; }

  // One command, binary-safe. Throws StoreUnavailable, RedisNoScript, StoreError.
  RedisValue command(std::span<const std::string_view> args);
  RedisValue command(std::initializer_list<std::string_view> args);
  RedisValue command(const std::vector<std::string>& args);

  // Sends every command, then reads every reply (one round trip). Error replies are
  // returned as values (is_error()); I/O failures throw StoreUnavailable.
  std::vector<RedisValue> pipeline(const std::vector<std::vector<std::string>>& commands);
  // The same for commands given as views of their arguments, which are not copied.
  std::vector<RedisValue> pipeline(std::span<const std::span<const std::string_view>> commands);

  // Subscriber use: sends a command without reading its reply.
  void send(const std::vector<std::string>& args);
  // Reads one reply, blocking up to the command timeout.
  RedisValue read();
  // A reply already buffered or readable on the socket now, without blocking; empty optional
  // when none is complete yet.
  std::optional<RedisValue> try_read();

  // Deferred replies, for a caller that goes on with other work while Redis runs a command.
  // send_deferred() writes a command and returns; its reply is kept for take_deferred(), in
  // send order. Redis runs commands in the order sent, so any later command sees a deferred
  // one applied; a later command() or pipeline() reads past the deferred replies before its
  // own (keeping them aside), so it does not wait for them to be taken. When the connection
  // breaks before a deferred reply was read, that reply is taken as lost: the command may or
  // may not have run.
  struct DeferredReply {
    std::optional<RedisValue> value;  // empty: lost
    std::string lost;                 // why, when lost
  };
  // Throws StoreUnavailable when the command cannot be written (then it was not sent).
  void send_deferred(std::span<const std::string_view> args);
  // Several commands, written together; one deferred reply each.
  void send_deferred(std::span<const std::span<const std::string_view>> commands);
  // The oldest deferred reply not yet taken: at once when it is in; otherwise, with wait, once
  // it arrives (up to the command timeout, then lost), without wait an empty optional.
  std::optional<DeferredReply> take_deferred(bool wait);
  // Deferred commands sent and not yet taken.
  std::size_t deferred() const { return unread_deferred_ + read_deferred_.size(); }
  // True when take_deferred() has a reply without reading the socket.
  bool deferred_ready() const { return !read_deferred_.empty(); }

  // Drops the connection (next call reconnects, subject to back-off).
  void disconnect();

 private:
  void ensure_connected();
  // Notes a READONLY reply from the primary chosen through Sentinel (it was demoted): the
  // next call reconnects through the sentinels.
  void note_reply(const RedisValue& value);
  [[noreturn]] void fail_io(const std::string& what);
  RedisValue take(void* reply);
  // A reply already buffered or readable now (connected only), else nullptr; never blocks.
  void* reply_if_in();
  // Writes everything hiredis holds for the socket (blocking up to the command timeout).
  void write_out();
  void read_deferred_aside();
  // After n commands were appended: the deferred replies before them set aside, their n read.
  std::vector<RedisValue> read_pipeline(std::size_t n);
  void lose_deferred(const std::string& why);

  RedisAddress address_;
  RedisOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  RedisContextPtr context_;
  std::uint64_t generation_ = 0;
  std::int64_t next_attempt_ms_ = 0;
  std::chrono::milliseconds backoff_{0};
  bool was_lost_ = false;
  std::size_t first_sentinel_ = 0;           // the sentinel asked first: the last that answered
  std::string primary_;                      // host:port of the primary last connected to (Sentinel)
  bool stale_primary_ = false;               // a READONLY reply came from it
  std::size_t unread_deferred_ = 0;          // sent, reply not read from the socket yet
  std::deque<DeferredReply> read_deferred_;  // read (or lost), not taken yet
};

}  // namespace qg

#pragma once
// What RedisConnection does on a connection before it is handed out (redis.cpp), and asking
// Redis Sentinel where a primary is (redis_setup.cpp). Internal to qg_common.

#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "qg/common/redis.hpp"

namespace qg::detail {

timeval to_timeval(std::chrono::milliseconds ms);

// One command on a connection being set up, its reply read at once; empty when the
// connection failed (the context's errstr says why).
std::optional<RedisValue> setup_command(redisContext* context, std::initializer_list<std::string_view> args);

// True for the reply of a Redis that wants credentials before this command.
bool wants_credentials(std::string_view message);

// True for an AUTH reply that turns the credentials down: WRONGPASS (Redis 6 on), "ERR
// invalid password" (before 6), or a password sent to a Redis without one. Other error
// replies (ERR max number of clients reached) say nothing about the credentials.
bool refuses_credentials(std::string_view message);

// What the sentinels said of the primary named address.master_name.
struct SentinelAnswer {
  std::optional<RedisEndpoint> primary;  // empty: no sentinel named it
  std::string why;                       // when empty: what each sentinel said, for the log
  bool refused = false;                  // every sentinel that answered refused the credentials
};

// Asks address.sentinels, one at a time starting with the one at `first` (the last that
// answered), for the primary's address (SENTINEL get-master-addr-by-name), each within
// `timeout` to connect and again to answer. A sentinel is sent the address's credentials
// when there are any; one without a password (it answers AUTH with "no password
// configured") is asked without. `first` is set to the sentinel that answered. Never throws
// for what a sentinel does; the password never appears in `why`.
SentinelAnswer ask_sentinels(const RedisAddress& address, std::chrono::milliseconds timeout, std::size_t& first);

// The role a server reports (ROLE's first element: "master", "slave", "sentinel"), or the
// error it answered with, prefixed "error: ". Empty when the connection failed.
std::optional<std::string> server_role(redisContext* context);

}  // namespace qg::detail

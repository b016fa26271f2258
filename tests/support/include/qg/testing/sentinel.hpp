#pragma once
// A Redis primary, one replica and three Redis Sentinels on free loopback ports, each in its
// own temporary directory, for tests of failover. The sentinels watch the primary under the
// name "qgjob" with a quorum of 2 and short timings, so that a primary killed -9 is replaced
// within a few seconds. Everything is killed by the destructor.
//
// The sentinels are $QG_REDIS_SENTINEL or `redis-sentinel` from PATH (Debian's
// redis-sentinel package); the servers as RedisServer starts them. Questions to the servers
// and sentinels go through `redis-cli` (redis-tools).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "qg/testing/process.hpp"

namespace qg::testing {

struct SentinelSetOptions {
  std::string password;            // non-empty: requirepass on both servers (and masterauth)
  bool sentinel_password = false;  // with password: the sentinels require it too
  int down_after_ms = 1000;        // a primary silent this long is down
  int failover_timeout_ms = 3000;
  std::vector<std::string> redis_args;  // extra redis-server arguments for both servers
};

class RedisSentinelSet {
 public:
  static constexpr const char* kMasterName = "qgjob";

  // Ready when it returns: the replica in sync, and every sentinel knows the replica and the
  // other two sentinels (without which it could not fail over). Throws std::runtime_error
  // naming the log to read when that does not happen within 30 s.
  explicit RedisSentinelSet(SentinelSetOptions options = {});
  ~RedisSentinelSet();
  RedisSentinelSet(const RedisSentinelSet&) = delete;
  RedisSentinelSet& operator=(const RedisSentinelSet&) = delete;

  // redis-sentinel://[userinfo@]127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/qgjob
  std::string url(const std::string& userinfo = {}) const;
  // The server that was primary at start (0) and its replica (1).
  RedisServer& server(std::size_t index) { return *servers_.at(index); }
  int sentinel_port(std::size_t index) const { return sentinel_ports_.at(index); }
  // The port of the primary as sentinel `index` names it; 0 when it does not answer.
  int primary_port(std::size_t index = 0) const;
  // kill -9 of the server that is primary at start.
  void kill_primary();
  // Waits until every sentinel names `port` as the primary and that server says it is one;
  // false at the deadline.
  bool wait_for_primary(int port, std::chrono::milliseconds timeout) const;
  // `redis-cli` against 127.0.0.1:port (with the password when there is one); its output.
  std::string cli(int port, const std::vector<std::string>& args, bool with_password = true) const;
  const std::string& dir() const { return dir_.path(); }

 private:
  void start_sentinel(std::size_t index);
  bool ready() const;

  SentinelSetOptions options_;
  TempDir dir_;
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::vector<int> sentinel_ports_;
  std::vector<std::unique_ptr<ChildProcess>> sentinels_;
};

}  // namespace qg::testing

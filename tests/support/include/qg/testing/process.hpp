#pragma once
// Test support: real child processes, a real redis-server on a free port, and waiting on a
// condition with a deadline instead of sleeping. Every owner cleans up in its destructor.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qg::testing {

// A child process started with fork/exec in its own process group. stdout and stderr go to
// `log_path` (appended) when given, else are inherited. The destructor kills the group
// (SIGKILL) and reaps it.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log_path = {},
               std::map<std::string, std::string> extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;

  int pid() const { return pid_; }
  // Sends a signal to the child's process group.
  void signal(int sig) const;
  // Waits for exit up to `timeout`; the exit code (128+signal when killed), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  bool reaped_ = false;
};

// Runs a command to completion, capturing stdout (and stderr when merge_stderr). Returns the
// exit code, or -1 when it did not finish within `timeout` (then it is killed).
struct CommandResult {
  int exit_code = -1;
  std::string output;
  std::string error;
  std::chrono::milliseconds elapsed{0};
};
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& extra_env = {});

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// Polls `condition` every `step` until it is true or `timeout` passes. Returns its last value.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(5));

// A fresh empty directory under $TMPDIR (removed by the destructor).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A real redis-server on a free port and a Unix socket, in its own temporary directory,
// persistence off unless `aof` is set (then with `appendfsync`: everysec or always). Ready
// (answers PING) when the constructor returns; killed by the destructor. The binary is
// $QG_REDIS_SERVER or `redis-server` from PATH. `extra_args` go to redis-server after the
// others (e.g. {"--requirepass", "pw"}); a server that wants a password counts as ready when
// it answers PING with NOAUTH.
//
// A test that kills Redis (SIGKILL) and asserts that no acknowledged write is lost needs
// `always`: with everysec, while a background fsync is slow (a busy disk), Redis postpones
// its AOF writes for up to 2 s and keeps answering, so a kill in that window loses writes it
// acknowledged.
class RedisServer {
 public:
  explicit RedisServer(bool aof = false, std::string appendfsync = "everysec",
                       std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // The same server on its Unix socket (in its directory, so it survives restart()).
  std::string socket_path() const { return dir_.path() + "/redis.sock"; }
  std::string socket_url() const { return "unix://" + socket_path(); }
  // The server's process id (-1 while it is not running).
  int pid() const { return process_ ? process_->pid() : -1; }
  // Kills with SIGKILL and starts again on the same port and directory (AOF replays).
  void restart();
  void kill();
  void start();

 private:
  TempDir dir_;
  int port_;
  bool aof_;
  std::string appendfsync_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<ChildProcess> process_;
};

// Directory holding the built executables (build/bin), from $QG_BIN_DIR.
std::string bin_dir();
// The repository's source directory, from $QG_SOURCE_DIR.
std::string source_dir();

}  // namespace qg::testing

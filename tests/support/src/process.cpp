#include "qg/testing/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace qg::testing {

namespace {

std::int64_t now_steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path,
                           std::map<std::string, std::string> extra_env) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    if (!log_path.empty()) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    exec_child(argv, extra_env);
  }
  setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), exit_code_(other.exit_code_), reaped_(other.reaped_) {
  other.pid_ = -1;
  other.reaped_ = true;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    this->~ChildProcess();
    pid_ = other.pid_;
    exit_code_ = other.exit_code_;
    reaped_ = other.reaped_;
    other.pid_ = -1;
    other.reaped_ = true;
  }
  return *this;
}

void ChildProcess::signal(int sig) const {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, sig);
    ::kill(pid_, sig);
  }
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return exit_code_;
  auto deadline = now_steady_ms() + timeout.count();
  while (true) {
    int status = 0;
    int r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_code_ = decode_status(status);
      // Whatever the child left in its group goes too.
      ::kill(-pid_, SIGKILL);
      return exit_code_;
    }
    if (now_steady_ms() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool ChildProcess::running() {
  if (reaped_) return false;
  return wait(std::chrono::milliseconds(0)) == -1;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& extra_env) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  auto start = now_steady_ms();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[0]);
    close(err_pipe[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    exec_child(argv, extra_env);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  auto deadline = start + timeout.count();
  std::array<char, 4096> buf{};
  bool done = false;
  int status = 0;
  auto drain = [&] {
    for (auto [fd, target] : {std::pair{out_pipe[0], &result.output}, std::pair{err_pipe[0], &result.error}}) {
      while (true) {
        auto n = read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        target->append(buf.data(), static_cast<std::size_t>(n));
      }
    }
  };
  while (!done) {
    drain();
    int r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      done = true;
      result.exit_code = decode_status(status);
      break;
    }
    if (now_steady_ms() >= deadline) {
      ::kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  drain();
  close(out_pipe[0]);
  close(err_pipe[0]);
  result.elapsed = std::chrono::milliseconds(now_steady_ms() - start);
  return result;
}

namespace {

bool bindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The first port the kernel hands out for outgoing connections (ip_local_port_range).
int ephemeral_floor() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0;
  if (in >> lo && lo > 0) return lo;
  return 32768;
}

}  // namespace

// A port from below the ephemeral range: a port the kernel picked for bind(0) is in that
// range, and any connect() (to Redis, between brokers and workers) may take it before the
// server binds it. Below the range only another test's choice can collide, and the random
// start makes that unlikely.
int free_port() {
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  const int hi = ephemeral_floor();
  const int lo = 10000;
  if (hi - lo >= 1000) {
    std::uniform_int_distribution<int> pick(lo, hi - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int port = pick(rng);
      if (bindable(port)) return port;
    }
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  auto deadline = now_steady_ms() + timeout.count();
  while (true) {
    if (condition()) return true;
    if (now_steady_ms() >= deadline) return condition();
    std::this_thread::sleep_for(step);
  }
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/qgtest-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

bool redis_answers(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char ping[] = "PING\r\n";
    if (write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1)) {
      char reply[16] = {};
      timeval tv{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      auto n = read(fd, reply, sizeof reply - 1);
      ok = n > 0 && (std::strncmp(reply, "+PONG", 5) == 0 || std::strncmp(reply, "-NOAUTH", 7) == 0);
    }
  }
  close(fd);
  return ok;
}

}  // namespace

RedisServer::RedisServer(bool aof, std::string appendfsync, std::vector<std::string> extra_args)
    : port_(free_port()), aof_(aof), appendfsync_(std::move(appendfsync)), extra_args_(std::move(extra_args)) {
  // The port was free when chosen; another test's process may take it before Redis binds it.
  // Then Redis exits at once, and starts again on a new port (at most 5 times).
  for (int attempt = 1;; ++attempt) {
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      std::ifstream log(dir_.path() + "/redis.log");
      const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      if (attempt == 5 || text.find("Address already in use") == std::string::npos) throw;
      process_.reset();
      std::remove((dir_.path() + "/redis.log").c_str());
      port_ = free_port();
    }
  }
}

RedisServer::~RedisServer() = default;

void RedisServer::start() {
  const char* binary = std::getenv("QG_REDIS_SERVER");
  std::vector<std::string> argv = {binary != nullptr ? binary : "redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--unixsocket",
                                   socket_path(),
                                   "--unixsocketperm",
                                   "700",
                                   "--dir",
                                   dir_.path(),
                                   "--save",
                                   "",
                                   "--appendonly",
                                   aof_ ? "yes" : "no",
                                   "--appendfsync",
                                   appendfsync_,
                                   "--daemonize",
                                   "no"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<ChildProcess>(argv, dir_.path() + "/redis.log");
  wait_until([&] { return redis_answers(port_) || !process_->running(); }, std::chrono::seconds(10),
             std::chrono::milliseconds(10));
  if (!redis_answers(port_)) {
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + " (see " + dir_.path() +
                             "/redis.log)");
  }
}

void RedisServer::kill() {
  if (process_) {
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(5));
    process_.reset();
  }
}

void RedisServer::restart() {
  kill();
  start();
}

std::string bin_dir() {
  const char* dir = std::getenv("QG_BIN_DIR");
  return dir != nullptr ? dir : QG_DEFAULT_BIN_DIR;
}

std::string source_dir() {
  const char* dir = std::getenv("QG_SOURCE_DIR");
  return dir != nullptr ? dir : QG_DEFAULT_SOURCE_DIR;
}

}  // namespace qg::testing

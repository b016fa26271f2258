// RedisJobStore's plumbing (redis_job_store.hpp): its two connections, the function
// library and how scripts are called, and the wakeup subscriber; the factories.
//
// The scripts are one function library, named by a hash of its text so that stores of
// different versions on one Redis each call their own; it is loaded with FUNCTION LOAD
// REPLACE and called with FCALL. When Redis no longer has it (a restart without persistence,
// a failover, FUNCTION FLUSH) it is loaded again and the call retried once.
//
// Wakeups: scripts that make work claimable PUBLISH on "<prefix>wakeup". A second connection
// stays subscribed to it. wakeup_fd() is an epoll set holding that socket and a local
// eventfd, so the number stays the same across reconnects; after a resubscribe the eventfd
// is written once (wakeups may have been missed while disconnected).

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "qg/common/logging.hpp"
#include "redis_job_store.hpp"

namespace qg::sched {
namespace redis {

RedisJobStore::RedisJobStore(const RedisAddress& address, const StoreSettings& settings,
                             std::shared_ptr<spdlog::logger> logger)
    : settings_(settings),
      prefix_(settings.key_prefix),
      conn_(address, RedisOptions{}, logger),
      sub_(address, RedisOptions{}, logger),
      rng_(std::random_device{}()) {
  make_library();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || event_fd_ < 0) throw Error("epoll/eventfd failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = event_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
  conn_.connect();
  load_scripts();
}

RedisJobStore::~RedisJobStore() {
  ::close(event_fd_);
  ::close(epoll_fd_);
}

// The function library every call of this store runs (redis_library.hpp).
void RedisJobStore::make_library() {
  const FunctionLibrary& lib = function_library();
  library_ = lib.code;
  functions_ = lib.functions;
}

void RedisJobStore::load_scripts() {
  conn_.command({"FUNCTION", "LOAD", "REPLACE", library_});
  loaded_ = true;
}

RedisValue RedisJobStore::eval(ScriptId id, const std::vector<std::string>& args) {
  maybe_resubscribe();
  auto call = [&] {
    const auto argv = fcall_argv(id, args);
    return conn_.command(std::span<const std::string_view>(argv));
  };
  if (!loaded_) load_scripts();
  try {
    return call();
  } catch (const RedisNoScript&) {
    load_scripts();
    return call();
  }
}

// Several script calls in one round trip. A call refused because Redis no longer has the
// library did not run: the library is loaded again and those calls are made again, in order. plain: commands without
// a script, sent after the calls in the same round trip; their replies follow the calls'.
std::vector<RedisValue> RedisJobStore::eval_pipeline(
    const std::vector<std::pair<ScriptId, std::vector<std::string>>>& calls,
    std::vector<std::vector<std::string>> plain) {
  maybe_resubscribe();
  if (calls.empty()) return plain.empty() ? std::vector<RedisValue>{} : conn_.pipeline(plain);
  if (!loaded_) load_scripts();
  // Every command as views of the arguments it is sent with (nothing copied): an FCALL's
  // name and key count, then the call's own arguments.
  std::size_t words = 0;
  for (const auto& c : calls) words += c.second.size() + 3;
  for (const auto& p : plain) words += p.size();
  std::vector<std::string_view> argv;
  argv.reserve(words);
  std::vector<std::span<const std::string_view>> commands;
  commands.reserve(calls.size() + plain.size());
  const auto add = [&](auto&& fill) {
    const std::size_t first = argv.size();
    fill();
    commands.emplace_back(argv.data() + first, argv.size() - first);
  };
  for (const auto& c : calls) {
    add([&] {
      argv.insert(argv.end(), {"FCALL", functions_[c.first], "0"});
      argv.insert(argv.end(), c.second.begin(), c.second.end());
    });
  }
  for (const auto& p : plain) add([&] { argv.insert(argv.end(), p.begin(), p.end()); });
  auto replies = conn_.pipeline(std::span<const std::span<const std::string_view>>(commands));
  bool reloaded = false;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (!replies[i].is_error() || !is_missing_script(replies[i].str())) continue;
    if (!reloaded) {
      load_scripts();
      reloaded = true;
    }
    replies[i] = eval(calls[i].first, calls[i].second);
  }
  return replies;
}

void RedisJobStore::subscribe() {
  sub_.send({"SUBSCRIBE", prefix_ + "wakeup"});
  sub_.read();  // the subscribe confirmation
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = sub_.fd();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sub_.fd(), &ev);
  subscribed_generation_ = sub_.generation();
}

// The wakeup subscription is made when somebody first asks for the fd (the broker), not
// by every store: a process that never reads it (qg-scheduler) would leave Redis writing
// every PUBLISH into a socket nobody drains, until the pub/sub output-buffer limit
// dropped the connection and the next store call subscribed again.
void RedisJobStore::want_wakeups() {
  if (wakeups_wanted_) return;
  wakeups_wanted_ = true;
  try {
    subscribe();
  } catch (const Error&) {
    sub_.disconnect();  // maybe_resubscribe() tries again
  }
}

bool RedisJobStore::ping() {
  try {
    return conn_.command({"PING"}).str() == "PONG";
  } catch (const StoreUnavailable&) {
    return false;
  }
}

int RedisJobStore::wakeup_fd() {
  want_wakeups();
  return epoll_fd_;
}

void RedisJobStore::drain_wakeups() {
  want_wakeups();
  std::uint64_t value = 0;
  while (::read(event_fd_, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
  }
  try {
    while (sub_.try_read()) {
    }
  } catch (const Error&) {
    // The subscriber dropped; its socket left the epoll set when it closed.
  }
  maybe_resubscribe();
}

}  // namespace redis

std::unique_ptr<JobStore> make_redis_store(const std::string& url, const StoreSettings& settings) {
  return make_redis_store(RedisAddress::parse(url), settings);
}

std::unique_ptr<JobStore> make_redis_store(const RedisAddress& address, const StoreSettings& settings,
                                           std::shared_ptr<spdlog::logger> log) {
  return std::make_unique<redis::RedisJobStore>(address, settings, log ? std::move(log) : null_logger());
}

std::unique_ptr<JobStore> wait_for_redis_store(const RedisAddress& address, const StoreSettings& settings,
                                               const std::shared_ptr<spdlog::logger>& log,
                                               const volatile std::sig_atomic_t& stop) {
  auto backoff = std::chrono::milliseconds(100);
  while (stop == 0) {
    try {
      return make_redis_store(address, settings, log);
    } catch (const StoreUnavailable& e) {
      log->warn("cannot reach Redis at {} ({}); retrying in {} ms", address.url(), e.what(), backoff.count());
      const auto until = std::chrono::steady_clock::now() + backoff;
      while (stop == 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
  return nullptr;
}

}  // namespace qg::sched

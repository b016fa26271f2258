#pragma once
// The HTTP server's threads. cpp-httplib serves each connection on one thread for as long as it
// is open, and an event stream stays open for hours: the pool must be able to hold one thread
// per stream plus the threads for REST. Its own ThreadPool starts every thread up front; this
// one starts a thread only when a connection finds none idle, up to `max_threads`, so a gateway
// with a limit of 2,000 streams and ten clients runs a dozen threads. Started threads stay (an
// idle one costs its kernel stack and a few touched pages of its 8 MiB virtual stack).
//
// Past `max_threads` a connection waits in the queue for a thread to come free. Thread-safe;
// shutdown() runs what is queued, then joins every thread (cpp-httplib calls it when the server
// stops; the destructor calls it too).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace qg::gateway {

class GrowingThreadPool final : public httplib::TaskQueue {
 public:
  explicit GrowingThreadPool(std::size_t max_threads);
  ~GrowingThreadPool() override;
  GrowingThreadPool(const GrowingThreadPool&) = delete;
  GrowingThreadPool& operator=(const GrowingThreadPool&) = delete;

  void enqueue(std::function<void()> task) override;
  void shutdown() override;
  std::size_t threads() const;

 private:
  void run();

  const std::size_t max_threads_;
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool shutting_down_ = false;
};

}  // namespace qg::gateway

// The HTTP server's growing thread pool; the contract is in thread_pool.hpp.
#include "thread_pool.hpp"

#include <algorithm>

namespace qg::gateway {

GrowingThreadPool::GrowingThreadPool(std::size_t max_threads) : max_threads_(std::max<std::size_t>(max_threads, 1)) {}

GrowingThreadPool::~GrowingThreadPool() { shutdown(); }

void GrowingThreadPool::enqueue(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;  // cpp-httplib stops accepting before it shuts the pool down
    tasks_.push_back(std::move(task));
    // A thread is started when the queue holds more than the idle threads will take.
    if (tasks_.size() > idle_ && threads_.size() < max_threads_) threads_.emplace_back([this] { run(); });
  }
  work_.notify_one();
}

void GrowingThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    threads.swap(threads_);
  }
  work_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

std::size_t GrowingThreadPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

void GrowingThreadPool::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    work_.wait(lock, [&] { return shutting_down_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) return;  // shutting down with nothing left to run
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace qg::gateway

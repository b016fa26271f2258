#pragma once
// Injectable time. Components take a Clock& and ask it for `now`; tests pass a ManualClock
// and move it by hand, so no test waits for real time to pass.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace qg {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix epoch milliseconds. Thread-safe.
  virtual std::int64_t now_ms() const = 0;
};

// The system clock.
class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
  static SystemClock& instance();
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance(std::chrono::milliseconds by) { now_ += by.count(); }
  void set(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

// Monotonic milliseconds for deadlines and durations within one process.
std::int64_t steady_ms();

}  // namespace qg

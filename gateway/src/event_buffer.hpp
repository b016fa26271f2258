#pragma once
// The bounded ring of recent events that event streams read from and resume in. Each event gets
// the next id (1, 2, 3, ...) of this gateway run; the oldest is dropped when the ring is full.
// A reader that asks for events after an id that has been dropped is told so (missed), never
// handed a silent gap. Thread-safe: one writer (the event feed), any number of readers.
//
// Each event is also kept as its Server-Sent Events frame ("id: <prefix><n>", "event:",
// "data:"), rendered once at push: a thousand streams then copy the same bytes instead of each
// formatting every event.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace qg::gateway {

struct StoredEvent {
  std::uint64_t id = 0;
  std::string type;  // the SSE event name: "job", "worker" or "resync"
  std::string org_id;
  std::string app_version_id;
  std::string job_id;
  std::string data;  // the JSON text sent as the event's data
};

class EventBuffer {
 public:
  // `frame_id_prefix` goes before the number in each frame's id line (the gateway's run id
  // and "-").
  explicit EventBuffer(std::size_t capacity, std::string frame_id_prefix = "");

  // Stores `event` under the next id and wakes readers; returns the id.
  std::uint64_t push(StoredEvent event);

  struct Read {
    std::vector<StoredEvent> events;  // ids after `after`, oldest first
    bool missed = false;              // events after `after` were already dropped: nothing returned
    bool closed = false;              // the buffer is closing (shutdown)
  };
  // Up to `max` events with id > `after`; when there are none yet, waits up to `wait` for one.
  Read read_after(std::uint64_t after, std::size_t max, std::chrono::milliseconds wait) const;

  // As read_after, without copies: `visit` is called with each event and its SSE frame, oldest
  // first, under the buffer's lock (it must not call back into the buffer, and should be quick:
  // append the frame somewhere). `visited` counts the calls.
  struct Scan {
    std::size_t visited = 0;
    bool missed = false;
    bool closed = false;
  };
  using Visitor = std::function<void(const StoredEvent&, std::string_view frame)>;
  Scan scan_after(std::uint64_t after, std::size_t max, std::chrono::milliseconds wait, const Visitor& visit) const;

  // Waits up to `wait` for close(); true when the buffer is closed. Pushes do not wake it (a
  // stream pacing its writes sleeps here, away from the push notifications).
  bool wait_closed(std::chrono::milliseconds wait) const;

  std::uint64_t last_id() const;
  std::uint64_t oldest_id() const;  // 0 when empty
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }
  // Wakes every reader with `closed`.
  void close();

 private:
  struct Entry {
    StoredEvent event;
    std::string frame;
  };
  std::size_t capacity_;
  std::string frame_id_prefix_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable std::condition_variable closing_;
  std::deque<Entry> events_;
  std::uint64_t last_id_ = 0;
  bool closed_ = false;
};

}  // namespace qg::gateway

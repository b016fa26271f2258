// The ring of recent events; the contract is in event_buffer.hpp.
#include "event_buffer.hpp"

#include <algorithm>

namespace qg::gateway {

EventBuffer::EventBuffer(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t EventBuffer::push(StoredEvent event) {
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = ++last_id_;
    event.id = id;
    if (events_.size() == capacity_) events_.pop_front();
    events_.push_back(std::move(event));
  }
  changed_.notify_all();
  return id;
}

EventBuffer::Read EventBuffer::read_after(std::uint64_t after, std::size_t max, std::chrono::milliseconds wait) const {
  Read out;
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [&] { return closed_ || last_id_ > after; });
  if (closed_) {
    out.closed = true;
    return out;
  }
  if (events_.empty() || last_id_ <= after) return out;
  const std::uint64_t oldest = events_.front().id;
  if (after + 1 < oldest) {
    out.missed = true;
    return out;
  }
  // Ids are consecutive, so the first one wanted sits at a known offset.
  for (auto i = static_cast<std::size_t>(after + 1 - oldest); i < events_.size() && out.events.size() < max; ++i) {
    out.events.push_back(events_[i]);
  }
  return out;
}

std::uint64_t EventBuffer::last_id() const {
  std::lock_guard lock(mutex_);
  return last_id_;
}

std::uint64_t EventBuffer::oldest_id() const {
  std::lock_guard lock(mutex_);
  return events_.empty() ? 0 : events_.front().id;
}

std::size_t EventBuffer::size() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

void EventBuffer::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

}  // namespace qg::gateway

// The ring of recent events; the contract is in event_buffer.hpp.
#include "event_buffer.hpp"

#include <algorithm>

namespace qg::gateway {

EventBuffer::EventBuffer(std::size_t capacity, std::string frame_id_prefix)
    : capacity_(std::max<std::size_t>(capacity, 1)), frame_id_prefix_(std::move(frame_id_prefix)) {}

std::uint64_t EventBuffer::push(StoredEvent event) {
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = ++last_id_;
    event.id = id;
    // Rendered under the lock: ids and frames stay in the same order.
    std::string frame =
        "id: " + frame_id_prefix_ + std::to_string(id) + "\nevent: " + event.type + "\ndata: " + event.data + "\n\n";
    if (events_.size() == capacity_) events_.pop_front();
    events_.push_back({std::move(event), std::move(frame)});
  }
  changed_.notify_all();
  return id;
}

EventBuffer::Scan EventBuffer::scan_after(std::uint64_t after, std::size_t max, std::chrono::milliseconds wait,
                                          const Visitor& visit) const {
  Scan out;
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [&] { return closed_ || last_id_ > after; });
  if (closed_) {
    out.closed = true;
    return out;
  }
  if (events_.empty() || last_id_ <= after) return out;
  const std::uint64_t oldest = events_.front().event.id;
  if (after + 1 < oldest) {
    out.missed = true;
    return out;
  }
  // Ids are consecutive, so the first one wanted sits at a known offset.
  for (auto i = static_cast<std::size_t>(after + 1 - oldest); i < events_.size() && out.visited < max; ++i) {
    visit(events_[i].event, events_[i].frame);
    ++out.visited;
  }
  return out;
}

EventBuffer::Read EventBuffer::read_after(std::uint64_t after, std::size_t max, std::chrono::milliseconds wait) const {
  Read out;
  auto scan = scan_after(after, max, wait, [&](const StoredEvent& e, std::string_view) { out.events.push_back(e); });
  out.missed = scan.missed;
  out.closed = scan.closed;
  return out;
}

bool EventBuffer::wait_closed(std::chrono::milliseconds wait) const {
  std::unique_lock lock(mutex_);
  return closing_.wait_for(lock, wait, [&] { return closed_; });
}

std::uint64_t EventBuffer::last_id() const {
  std::lock_guard lock(mutex_);
  return last_id_;
}

std::uint64_t EventBuffer::oldest_id() const {
  std::lock_guard lock(mutex_);
  return events_.empty() ? 0 : events_.front().event.id;
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
  closing_.notify_all();
}

}  // namespace qg::gateway

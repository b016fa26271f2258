// AcceptMonitor: reads libzmq's ZMQ_EVENT_ACCEPT_FAILED (and, where asked, DISCONNECTED) events
// off the broker's sockets on a thread of its own (accept_monitor.hpp says why), counts them and
// warns of failed accepts.
#include "accept_monitor.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace qg::broker {

AcceptMonitor::AcceptMonitor(zmq::context_t& context, std::shared_ptr<spdlog::logger> log,
                             std::atomic<std::uint64_t>& failures, std::atomic<std::uint64_t>* closed)
    : context_(context), log_(std::move(log)), failures_(failures), closed_(closed) {}

AcceptMonitor::~AcceptMonitor() {
  // libzmq's end of each monitor first: with our end gone, its blocking send of the next
  // event would wait for ever in the I/O thread.
  for (auto* socket : watched_) (void)zmq_socket_monitor(socket->handle(), nullptr, 0);
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AcceptMonitor::watch(zmq::socket_t& socket, std::string_view role, bool count_closed) {
  // One inproc name per monitor, unique in the context: this object and the monitor's index.
  const std::string endpoint = "inproc://qg-accept-monitor-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) +
                               "-" + std::to_string(monitors_.size());
  count_closed = count_closed && closed_ != nullptr;
  const int events = ZMQ_EVENT_ACCEPT_FAILED | (count_closed ? ZMQ_EVENT_DISCONNECTED : 0);
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), events) != 0) throw zmq::error_t();
  watched_.push_back(&socket);
  zmq::socket_t monitor(context_, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
  monitors_.push_back(std::move(monitor));
  roles_.emplace_back(role);
  count_closed_.push_back(count_closed);
}

void AcceptMonitor::start() {
  if (monitors_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void AcceptMonitor::run() {
  std::vector<zmq::pollitem_t> items;
  for (auto& monitor : monitors_) items.push_back({monitor.handle(), 0, ZMQ_POLLIN, 0});
  try {
    while (!stop_) {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(200));
      for (std::size_t i = 0; i < items.size(); ++i) {
        if ((items[i].revents & ZMQ_POLLIN) == 0) continue;
        // Bounded, so that stop_ is seen during a flood.
        for (int n = 0; n < 4096 && read_one(i); ++n) {
        }
      }
      warn_if_due(false);
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) log_->error("accept monitor stopped: {}", e.what());
  }
  warn_if_due(true);
}

bool AcceptMonitor::read_one(std::size_t index) {
  auto& monitor = monitors_[index];
  zmq::message_t event;
  if (!monitor.recv(event, zmq::recv_flags::dontwait)) return false;
  // Frame 1: the event (16 bits) and its value (32 bits, here errno); frame 2: the endpoint.
  std::uint16_t id = 0;
  std::uint32_t value = 0;
  if (event.size() >= sizeof id + sizeof value) {
    std::memcpy(&id, event.data(), sizeof id);
    std::memcpy(&value, static_cast<const char*>(event.data()) + sizeof id, sizeof value);
  }
  while (event.more()) (void)monitor.recv(event, zmq::recv_flags::none);
  if (id == ZMQ_EVENT_DISCONNECTED && count_closed_[index]) ++*closed_;
  if (id != ZMQ_EVENT_ACCEPT_FAILED) return true;
  ++failures_;
  ++unreported_;
  last_errno_ = static_cast<int>(value);
  last_role_ = roles_[index];
  return true;
}

void AcceptMonitor::warn_if_due(bool force) {
  if (unreported_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && last_warning_.time_since_epoch().count() != 0 && now - last_warning_ < kWarnEvery) return;
  last_warning_ = now;
  const auto why = std::error_code(last_errno_, std::generic_category()).message();
  if (last_errno_ == EMFILE || last_errno_ == ENFILE) {
    rlimit limit{};
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
    log_->warn(
        "cannot accept connections ({}, last on the {} endpoint): out of file descriptors ({}; open-file limit "
        "{}, hard {}). Workers and clients cannot connect until descriptors are freed: raise the hard limit "
        "(LimitNOFILE= under systemd, ulimit -Hn) or spread the workers over more brokers.",
        unreported_ == 1 ? std::string("1 failed accept") : std::to_string(unreported_) + " failed accepts", last_role_,
        why, static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(limit.rlim_max));
  } else {
    log_->warn("cannot accept connections ({} failed, last on the {} endpoint): {}", unreported_, last_role_, why);
  }
  unreported_ = 0;
}

}  // namespace qg::broker

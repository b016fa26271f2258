// AcceptMonitor: reads libzmq's ZMQ_EVENT_ACCEPT_FAILED (and, where asked, DISCONNECTED) events
// off the broker's sockets on a thread of its own (accept_monitor.hpp says why), counts them and
// warns of failed accepts.
#include "accept_monitor.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace qg::broker {

AcceptMonitor::AcceptMonitor(zmq::context_t& context, std::shared_ptr<spdlog::logger> log, BrokerCounters& counters,
                             ConnectionTable& connections)
    : context_(context), log_(std::move(log)), counters_(counters), connections_(connections) {}

AcceptMonitor::~AcceptMonitor() {
  // libzmq's end of each monitor first: with our end gone, its blocking send of the next
  // event would wait for ever in the I/O thread.
  for (auto* socket : watched_) (void)zmq_socket_monitor(socket->handle(), nullptr, 0);
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AcceptMonitor::watch(zmq::socket_t& socket, std::string_view role, Port port) {
  // One inproc name per monitor, unique in the context: this object and the monitor's index.
  const std::string endpoint = "inproc://qg-accept-monitor-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) +
                               "-" + std::to_string(monitors_.size());
  constexpr int kEvents =
      ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), kEvents) != 0) throw zmq::error_t();
  watched_.push_back(&socket);
  ports_.push_back(port);
  zmq::socket_t monitor(context_, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
  monitors_.push_back(std::move(monitor));
  roles_.emplace_back(role);
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
      warn_refusals_if_due(false);
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) log_->error("accept monitor stopped: {}", e.what());
  }
  warn_if_due(true);
  warn_refusals_if_due(true);
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
  switch (id) {
    case ZMQ_EVENT_ACCEPTED:
      on_accepted(index, static_cast<int>(value));
      return true;
    case ZMQ_EVENT_DISCONNECTED:
      connections_.disconnected(ports_[index], static_cast<int>(value));
      // Closed client and worker connections: by their peer, or by libzmq for a frame over
      // limits.max_frame_bytes, which no reply can answer (STATS connections_closed).
      if (ports_[index] == Port::clients || ports_[index] == Port::workers) ++counters_.connections_closed;
      return true;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      ++counters_.handshakes_dropped;
      return true;
    case ZMQ_EVENT_ACCEPT_FAILED:
      break;
    default:
      return true;
  }
  ++counters_.accept_failures;
  ++unreported_;
  last_errno_ = static_cast<int>(value);
  last_role_ = roles_[index];
  return true;
}

void AcceptMonitor::on_accepted(std::size_t index, int fd) {
  const auto address = peer_address_of(fd);
  if (address.empty()) return;  // gone already (its disconnection follows), or not TCP
  const char* why = connections_.accepted(ports_[index], fd, address);
  if (why == nullptr) return;
  // The descriptor is still libzmq's: shutdown ends the stream, and libzmq closes it.
  (void)::shutdown(fd, SHUT_RDWR);
  ++counters_.connections_refused;
  ++unreported_refusals_;
  last_refusal_ = std::string(why) + " (" + address + " on " + roles_[index] + ")";
}

void AcceptMonitor::warn_refusals_if_due(bool force) {
  if (unreported_refusals_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && last_refusal_warning_.time_since_epoch().count() != 0 && now - last_refusal_warning_ < kWarnEvery) {
    return;
  }
  last_refusal_warning_ = now;
  const auto& limits = connections_.limits();
  log_->warn(
      "connection limit: {} connection(s) closed at accept, the last: {}. Limits: {} per address, {} per port "
      "(--max-connections-per-peer, --max-connections)",
      unreported_refusals_, last_refusal_, limits.per_peer, limits.total);
  unreported_refusals_ = 0;
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

// ConnectionTable: counts of open connections per port and peer address (connection_table.hpp).
#include "connection_table.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>

namespace qg::broker {

std::optional<Port> port_of_domain(std::string_view domain) noexcept {
  if (domain == "clients") return Port::clients;
  if (domain == "workers") return Port::workers;
  if (domain == "events-in") return Port::events_in;
  if (domain == "events-out") return Port::events_out;
  return std::nullopt;
}

std::string_view port_name(Port port) noexcept {
  switch (port) {
    case Port::clients:
      return "clients";
    case Port::workers:
      return "workers";
    case Port::events_in:
      return "events-in";
    case Port::events_out:
      return "events-out";
  }
  return "?";
}

std::string peer_address_of(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* ip = nullptr;
  if (address.ss_family == AF_INET) {
    ip = &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr;
  } else if (address.ss_family == AF_INET6) {
    ip = &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
  } else {
    return {};
  }
  if (::inet_ntop(address.ss_family, ip, text.data(), text.size()) == nullptr) return {};
  return text.data();
}

const char* ConnectionTable::judge(std::size_t from_peer, std::size_t total, std::size_t slack) const {
  if (limits_.per_peer != 0 && from_peer > limits_.per_peer + slack) return "too many connections from this address";
  if (limits_.total != 0 && total > limits_.total + slack) return "too many connections on this port";
  return nullptr;
}

const char* ConnectionTable::accepted(Port port, int fd, const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& table = ports_[static_cast<std::size_t>(port)];
  auto [it, fresh] = table.by_fd.try_emplace(fd, address);
  if (!fresh) {
    // Its disconnection was not seen (the monitor missed it): the descriptor is a new connection.
    auto old = table.by_peer.find(it->second);
    if (old != table.by_peer.end() && --old->second == 0) table.by_peer.erase(old);
    it->second = address;
  }
  const auto from_peer = ++table.by_peer[address];
  return judge(from_peer, table.by_fd.size(), 0);
}

void ConnectionTable::disconnected(Port port, int fd) {
  std::lock_guard lock(mutex_);
  auto& table = ports_[static_cast<std::size_t>(port)];
  auto it = table.by_fd.find(fd);
  if (it == table.by_fd.end()) return;
  auto peer = table.by_peer.find(it->second);
  if (peer != table.by_peer.end() && --peer->second == 0) table.by_peer.erase(peer);
  table.by_fd.erase(it);
}

const char* ConnectionTable::over_limit(Port port, std::string_view address) const {
  std::lock_guard lock(mutex_);
  const auto& table = ports_[static_cast<std::size_t>(port)];
  const auto peer = table.by_peer.find(std::string(address));
  return judge(peer == table.by_peer.end() ? 0 : peer->second, table.by_fd.size(), 0);
}

std::size_t ConnectionTable::count(Port port) const {
  std::lock_guard lock(mutex_);
  return ports_[static_cast<std::size_t>(port)].by_fd.size();
}

std::size_t ConnectionTable::count(Port port, std::string_view address) const {
  std::lock_guard lock(mutex_);
  const auto& table = ports_[static_cast<std::size_t>(port)];
  const auto peer = table.by_peer.find(std::string(address));
  return peer == table.by_peer.end() ? 0 : peer->second;
}

}  // namespace qg::broker

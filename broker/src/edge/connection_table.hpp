#pragma once
// The connections open on each of the broker's four ports, by peer address, and the limits on
// them (BrokerSettings::connections): at most `per_peer` from one address and `total` in all
// on one port. Filled from libzmq's socket monitor (ZMQ_EVENT_ACCEPTED names the new
// connection's descriptor, whose address getpeername(2) gives; ZMQ_EVENT_DISCONNECTED the one
// that ended) by the AcceptMonitor's thread, and read by the ZAP handler's thread, which
// refuses a handshake over a limit; a connection over the per-peer limit is also shut down at
// accept, before it holds a descriptor for as long as its handshake may take.
//
// The monitor reads the events a little after they happen, so a count may lag the truth by
// the connections of the last few milliseconds: a burst may overshoot a limit by that much.
//
// Thread-safe: every member takes the one mutex.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace qg::broker {

enum class Port : std::uint8_t { clients, workers, events_in, events_out };
inline constexpr std::size_t kPortCount = 4;

// The port a ZAP domain names (zap_handler.hpp); empty optional for any other domain.
std::optional<Port> port_of_domain(std::string_view domain) noexcept;
std::string_view port_name(Port port) noexcept;

struct ConnectionLimits {
  std::uint32_t per_peer = 512;  // connections from one address to one port; 0 = no limit
  std::uint32_t total = 16384;   // connections to one port in all; 0 = no limit
};

class ConnectionTable {
 public:
  explicit ConnectionTable(ConnectionLimits limits) : limits_(limits) {}

  // A connection accepted on `port` as descriptor `fd` from `address` (IP text). Returns why
  // it is over a limit (then the caller shuts it down; it stays counted until its
  // disconnection), or nullptr.
  const char* accepted(Port port, int fd, const std::string& address);
  // The connection on descriptor `fd` of `port` ended (nothing when it was not counted).
  void disconnected(Port port, int fd);
  // Why a handshake from `address` on `port` is refused, or nullptr when it is within the
  // limits. The connection itself is normally counted already.
  const char* over_limit(Port port, std::string_view address) const;

  std::size_t count(Port port) const;
  std::size_t count(Port port, std::string_view address) const;
  const ConnectionLimits& limits() const noexcept { return limits_; }

 private:
  const char* judge(const std::size_t from_peer, std::size_t total, std::size_t slack) const;

  struct PortTable {
    std::unordered_map<int, std::string> by_fd;            // descriptor -> peer address
    std::unordered_map<std::string, std::size_t> by_peer;  // peer address -> connections
  };
  ConnectionLimits limits_;
  mutable std::mutex mutex_;
  std::array<PortTable, kPortCount> ports_;
};

// The peer address of a connected socket `fd` as IP text ("127.0.0.2", "::1"); empty when it
// cannot be read (closed already, not a TCP socket).
std::string peer_address_of(int fd);

}  // namespace qg::broker

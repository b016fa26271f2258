#pragma once
// Small cppzmq helpers used by every process: socket options we always set, and whole
// multipart receive with limits. cppzmq is used as it is; nothing here wraps a socket.

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace qg {

// Options every socket gets: linger (libzmq's default blocks for ever on close) and, for
// connection-oriented sockets, ZeroMQ heartbeats so idle connections that die are noticed.
void set_common_options(zmq::socket_t& socket, std::chrono::milliseconds linger = std::chrono::milliseconds(0));
void set_zmq_heartbeats(zmq::socket_t& socket, std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

// A received multipart message. `oversize` is set when the message broke max_frames or
// max_bytes: every frame was still drained from the socket (so a ROUTER stays in step), but
// only the first frame (the identity, on a ROUTER) is kept. `user_id` is the message's
// "User-Id" property: the user id a ZAP handler gave its connection, empty when none did.
struct Multipart {
  std::vector<std::string> frames;
  bool oversize = false;
  std::string user_id;
};

// Receives one whole message without blocking. Empty optional when none is waiting.
// Throws zmq::error_t on real socket failures.
std::optional<Multipart> recv_multipart(zmq::socket_t& socket, std::size_t max_frames, std::size_t max_bytes);

// Sends frames as one message. Returns false when the message could not be queued (would
// block, or an unroutable ROUTER peer with ZMQ_ROUTER_MANDATORY); never blocks.
bool send_multipart(zmq::socket_t& socket, const std::vector<std::string>& frames);
// The same for frames the caller keeps (nothing is copied before libzmq copies each frame).
bool send_frames(zmq::socket_t& socket, std::span<const std::string_view> frames);

// The port a socket bound with "tcp://...:*" or ":0" ended up on; -1 if none.
int bound_port(zmq::socket_t& socket);

}  // namespace qg

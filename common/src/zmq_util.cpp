#include "qg/common/zmq_util.hpp"

#include <cstdlib>

namespace qg {

void set_common_options(zmq::socket_t& socket, std::chrono::milliseconds linger) {
  socket.set(zmq::sockopt::linger, static_cast<int>(linger.count()));
}

void set_zmq_heartbeats(zmq::socket_t& socket, std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  socket.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(interval.count()));
  socket.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(timeout.count()));
  socket.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(timeout.count()));
}

std::optional<Multipart> recv_multipart(zmq::socket_t& socket, std::size_t max_frames, std::size_t max_bytes) {
  Multipart out;
  out.frames.reserve(std::min<std::size_t>(max_frames, 8));  // requests have 4 or 5 frames
  std::size_t total = 0;
  zmq::message_t frame;
  auto first = socket.recv(frame, zmq::recv_flags::dontwait);
  if (!first) return std::nullopt;
  // Read from the first frame that has it, of the first two: a ROUTER's identity frame does
  // not always carry the properties of the message (not when it was prefetched by a poll),
  // its next frame does. zmq_msg_gets, not message_t::gets, which throws when there is none.
  bool user_id_read = false;
  for (std::size_t index = 0;; ++index) {
    if (!user_id_read && index < 2) {
      if (const char* user_id = zmq_msg_gets(frame.handle(), "User-Id")) {
        out.user_id = user_id;
        user_id_read = true;
      }
    }
    total += frame.size();
    if (!out.oversize) {
      if (out.frames.size() >= max_frames || total > max_bytes) {
        out.oversize = true;
        out.frames.resize(std::min<std::size_t>(out.frames.size(), 1));
      } else {
        out.frames.emplace_back(static_cast<const char*>(frame.data()), frame.size());
      }
    }
    if (!frame.more()) break;
    // The rest of a multipart message is already queued: this never blocks.
    (void)socket.recv(frame, zmq::recv_flags::none);
  }
  return out;
}

namespace {

template <class Frames>
bool send_all(zmq::socket_t& socket, const Frames& frames) {
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      auto sent = socket.send(zmq::const_buffer(frames[i].data(), frames[i].size()), flags);
      if (!sent) return false;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH || e.num() == EAGAIN) return false;
    throw;
  }
  return true;
}

}  // namespace

bool send_multipart(zmq::socket_t& socket, const std::vector<std::string>& frames) { return send_all(socket, frames); }

bool send_frames(zmq::socket_t& socket, std::span<const std::string_view> frames) { return send_all(socket, frames); }

int bound_port(zmq::socket_t& socket) {
  auto endpoint = socket.get(zmq::sockopt::last_endpoint);
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return -1;
  return std::atoi(endpoint.c_str() + colon + 1);
}

}  // namespace qg

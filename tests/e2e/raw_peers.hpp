#pragma once
// Raw protocol peers and qgjob runs for the attack tests: ZeroMQ sockets holding a test key
// (or none) connected from another address of the loopback range, the next message with a
// deadline, one request and its reply, and `qgjob watch` in the background.
#include <chrono>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "keys.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"

namespace qg::testing {

namespace proto = qg::proto;

inline constexpr const char* kOtherHost = "127.0.0.2";

// A raw peer holding key `name` ("" = no CURVE), connecting to `endpoint` from `source`.
inline zmq::socket_t raw_peer(zmq::context_t& context, zmq::socket_type type, const Keys& keys, const std::string& name,
                              const std::string& endpoint, const std::string& source = kOtherHost) {
  zmq::socket_t socket(context, type);
  qg::set_common_options(socket);
  if (!name.empty()) {
    qg::apply_curve(socket, qg::load_curve_client_keys(keys.path(name) + ".key_secret", keys.path("broker") + ".key"));
  }
  // "tcp://SOURCE:0;HOST:PORT": libzmq binds the connection's local end to SOURCE.
  socket.connect("tcp://" + source + ":0;" + endpoint.substr(std::string("tcp://").size()));
  return socket;
}

// The next message on `socket` within `timeout`; empty when none came.
inline std::vector<std::string> next_message(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return {};
  auto message = qg::recv_multipart(socket, 16, 16 << 20);
  return message ? message->frames : std::vector<std::string>{};
}

// Sends `request` on a DEALER and returns the reply's [protocol, command, body]; empty when
// none came.
template <class Request>
std::vector<std::string> exchange(zmq::socket_t& dealer, std::string_view protocol, const Request& request,
                                  std::chrono::milliseconds timeout = 5s) {
  qg::send_multipart(dealer, proto::frames_of(protocol, request));
  return next_message(dealer, timeout);
}

// The error code of an ERROR reply; "" for any other reply or none.
inline std::string error_code(const std::vector<std::string>& reply) {
  if (reply.size() != 3 || reply[1] != proto::ErrorReply::command) return {};
  auto e = proto::decode<proto::ErrorReply>(reply[2]);
  return e ? e->error.code : std::string();
}

inline std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `qgjob [flags] <args>` running in the background (watch), its output in `log`.
inline ChildProcess qgjob_background(Cluster& cluster, const std::vector<std::string>& flags,
                                     const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {bin_dir() + "/qgjob", "--broker", cluster.client_endpoint(), "--events",
                                   cluster.events_out_endpoint()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess(argv, log);
}

// The first job id in `qgjob submit --json` output.
inline std::string job_id_of(const std::string& submit_json) {
  std::smatch m;
  if (!std::regex_search(submit_json, m, std::regex("\"job_ids\":\\[\"([^\"]+)\""))) return {};
  return m[1];
}

}  // namespace qg::testing

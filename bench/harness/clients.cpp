// Protocol clients of the broker's client socket (bench.hpp): DEALER connections, one
// request/reply, SUBMIT, and the two load generators the submit figures come from
// (closed_loop: many clients, one request each in flight; pipelined: one connection, many in
// flight), plus the wait for a queue depth.

#include "bench.hpp"

#include <cstdlib>
#include <thread>

#include "qg/common/zmq_util.hpp"

namespace qg::bench {

using namespace std::chrono_literals;

namespace {
CurveClientKeys& client_curve() {
  static CurveClientKeys keys;
  return keys;
}
}  // namespace

void set_client_curve(const CurveClientKeys& keys) { client_curve() = keys; }

zmq::socket_t connect_dealer(zmq::context_t& context, const std::string& endpoint) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  set_common_options(socket);
  apply_curve(socket, client_curve());
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.connect(endpoint);
  return socket;
}

std::vector<std::string> roundtrip(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                                   const std::string& body, std::chrono::milliseconds timeout) {
  send_multipart(socket, {std::string(protocol), std::string(command), body});
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return {};
  auto message = recv_multipart(socket, 8, 64u << 20);
  return message ? message->frames : std::vector<std::string>{};
}

proto::SubmitReply submit(zmq::socket_t& socket, const proto::SubmitRequest& request,
                          std::chrono::milliseconds timeout) {
  auto reply = roundtrip(socket, proto::kClientProtocol, "SUBMIT", proto::encode(request), timeout);
  if (reply.size() != 3) throw BenchError("SUBMIT: no reply within " + std::to_string(timeout.count()) + " ms");
  if (reply[1] != "SUBMIT") {
    auto err = proto::decode<proto::ErrorReply>(reply[2]);
    throw BenchError("SUBMIT rejected: " + (err ? err->error.code + " " + err->error.message : reply[1]));
  }
  auto decoded = proto::decode<proto::SubmitReply>(reply[2]);
  if (!decoded) throw BenchError("SUBMIT reply undecodable: " + decoded.error().message);
  return std::move(decoded).value();
}

proto::SubmitRequest make_submit(const std::string& rid, const std::string& org, const std::string& app,
                                 std::size_t tests, proto::Priority priority) {
  proto::SubmitRequest req;
  req.rid = rid;
  req.org_id = org;
  req.app_version_id = app;
  req.priority = priority;
  req.tests.reserve(tests);
  for (std::size_t t = 0; t < tests; ++t) req.tests.push_back("tests/t" + std::to_string(t) + ".spec.ts");
  return req;
}

LoadResult closed_loop(zmq::context_t& context, const std::string& endpoint, std::size_t clients,
                       std::size_t total_requests, const std::function<std::string(std::size_t)>& make_request,
                       std::chrono::seconds deadline) {
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(clients);
  for (std::size_t i = 0; i < clients; ++i) sockets.push_back(connect_dealer(context, endpoint));
  // Let every connection finish its handshake before the clock starts.
  std::this_thread::sleep_for(50ms + std::chrono::milliseconds(clients));
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
  std::vector<double> sent_at(clients, 0);
  LoadResult result;
  result.latency_us.reserve(total_requests);
  std::size_t issued = 0;
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  auto issue = [&](std::size_t c) {
    if (issued >= total_requests) return false;
    auto body = make_request(issued++);
    sent_at[c] = now_us();
    send_multipart(sockets[c], {std::string(proto::kClientProtocol), "SUBMIT", std::move(body)});
    return true;
  };
  std::size_t in_flight = 0;
  for (std::size_t c = 0; c < clients; ++c) in_flight += issue(c) ? 1 : 0;
  while (in_flight > 0) {
    if (now_us() > end_by)
      throw BenchError("closed loop: deadline passed with " + std::to_string(in_flight) + " requests unanswered (" +
                       std::to_string(result.requests) + " done)");
    zmq::poll(items.data(), items.size(), 1000ms);
    for (std::size_t c = 0; c < clients; ++c) {
      if ((items[c].revents & ZMQ_POLLIN) == 0) continue;
      while (auto message = recv_multipart(sockets[c], 8, 64u << 20)) {
        const double t = now_us();
        --in_flight;
        ++result.requests;
        if (message->frames.size() != 3 || message->frames[1] != "SUBMIT") ++result.errors;
        result.latency_us.add(t - sent_at[c]);
        in_flight += issue(c) ? 1 : 0;
      }
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

std::string slot_rid(std::size_t slot) { return "s" + std::to_string(slot); }

LoadResult pipelined(zmq::context_t& context, const std::string& endpoint, std::size_t depth,
                     std::size_t total_requests,
                     const std::function<std::string(std::size_t, std::size_t)>& make_request,
                     std::chrono::seconds deadline) {
  auto socket = connect_dealer(context, endpoint);
  std::this_thread::sleep_for(50ms);  // the handshake is done before the clock starts
  std::vector<double> sent_at(depth, 0);
  LoadResult result;
  result.latency_us.reserve(total_requests);
  std::size_t issued = 0;
  const std::string protocol(proto::kClientProtocol);
  const std::string command = "SUBMIT";
  auto issue = [&](std::size_t slot) {
    if (issued >= total_requests) return false;
    auto body = make_request(issued++, slot);
    sent_at[slot] = now_us();
    send_multipart(socket, {protocol, command, std::move(body)});
    return true;
  };
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  std::size_t in_flight = 0;
  for (std::size_t slot = 0; slot < depth; ++slot) in_flight += issue(slot) ? 1 : 0;
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (in_flight > 0) {
    if (now_us() > end_by)
      throw BenchError("pipelined: deadline passed with " + std::to_string(in_flight) + " requests unanswered (" +
                       std::to_string(result.requests) + " done)");
    zmq::poll(&item, 1, 1000ms);
    // Drains until the socket is empty: one poll per batch of replies, not one per reply.
    while (auto message = recv_multipart(socket, 8, 64u << 20)) {
      const double t = now_us();
      if (message->frames.size() != 3)
        throw BenchError("pipelined: reply of " + std::to_string(message->frames.size()) + " frames");
      const auto rid = proto::peek_rid(message->frames[2]);
      std::size_t slot = depth;
      if (rid.size() > 1 && rid[0] == 's') slot = static_cast<std::size_t>(std::strtoull(rid.c_str() + 1, nullptr, 10));
      if (slot >= depth) throw BenchError("pipelined: reply with unknown rid '" + rid + "'");
      --in_flight;
      ++result.requests;
      if (message->frames[1] != "SUBMIT") ++result.errors;
      result.latency_us.add(t - sent_at[slot]);
      in_flight += issue(slot) ? 1 : 0;
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

std::uint64_t wait_queue_depth(zmq::context_t& context, const std::string& client_endpoint, std::uint64_t depth,
                               std::chrono::milliseconds timeout) {
  auto socket = connect_dealer(context, client_endpoint);
  std::uint64_t last = 0;
  testing::wait_until(
      [&] {
        proto::HealthRequest req;
        req.rid = "h";
        auto reply = roundtrip(socket, proto::kClientProtocol, "HEALTH", proto::encode(req), 2000ms);
        if (reply.size() != 3) return false;
        auto h = proto::decode<proto::HealthReply>(reply[2]);
        if (!h) return false;
        last = h->queue_depth;
        return last == depth;
      },
      timeout, 10ms);
  return last;
}

}  // namespace qg::bench

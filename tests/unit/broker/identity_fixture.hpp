#pragma once
// The fixture of the authorization tests: BrokerTest with its client and worker sockets in a
// ZAP domain (BrokerSettings::null_zap_domain) and a ZAP handler of the test's own bound in the
// broker's context. libzmq asks that handler about every NULL-mechanism connection, as it asks
// the broker's own about every CURVE one, and the user id it answers reaches the broker on each
// message of that connection: the same path as a key's identity, without keys. The handler
// tells peers apart by the loopback address they connect from (127.0.0.<n>, chosen with
// ZeroMQ's "source;destination" endpoint form), so a test gives a socket a role by where it
// connects from.
#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "broker_fixture.hpp"

namespace qg::broker::testing {

// Who connects from which loopback address.
inline const std::map<std::string, std::string>& test_identities() {
  static const std::map<std::string, std::string> identities = {
      {"127.0.0.2", "org:acme"},  {"127.0.0.3", "org:globex"}, {"127.0.0.4", "admin"},
      {"127.0.0.5", "worker:w1"}, {"127.0.0.6", "worker:w2"},  {"127.0.0.7", "scheduler"},
  };
  return identities;
}

class IdentityBrokerTest : public BrokerTest {
 protected:
  void SetUp() override {
    zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
    qg::set_common_options(zap_);
    zap_.bind("inproc://zeromq.zap.01");
    zap_thread_ = std::thread([this] { serve_zap(); });
    BrokerTest::SetUp();
  }

  void TearDown() override {
    BrokerTest::TearDown();
    zap_stop_ = true;
    zap_thread_.join();
    zap_.close();
  }

  void adjust(qg::broker::BrokerSettings& settings) override { settings.null_zap_domain = "qg-test"; }

  // A DEALER connected to `endpoint` (tcp://127.0.0.1:<port>) from `source`, a loopback
  // address of test_identities() or 127.0.0.1 (no user id: a local peer).
  zmq::socket_t dealer_from(const std::string& source, const std::string& endpoint) {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    qg::set_common_options(socket);
    socket.connect("tcp://" + source + ":0;" + endpoint.substr(std::string("tcp://").size()));
    return socket;
  }
  zmq::socket_t client_as(const std::string& source) { return dealer_from(source, client_endpoint_); }
  zmq::socket_t worker_as(const std::string& source) { return dealer_from(source, worker_endpoint_); }

  std::atomic<int> zap_requests{0};

 private:
  // ZAP (RFC 27) over the REP socket: version, request id, domain, address, identity,
  // mechanism, then credentials (none for NULL). Answers 200 with the address's user id.
  void serve_zap() {
    while (!zap_stop_) {
      zmq::pollitem_t item{zap_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if ((item.revents & ZMQ_POLLIN) == 0) continue;
      auto request = qg::recv_multipart(zap_, 16, 1 << 16);
      if (!request || request->frames.size() < 6) continue;
      ++zap_requests;
      const auto& address = request->frames[3];
      const auto found = test_identities().find(address);
      const std::string user_id = found == test_identities().end() ? "" : found->second;
      qg::send_multipart(zap_, {"1.0", request->frames[1], "200", "OK", user_id, ""});
    }
  }

  zmq::socket_t zap_;
  std::thread zap_thread_;
  std::atomic<bool> zap_stop_{false};
};

}  // namespace qg::broker::testing

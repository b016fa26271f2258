// Which endpoints the broker binds without keys: the loopback classification of endpoint
// text against hostile spellings, the start-up refusal of network endpoints and what
// --insecure changes. Nothing here binds a network address.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "qg/broker/broker.hpp"
#include "qg/broker/exposure.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"

namespace {

using namespace std::string_literals;
using qg::broker::is_loopback_endpoint;

TEST(BrokerExposure, LoopbackAddressesCountAsLocal) {
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.1:5555"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.1:*"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.1:0"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.0.0.2:1"));  // all of 127.0.0.0/8
  EXPECT_TRUE(is_loopback_endpoint("tcp://127.255.255.254:1"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://[::1]:1"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://::1:1"));
  EXPECT_TRUE(is_loopback_endpoint("tcp://localhost:1"));
  EXPECT_TRUE(is_loopback_endpoint("ipc:///run/qgjob/broker.sock"));
  EXPECT_TRUE(is_loopback_endpoint("ipc://@qgjob-abstract"));
  EXPECT_TRUE(is_loopback_endpoint("inproc://broker-clients"));
}

TEST(BrokerExposure, WildcardsAndUnspecifiedAddressesCountAsNetwork) {
  EXPECT_FALSE(is_loopback_endpoint("tcp://0.0.0.0:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://*:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://*:*"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[::]:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[*]:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://10.0.0.5:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://192.168.1.10:5555"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[fe80::1]:1"));
}

TEST(BrokerExposure, NamesThatCouldResolveAnywhereCountAsNetwork) {
  EXPECT_FALSE(is_loopback_endpoint("tcp://eth0:1"));  // an interface name
  EXPECT_FALSE(is_loopback_endpoint("tcp://lo:1"));    // even the loopback interface's
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1.evil:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1.nip.io:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://localhost.evil.example:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://evil-localhost:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://LOCALHOST.:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://broker.example.com:5555"));
}

TEST(BrokerExposure, OtherSpellingsOfLoopbackAreRefusedRatherThanGuessed) {
  // Forms some resolvers read as 127.0.0.1; refusing them is safe, and 127.0.0.1 works.
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://0177.0.0.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://2130706433:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://0x7f000001:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[::ffff:127.0.0.1]:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[127.0.0.1]:1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://[::1%lo]:1"));
}

TEST(BrokerExposure, MalformedEndpointsCountAsNetwork) {
  EXPECT_FALSE(is_loopback_endpoint(""));
  EXPECT_FALSE(is_loopback_endpoint("tcp://"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1"));   // no port
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1:"));  // empty port
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1:http"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1:1;10.0.0.1:2"));  // source;destination form
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1 :1"));
  EXPECT_FALSE(is_loopback_endpoint("tcp:// 127.0.0.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("TCP://127.0.0.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("127.0.0.1:5555"));
  EXPECT_FALSE(is_loopback_endpoint("ipc://"));
  EXPECT_FALSE(is_loopback_endpoint("inproc://"));
  EXPECT_FALSE(is_loopback_endpoint("tcp://" + std::string(1000, '1') + ":1"));
  // libzmq reads up to the NUL: what it would bind is not what was checked.
  EXPECT_FALSE(is_loopback_endpoint("tcp://0.0.0.0:1\0tcp://127.0.0.1:1"s));
  EXPECT_FALSE(is_loopback_endpoint("tcp://127.0.0.1:1\0"s));
}

TEST(BrokerExposure, OtherTransportsCountAsNetwork) {
  EXPECT_FALSE(is_loopback_endpoint("ws://127.0.0.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("pgm://eth0;239.192.1.1:5555"));
  EXPECT_FALSE(is_loopback_endpoint("epgm://127.0.0.1;239.192.1.1:5555"));
  EXPECT_FALSE(is_loopback_endpoint("udp://127.0.0.1:1"));
  EXPECT_FALSE(is_loopback_endpoint("tipc://{5560,0,0}"));
  EXPECT_FALSE(is_loopback_endpoint("vmci://1:1"));
}

TEST(BrokerExposure, DefaultEndpointsAreLoopback) {
  const qg::broker::BrokerSettings settings;
  EXPECT_TRUE(qg::broker::network_endpoints(settings).empty());
  EXPECT_NO_THROW(qg::broker::check_exposure(settings));
}

TEST(BrokerExposure, ANetworkEndpointIsRefusedWithItsRoleNamed) {
  qg::broker::BrokerSettings settings;
  settings.worker_endpoint = "tcp://0.0.0.0:5556";
  settings.events_out_endpoint = "tcp://*:5558";
  try {
    qg::broker::check_exposure(settings);
    FAIL() << "a network endpoint was accepted";
  } catch (const qg::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("tcp://0.0.0.0:5556 (workers)"), std::string::npos) << message;
    EXPECT_NE(message.find("tcp://*:5558 (events-out)"), std::string::npos) << message;
    EXPECT_EQ(message.find("5555"), std::string::npos) << message;
    EXPECT_NE(message.find("--insecure"), std::string::npos) << message;
  }
}

TEST(BrokerExposure, InsecureAllowsNetworkEndpointsAndSaysWhatThatRisks) {
  qg::broker::BrokerSettings settings;
  settings.client_endpoint = "tcp://0.0.0.0:5555";
  settings.insecure = true;
  EXPECT_NO_THROW(qg::broker::check_exposure(settings));
  const auto warning = qg::broker::insecure_warning(settings);
  EXPECT_NE(warning.find("tcp://0.0.0.0:5555 (clients)"), std::string::npos) << warning;
  EXPECT_NE(warning.find("forge results"), std::string::npos) << warning;
}

TEST(BrokerExposure, CurveKeysAllowNetworkEndpointsAndTheRefusalNamesThem) {
  qg::broker::BrokerSettings settings;
  settings.client_endpoint = "tcp://0.0.0.0:5555";
  try {
    qg::broker::check_exposure(settings);
    FAIL() << "a network endpoint was accepted";
  } catch (const qg::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--curve-cert"), std::string::npos) << e.what();
  }
  settings.curve_cert = "broker.key_secret";
  EXPECT_TRUE(qg::broker::network_binding_allowed(settings));
  EXPECT_NO_THROW(qg::broker::check_exposure(settings));
}

TEST(BrokerExposure, BindRefusesANetworkEndpointBeforeBindingAnything) {
  zmq::context_t context(1);
  auto store = qg::sched::make_memory_store({});
  qg::broker::BrokerSettings settings;
  settings.client_endpoint = "tcp://127.0.0.1:*";
  settings.worker_endpoint = "tcp://127.0.0.1:*";
  settings.events_in_endpoint = "tcp://0.0.0.0:*";
  settings.events_out_endpoint = "tcp://127.0.0.1:*";
  qg::broker::Broker broker(context, *store, qg::SystemClock::instance(), settings, qg::null_logger());
  EXPECT_THROW(broker.bind(), qg::ConfigError);
  EXPECT_EQ(broker.client_port(), -1);  // the check came first: nothing was bound
}

}  // namespace

// CURVE on the broker: keys admitted by folder and domain, the identity a key gives reaching
// the ROUTER edge as the "User-Id" of every message, refused keys and plain peers getting
// nothing through, and a reload refusing a removed key's next connection.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>

#include "auth/zap_handler.hpp"
#include "broker_fixture.hpp"
#include "curve_keys.hpp"
#include "qg/broker/peer_identity.hpp"
#include "qg/common/logging.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;
using qg::broker::testing::KeyFolders;
using qg::proto::kClientProtocol;
using qg::proto::kWorkerProtocol;

template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds within = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The ZAP handler with a bare ROUTER: what the edge reads off each message.
class ZapEdge : public ::testing::Test {
 protected:
  void SetUp() override {
    org_ = keys_.make(keys_.clients(), "ci", {{"role", "org"}, {"org", "acme"}});
    worker_ = keys_.make(keys_.workers(), "w1", {{"role", "worker"}, {"worker-id", "w1"}});
    zap_ = std::make_unique<qg::broker::ZapHandler>(context_, qg::broker::KeyDirs{keys_.clients(), keys_.workers()},
                                                    qg::null_logger(), counters_, connections_);
  }

  // A ROUTER serving `domain` with the broker's key; returns its endpoint.
  std::string serve(zmq::socket_t& router, const char* domain) {
    qg::set_common_options(router);
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, keys_.broker().secret_key);
    router.set(zmq::sockopt::zap_domain, domain);
    router.bind("tcp://127.0.0.1:*");
    return router.get(zmq::sockopt::last_endpoint);
  }

  // What `router` receives from a DEALER holding `cert`, or nothing within `wait`.
  std::optional<qg::Multipart> exchange(zmq::socket_t& router, const std::string& endpoint, const qg::CurveCert& cert,
                                        std::chrono::milliseconds wait = 3000ms) {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    qg::set_common_options(dealer);
    qg::apply_curve(dealer, keys_.client_keys(cert));
    dealer.connect(endpoint);
    const std::array<std::string_view, 1> hello = {"hello"};
    qg::send_frames(dealer, hello);
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
    return qg::recv_multipart(router, 8, 1 << 16);
  }

  zmq::context_t context_{1};
  KeyFolders keys_;
  qg::CurveCert org_, worker_;
  qg::broker::BrokerCounters counters_;
  qg::broker::ConnectionTable connections_{qg::broker::ConnectionLimits{}};
  std::unique_ptr<qg::broker::ZapHandler> zap_;
};

TEST_F(ZapEdge, AnOrgKeysMessagesCarryRoleOrgAndItsOrgId) {
  zmq::socket_t router(context_, zmq::socket_type::router);
  const auto endpoint = serve(router, qg::broker::kClientsDomain);
  auto message = exchange(router, endpoint, org_);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->user_id, "org:acme");
  auto peer = qg::broker::PeerIdentity::parse(message->user_id);
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->role(), qg::broker::PeerRole::org);
  EXPECT_EQ(peer->id(), "acme");
  EXPECT_EQ(counters_.handshakes_admitted, 1u);
}

TEST_F(ZapEdge, AWorkerKeyIsAdmittedOnTheWorkerDomainOnlyAsItself) {
  zmq::socket_t workers(context_, zmq::socket_type::router);
  auto message = exchange(workers, serve(workers, qg::broker::kWorkersDomain), worker_);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->user_id, "worker:w1");
  zmq::socket_t clients(context_, zmq::socket_type::router);
  EXPECT_FALSE(exchange(clients, serve(clients, qg::broker::kClientsDomain), worker_, 500ms));
  zmq::socket_t workers2(context_, zmq::socket_type::router);
  EXPECT_FALSE(exchange(workers2, serve(workers2, qg::broker::kWorkersDomain), org_, 500ms));
  EXPECT_GE(counters_.handshakes_refused, 2u);
}

TEST_F(ZapEdge, AnUnknownDomainAdmitsNobody) {
  zmq::socket_t router(context_, zmq::socket_type::router);
  EXPECT_FALSE(exchange(router, serve(router, "elsewhere"), org_, 500ms));
}

// The broker on the memory store with CURVE on, and keys of every role.
class CurveBrokerTest : public BrokerTest {
 protected:
  CurveBrokerTest() {
    org_ = keys_.make(keys_.clients(), "ci-acme", {{"role", "org"}, {"org", "acme"}});
    worker_ = keys_.make(keys_.workers(), "w1", {{"role", "worker"}, {"worker-id", "w1"}});
    scheduler_ = keys_.make(keys_.workers(), "scheduler", {{"role", "scheduler"}});
    stranger_ = keys_.make({}, "stranger", {{"role", "admin"}});
    admin_ = keys_.make(keys_.clients(), "ops", {{"role", "admin"}});
    other_org_ = keys_.make(keys_.clients(), "ci-beta", {{"role", "org"}, {"org", "beta"}});
  }
  void adjust(qg::broker::BrokerSettings& settings) override {
    settings.curve_cert = keys_.broker_secret().string();
    settings.clients_dir = keys_.clients().string();
    settings.workers_dir = keys_.workers().string();
  }
  zmq::socket_t keyed(zmq::socket_type type, const std::string& endpoint, const qg::CurveCert& cert) {
    zmq::socket_t socket(context_, type);
    qg::set_common_options(socket);
    qg::apply_curve(socket, keys_.client_keys(cert));
    socket.connect(endpoint);
    return socket;
  }
  bool answered(zmq::socket_t& client) {
    send(client, qg::proto::frames_of(kClientProtocol, qg::proto::HealthRequest{"h1"}));
    return !receive(client, 700ms).empty();
  }

  // The prefix EVENTS_TOPIC tells `client`.
  std::string prefix_of(zmq::socket_t& client) {
    return request<qg::proto::EventsTopicReply>(client, kClientProtocol, qg::proto::EventsTopicRequest{"topic"}).prefix;
  }
  // A subscriber with `cert` on events-out, subscribed to each of `topics`.
  zmq::socket_t subscriber(const qg::CurveCert& cert, const std::vector<std::string>& topics) {
    auto sub = keyed(zmq::socket_type::sub, events_out_endpoint_, cert);
    for (const auto& t : topics) sub.set(zmq::sockopt::subscribe, t);
    return sub;
  }

  KeyFolders keys_;
  qg::CurveCert org_, worker_, scheduler_, stranger_, admin_, other_org_;
};

TEST_F(CurveBrokerTest, KeyedClientAndWorkerRunAJobEndToEnd) {
  auto client = keyed(zmq::socket_type::dealer, client_endpoint_, org_);
  ASSERT_EQ(submit(client, {"a.spec.ts"}).job_ids.size(), 1u);
  auto worker = keyed(zmq::socket_type::dealer, worker_endpoint_, worker_);
  qg::proto::Hello hello;
  hello.rid = "hello";
  hello.worker_id = "w1";
  hello.targets = {qg::proto::Target::emulator};
  request<qg::proto::HelloReply>(worker, kWorkerProtocol, hello);
  auto assign = request<qg::proto::Assign>(worker, kWorkerProtocol, pull_request(2000));
  ASSERT_EQ(assign.jobs.size(), 1u);
  EXPECT_GE(broker_->counters().handshakes_admitted, 2u);
  EXPECT_EQ(broker_->counters().unidentified, 0u);
}

TEST_F(CurveBrokerTest, AnUnknownKeyAndAPlainClientGetNoAnswer) {
  auto stranger = keyed(zmq::socket_type::dealer, client_endpoint_, stranger_);
  EXPECT_FALSE(answered(stranger));
  auto plain = dealer(client_endpoint_);
  EXPECT_FALSE(answered(plain));
  auto worker_on_clients = keyed(zmq::socket_type::dealer, client_endpoint_, worker_);
  EXPECT_FALSE(answered(worker_on_clients));
  EXPECT_GE(broker_->counters().handshakes_refused, 2u);
  EXPECT_EQ(broker_->counters().client_requests, 0u);
}

TEST_F(CurveBrokerTest, AReloadRefusesARemovedKeysNextConnectionAndKeepsTheOpenOne) {
  auto before = keyed(zmq::socket_type::dealer, client_endpoint_, org_);
  ASSERT_TRUE(answered(before));
  std::filesystem::remove(keys_.clients() / "ci-acme.key");
  broker_->reload_keys();
  ASSERT_TRUE(eventually([&] { return broker_->counters().key_reloads >= 1; }));
  auto after = keyed(zmq::socket_type::dealer, client_endpoint_, org_);
  EXPECT_FALSE(answered(after));
  EXPECT_TRUE(answered(before));  // ZAP is asked at connection: an open one stays until it drops
}

TEST_F(CurveBrokerTest, ASchedulerKeyPublishesEventsThatAnAdminKeyReceivesUnderItsPrefix) {
  auto admin = keyed(zmq::socket_type::dealer, client_endpoint_, admin_);
  const auto prefix = prefix_of(admin);
  ASSERT_EQ(prefix.size(), 32u);
  auto sub = subscriber(admin_, {prefix + "worker."});
  auto pub = keyed(zmq::socket_type::pub, events_in_endpoint_, scheduler_);
  qg::proto::WorkerEvent event;
  event.worker_id = "w9";
  event.state = "joined";
  const auto event_of = [&](const std::string& worker) {
    event.worker_id = worker;
    return std::vector<std::string>{"worker." + worker, std::string(qg::proto::kEventProtocol),
                                    std::string(qg::proto::WorkerEvent::command), qg::proto::encode(event)};
  };
  const auto frames = event_of("w9");
  std::vector<std::string> got;
  ASSERT_TRUE(eventually([&] {
    qg::send_multipart(pub, frames);
    got = receive(sub, 50ms);
    return !got.empty();
  })) << "admitted "
      << broker_->counters().handshakes_admitted << " refused " << broker_->counters().handshakes_refused;
  EXPECT_EQ(got[0], prefix + "worker.w9");
  // A plain publisher is not heard.
  zmq::socket_t plain(context_, zmq::socket_type::pub);
  qg::set_common_options(plain);
  plain.connect(events_in_endpoint_);
  const auto forwarded = broker_->counters().events_forwarded.load();
  for (int i = 0; i < 20; ++i) {
    qg::send_multipart(plain, event_of("w8"));
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(broker_->counters().events_forwarded.load(), forwarded + 1);  // at most one of pub's in flight
}

TEST_F(CurveBrokerTest, EachOrgReceivesOnlyItsOwnJobEventsAndAnAdminEveryOrgs) {
  auto acme = keyed(zmq::socket_type::dealer, client_endpoint_, org_);
  auto beta = keyed(zmq::socket_type::dealer, client_endpoint_, other_org_);
  auto admin = keyed(zmq::socket_type::dealer, client_endpoint_, admin_);
  const auto acme_prefix = prefix_of(acme);
  const auto beta_prefix = prefix_of(beta);
  const auto admin_prefix = prefix_of(admin);
  EXPECT_EQ(prefix_of(acme), acme_prefix);  // drawn once per org
  for (const auto* p : {&acme_prefix, &beta_prefix, &admin_prefix}) ASSERT_EQ(p->size(), 32u);
  EXPECT_NE(acme_prefix, beta_prefix);
  EXPECT_NE(acme_prefix, admin_prefix);
  // acme tries every topic of beta's it can name; beta and the admin subscribe as told.
  auto snoop =
      subscriber(org_, {"job.", "job.beta.", "hb.", "worker.", acme_prefix + "job.beta.", acme_prefix + "hb."});
  auto beta_sub = subscriber(other_org_, {beta_prefix + "job."});
  auto admin_sub = subscriber(admin_, {admin_prefix + "job."});
  // Subscriptions reach the broker asynchronously: submit for beta until both have an event.
  qg::proto::SubmitRequest req;
  req.org_id = "beta";
  req.app_version_id = "build-1";
  req.tests = {"a.spec.ts"};
  std::vector<std::string> to_beta, to_admin;
  ASSERT_TRUE(eventually([&] {
    req.rid = "r" + std::to_string(broker_->counters().client_requests.load());
    request<qg::proto::SubmitReply>(beta, kClientProtocol, req);
    if (to_beta.empty()) to_beta = receive(beta_sub, 20ms);
    if (to_admin.empty()) to_admin = receive(admin_sub, 20ms);
    return !to_beta.empty() && !to_admin.empty();
  }));
  EXPECT_EQ(to_beta[0].rfind(beta_prefix + "job.beta.", 0), 0u) << to_beta[0];
  EXPECT_EQ(to_admin[0].rfind(admin_prefix + "job.beta.", 0), 0u) << to_admin[0];
  EXPECT_TRUE(receive(snoop, 300ms).empty());
  EXPECT_EQ(broker_->counters().foreign_subscriptions, 0u);
}

TEST_F(CurveBrokerTest, ASubscriptionToEveryPrefixIsCountedUnlessItIsAnAdminsAndWorkerKeysGetNoPrefix) {
  auto admin_sub = subscriber(admin_, {""});
  auto acme_sub = subscriber(org_, {""});
  // Both reach the broker (every subscription comes up with its key); only acme's counts.
  ASSERT_TRUE(eventually([&] { return broker_->counters().foreign_subscriptions >= 1; }));
  std::this_thread::sleep_for(100ms);  // what the admin's subscription would have counted by now
  EXPECT_EQ(broker_->counters().foreign_subscriptions, 1u);
  auto worker_on_clients = keyed(zmq::socket_type::dealer, client_endpoint_, worker_);
  send(worker_on_clients, qg::proto::frames_of(kClientProtocol, qg::proto::EventsTopicRequest{"t"}));
  EXPECT_TRUE(receive(worker_on_clients, 500ms).empty());  // not admitted on the client port at all
}

}  // namespace

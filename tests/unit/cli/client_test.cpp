// The client against a hand-driven ROUTER: rid matching and the unreachable deadline.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/testing/process.hpp"

namespace qg::cli {
namespace {

using namespace std::chrono_literals;

TEST(Client, NoBrokerIsReportedAsUnreachableWithinTheTimeout) {
  zmq::context_t context(1);
  Client client(context, "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port()));
  proto::HealthRequest req;
  req.rid = client.new_rid();
  auto start = steady_ms();
  EXPECT_THROW(client.call<proto::HealthReply>(req, 300ms), BrokerUnreachable);
  EXPECT_LT(steady_ms() - start, 2000);
}

TEST(Client, StatusCommandExitsThreeWithAOneLineReasonWhenNoBroker) {
  GlobalConfig g;
  g.broker = "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port());
  g.request_timeout = 200ms;
  std::ostringstream out, err;
  StatusConfig c;
  c.job_ids = {"01ARZ3NDEKTSV4RRFFQ69G5FAV"};
  EXPECT_EQ(run_status(g, c, Io{out, err}), 3);
  const auto text = err.str();
  EXPECT_NE(text.find("cannot reach the broker"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(Client, IgnoresRepliesToOtherRequestsAndMapsErrorReplies) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  set_common_options(router);
  router.bind("tcp://127.0.0.1:*");
  auto endpoint = "tcp://127.0.0.1:" + std::to_string(bound_port(router));
  std::thread broker([&] {
    for (int i = 0; i < 2; ++i) {
      zmq::pollitem_t items[] = {{static_cast<void*>(router), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, 5000ms);
      auto m = recv_multipart(router, 8, 1 << 20);
      if (!m) return;
      auto rid = proto::peek_rid(m->frames.at(3));
      proto::HealthReply stale;
      stale.rid = "someone-else";
      send_multipart(router, {m->frames[0], "QGC1", "HEALTH", proto::encode(stale)});
      if (i == 0) {
        proto::HealthReply good;
        good.rid = rid;
        good.ok = true;
        good.store = "memory";
        send_multipart(router, {m->frames[0], "QGC1", "HEALTH", proto::encode(good)});
      } else {
        proto::ErrorReply e;
        e.rid = rid;
        e.error = {std::string(proto::errc::invalid_field), "bad", "limit"};
        send_multipart(router, {m->frames[0], "QGC1", "ERROR", proto::encode(e)});
      }
    }
  });
  Client client(context, endpoint);
  proto::HealthRequest req;
  req.rid = client.new_rid();
  auto reply = client.call<proto::HealthReply>(req, 5s);
  EXPECT_EQ(reply.rid, req.rid);
  EXPECT_TRUE(reply.ok);
  req.rid = client.new_rid();
  try {
    client.call<proto::HealthReply>(req, 5s);
    ADD_FAILURE() << "expected RequestFailed";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.error().code, "INVALID_FIELD");
    EXPECT_EQ(e.error().field, "limit");
  }
  broker.join();
}

}  // namespace
}  // namespace qg::cli

#include <gtest/gtest.h>

#include "qg/common/zmq_util.hpp"

namespace {

struct Pair {
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};
  Pair() {
    qg::set_common_options(router);
    qg::set_common_options(dealer);
    router.bind("inproc://pair");
    dealer.connect("inproc://pair");
  }
  std::optional<qg::Multipart> receive(std::size_t max_frames, std::size_t max_bytes) {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(2000));
    return qg::recv_multipart(router, max_frames, max_bytes);
  }
};

TEST(RecvMultipart, ReturnsNothingWhenNoMessageIsWaiting) {
  Pair p;
  EXPECT_FALSE(qg::recv_multipart(p.router, 8, 1024).has_value());
}

TEST(RecvMultipart, ReceivesEveryFrameWithTheIdentityFirst) {
  Pair p;
  ASSERT_TRUE(qg::send_multipart(p.dealer, {"a", "bb", "ccc"}));
  auto m = p.receive(8, 1024);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->oversize);
  ASSERT_EQ(m->frames.size(), 4u);
  EXPECT_EQ(m->frames[3], "ccc");
}

TEST(RecvMultipart, TooManyFramesAreDrainedAndFlaggedSoTheNextMessageIsIntact) {
  Pair p;
  ASSERT_TRUE(qg::send_multipart(p.dealer, {"1", "2", "3", "4", "5", "6"}));
  ASSERT_TRUE(qg::send_multipart(p.dealer, {"next"}));
  auto big = p.receive(4, 1024);
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(big->oversize);
  EXPECT_EQ(big->frames.size(), 1u);  // the identity, to answer with an error
  auto next = p.receive(4, 1024);
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->oversize);
  EXPECT_EQ(next->frames.back(), "next");
}

TEST(RecvMultipart, TooManyBytesAreFlagged) {
  Pair p;
  ASSERT_TRUE(qg::send_multipart(p.dealer, {std::string(2000, 'x')}));
  auto m = p.receive(8, 1000);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->oversize);
}

TEST(SendMultipart, ToAPeerThatIsGoneReportsFalseOnAMandatoryRouter) {
  Pair p;
  p.router.set(zmq::sockopt::router_mandatory, 1);
  EXPECT_FALSE(qg::send_multipart(p.router, {"no-such-peer", "hello"}));
}

TEST(BoundPort, ReadsTheEphemeralPortBack) {
  zmq::context_t context(1);
  zmq::socket_t s(context, zmq::socket_type::router);
  qg::set_common_options(s);
  s.bind("tcp://127.0.0.1:*");
  EXPECT_GT(qg::bound_port(s), 0);
}

}  // namespace

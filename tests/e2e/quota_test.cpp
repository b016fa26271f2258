// Per-org quotas and submit rates with the real qg-broker on Redis: a flood from one org is
// refused (QUOTA_EXCEEDED, RATE_LIMITED, with their figures) while another org's submit goes
// through, and `qgjob submit` waits out a RATE_LIMITED and succeeds, or gives up clearly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;

std::vector<std::string> submit_args(const std::string& org, int tests, const std::string& app = "build-1") {
  std::vector<std::string> args = {"submit", "--org-id", org, "--app-version-id", app};
  for (int i = 0; i < tests; ++i) {
    args.push_back("--test");
    args.push_back("t" + std::to_string(i) + ".spec.ts");
  }
  return args;
}

// Sends `n` one-test SUBMITs of `org` back to back on one connection, then reads every
// answer: the accepted ones, and the errors by code.
struct Flood {
  int accepted = 0;
  std::vector<proto::Error> refused;
};
Flood flood(const std::string& endpoint, const std::string& org, int n) {
  zmq::context_t context(1);
  zmq::socket_t client(context, zmq::socket_type::dealer);
  qg::set_common_options(client);
  client.connect(endpoint);
  for (int i = 0; i < n; ++i) {
    proto::SubmitRequest req;
    req.rid = "r" + std::to_string(i);
    req.org_id = org;
    req.app_version_id = "flood";
    req.tests = {"t.spec.ts"};
    qg::send_multipart(client, proto::frames_of(proto::kClientProtocol, req));
  }
  Flood out;
  for (int i = 0; i < n; ++i) {
    zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 10s);
    if ((item.revents & ZMQ_POLLIN) == 0) break;
    auto message = qg::recv_multipart(client, 8, 1 << 20);
    if (!message || message->frames.size() != 3) break;
    if (message->frames[1] == proto::SubmitReply::command) {
      ++out.accepted;
    } else if (auto e = proto::decode<proto::ErrorReply>(message->frames[2])) {
      out.refused.push_back(e->error);
    }
  }
  return out;
}

TEST(EndToEndQuotas, AFloodFromOneOrgIsRefusedWhileAnotherOrgSubmits) {
  ClusterOptions options;
  options.broker_args = {"--org-max-queued", "flood=30", "--org-submit-rate", "rated=2:3"};
  Cluster cluster(options);  // no worker: whatever is accepted stays queued

  // The quota: 30 queued jobs, then every further job of the org is refused with the figures.
  auto full = cluster.qgjob(submit_args("flood", 30));
  ASSERT_EQ(full.exit_code, 0) << full.error;
  auto quota = flood(cluster.client_endpoint(), "flood", 200);
  EXPECT_EQ(quota.accepted, 0);
  ASSERT_EQ(quota.refused.size(), 200u);
  for (const auto& e : quota.refused) {
    ASSERT_EQ(e.code, proto::errc::quota_exceeded) << e.message;
    EXPECT_EQ(e.queued, 30u);
    EXPECT_EQ(e.limit, 30u);
    EXPECT_TRUE(e.retry_after_ms.has_value());
  }

  // The rate: a burst of 3, then 2 a second; the flood takes a fraction of a second.
  auto rated = flood(cluster.client_endpoint(), "rated", 200);
  EXPECT_GE(rated.accepted, 3);
  EXPECT_LE(rated.accepted, 6);
  ASSERT_EQ(rated.accepted + static_cast<int>(rated.refused.size()), 200);
  for (const auto& e : rated.refused) {
    ASSERT_EQ(e.code, proto::errc::rate_limited) << e.message;
    EXPECT_EQ(e.rate, 2.0);
    EXPECT_EQ(e.burst, 3u);
    ASSERT_TRUE(e.retry_after_ms.has_value());
    EXPECT_LE(*e.retry_after_ms, 500u);
  }

  // Meanwhile another org submits as if nothing happened.
  auto other = cluster.qgjob(submit_args("other", 100));
  EXPECT_EQ(other.exit_code, 0) << other.error;
  EXPECT_EQ(other.error.find("QUOTA_EXCEEDED"), std::string::npos);

  // qgjob gives up on a quota it cannot wait out within its --timeout, saying why.
  auto over =
      cluster.qgjob({"submit", "--org-id", "flood", "--app-version-id", "b", "--test", "t.spec.ts", "--timeout", "1"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.error.find("QUOTA_EXCEEDED"), std::string::npos) << over.error;
  EXPECT_NE(over.error.find("giving up"), std::string::npos) << over.error;
}

TEST(EndToEndQuotas, QgjobSubmitWaitsOutARateLimitAndSucceeds) {
  ClusterOptions options;
  options.broker_args = {"--default-org-submit-rate", "5:5"};
  Cluster cluster(options);
  auto first = cluster.qgjob(submit_args("acme", 5));  // empties acme's bucket
  ASSERT_EQ(first.exit_code, 0) << first.error;
  auto second = cluster.qgjob(submit_args("acme", 5, "build-2"));
  EXPECT_EQ(second.exit_code, 0) << second.error;
  EXPECT_NE(second.error.find("RATE_LIMITED"), std::string::npos) << second.error;
  EXPECT_NE(second.error.find("sending the submit again in"), std::string::npos) << second.error;
  EXPECT_NE(second.error.find("5 job(s) submitted"), std::string::npos) << second.error;
  // Another org has a bucket of its own.
  auto other = cluster.qgjob(submit_args("beta", 5));
  EXPECT_EQ(other.exit_code, 0) << other.error;
  EXPECT_EQ(other.error.find("RATE_LIMITED"), std::string::npos) << other.error;
}

}  // namespace

// Attacks on a keyed broker's queue by one org against another of its tier, with real processes
// on Redis (broker, scheduler, workers) and raw client peers holding org keys.
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "keys.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"
#include "raw_peers.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::exchange;
using qg::testing::Keys;
using qg::testing::kOtherHost;
using qg::testing::raw_peer;
using qg::testing::wait_until;
namespace proto = qg::proto;

// The job ids of a SUBMIT by `dealer`; empty when it was not accepted.
std::vector<std::string> submit(zmq::socket_t& dealer, const std::string& rid, const std::string& org,
                                const std::string& app, std::vector<std::string> tests) {
  proto::SubmitRequest request;
  request.rid = rid;
  request.org_id = org;
  request.app_version_id = app;
  request.tests = std::move(tests);
  request.priority = proto::Priority::high;
  request.idempotency_key = rid;
  const auto reply = exchange(dealer, proto::kClientProtocol, request, 30s);
  if (reply.size() != 3 || reply[1] != proto::SubmitReply::command) return {};
  auto decoded = proto::decode<proto::SubmitReply>(reply[2]);
  return decoded ? decoded->job_ids : std::vector<std::string>{};
}

// The status of `job_id` as `dealer`'s key sees it; queued when there is no answer.
proto::JobStatus status_of(zmq::socket_t& dealer, const std::string& rid, const std::string& job_id) {
  const auto reply = exchange(dealer, proto::kClientProtocol, proto::StatusRequest{rid, {job_id}}, 5s);
  if (reply.size() != 3 || reply[1] != proto::StatusReply::command) return proto::JobStatus::queued;
  auto decoded = proto::decode<proto::StatusReply>(reply[2]);
  return decoded && decoded->jobs.size() == 1 ? decoded->jobs[0].status : proto::JobStatus::queued;
}

// Org acme, from another host, queues 10,000 high jobs (ten builds of 1,000) and keeps both
// workers of the farm busy with them; org beta, of the same tier, then submits one high job. It
// starts within 10 s and passes: fair share gives beta the next claim (rank order alone would
// run it after acme's whole flood, minutes later at this pace). The workers are the same two
// throughout.
TEST(QueueAttacks, TenThousandQueuedJobsOfOneOrgDoNotMakeAnotherOrgsHighJobWait) {
  Keys keys;
  auto options = keys.cluster(true);
  for (auto* args : {&options.broker_args, &options.scheduler_args}) {
    args->insert(args->end(), {"--org-tier", "acme=enterprise", "--org-tier", "beta=enterprise"});
  }
  Cluster cluster(options);
  zmq::context_t context(1);
  auto acme = raw_peer(context, zmq::socket_type::dealer, keys, "acme", cluster.client_endpoint());
  std::vector<std::string> flood;
  for (int build = 0; build < 10; ++build) {
    std::vector<std::string> tests;
    for (int t = 0; t < 1000; ++t) tests.push_back("tests/f" + std::to_string(t) + ".spec.ts");
    const auto ids = submit(acme, "flood-" + std::to_string(build), "acme", "build" + std::to_string(build), tests);
    ASSERT_EQ(ids.size(), 1000u) << "the flood's submit " << build << " failed" << cluster.log("broker-0");
    flood.insert(flood.end(), ids.begin(), ids.end());
  }
  for (const char* id : {"w1", "w2"}) {
    auto worker = keys.worker(id);
    worker.env["FAKE_APPWRIGHT_SLEEP"] = "0.01";
    cluster.add_worker(worker);
  }
  std::uint64_t rid = 0;
  ASSERT_TRUE(wait_until(
      [&] { return status_of(acme, "s" + std::to_string(++rid), flood.front()) != proto::JobStatus::queued; }, 30s,
      20ms))
      << "the workers never took the flood's first build" << cluster.log("broker-0");

  auto beta = raw_peer(context, zmq::socket_type::dealer, keys, "beta", cluster.client_endpoint(), "127.0.0.1");
  const auto started = std::chrono::steady_clock::now();
  const auto victim = submit(beta, "small-1", "beta", "app", {"tests/login.spec.ts"});
  ASSERT_EQ(victim.size(), 1u) << cluster.log("broker-0");
  EXPECT_TRUE(wait_until(
      [&] { return status_of(beta, "b" + std::to_string(++rid), victim[0]) != proto::JobStatus::queued; }, 10s, 20ms))
      << "beta's job waited behind acme's flood";
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  EXPECT_TRUE(wait_until(
      [&] { return status_of(beta, "b" + std::to_string(++rid), victim[0]) == proto::JobStatus::passed; }, 30s, 20ms));
  std::size_t flood_left = 0;
  for (std::size_t i = 0; i < flood.size(); i += 1000) {  // the last job of each build
    flood_left += status_of(acme, "s" + std::to_string(++rid), flood[i + 999]) == proto::JobStatus::queued;
  }
  std::cout << "[ measure  ] beta's job started " << waited.count() << " ms after its submit; the last job of "
            << flood_left << " of acme's 10 builds still queued" << std::endl;
  EXPECT_GE(flood_left, 5u) << "the flood was nearly done: the test did not measure waiting behind it";
}

}  // namespace

// Two brokers and two schedulers on one Redis: 10,000 jobs submitted by 8 concurrent
// clients across 50 app versions, claimed by 20 simulated workers. Every job is claimed
// exactly once, every claimed batch holds one group, and priorities are honoured.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;

constexpr int kClients = 8;
constexpr int kApps = 50;
constexpr int kJobsPerApp = 200;
constexpr int kWorkers = 20;
constexpr int kJobs = kApps * kJobsPerApp;

// Apps 0..9 are high priority, 10..19 low, the rest medium.
proto::Priority priority_of(int app) {
  if (app < 10) return proto::Priority::high;
  if (app < 20) return proto::Priority::low;
  return proto::Priority::medium;
}

std::vector<std::string> roundtrip(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                                   const std::string& body, std::chrono::milliseconds timeout) {
  qg::send_multipart(socket, {std::string(protocol), std::string(command), body});
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return {};
  auto message = qg::recv_multipart(socket, 8, 64 << 20);
  return message ? message->frames : std::vector<std::string>{};
}

struct ClaimRecord {
  std::string group_key;
  std::vector<std::string> job_ids;
  std::vector<proto::Priority> priorities;
  std::size_t order = 0;
};

TEST(MultiBroker, TenThousandJobsAreEachClaimedExactlyOnceInWholeGroupsByPriority) {
  qg::testing::ClusterOptions options;
  options.brokers = 2;
  options.schedulers = 2;
  qg::testing::Cluster cluster(options);
  zmq::context_t context(1);

  // Submit: 8 clients, alternating brokers, each suite one request of 200 tests of one app.
  std::mutex mutex;
  std::map<std::string, int> app_of_job;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      zmq::socket_t socket(context, zmq::socket_type::dealer);
      qg::set_common_options(socket);
      socket.connect(cluster.client_endpoint(static_cast<std::size_t>(c % 2)));
      for (int app = c; app < kApps; app += kClients) {
        proto::SubmitRequest req;
        req.rid = "c" + std::to_string(c) + "-" + std::to_string(app);
        req.org_id = "org" + std::to_string(app % 3);
        req.app_version_id = "app-" + std::to_string(app);
        req.priority = priority_of(app);
        for (int t = 0; t < kJobsPerApp; ++t) req.tests.push_back("tests/t" + std::to_string(t) + ".spec.ts");
        auto reply = roundtrip(socket, proto::kClientProtocol, "SUBMIT", proto::encode(req), 30s);
        auto decoded = reply.size() == 3 ? proto::decode<proto::SubmitReply>(reply[2]) : proto::Error{};
        if (!decoded || decoded->job_ids.size() != kJobsPerApp) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mutex);
        for (const auto& id : decoded->job_ids) app_of_job[id] = app;
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(app_of_job.size(), static_cast<std::size_t>(kJobs));

  // Claim: 20 workers, alternating brokers, pull until NOWORK, report every job passed.
  std::vector<ClaimRecord> claims;
  std::atomic<std::size_t> order{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      zmq::socket_t socket(context, zmq::socket_type::dealer);
      qg::set_common_options(socket);
      socket.connect(cluster.worker_endpoint(static_cast<std::size_t>(w % 2)));
      const std::string worker_id = "sim-" + std::to_string(w);
      int empty_pulls = 0;
      while (empty_pulls < 3) {
        proto::Pull pull;
        pull.rid = worker_id;
        pull.worker_id = worker_id;
        pull.targets = {proto::Target::emulator};
        pull.wait_ms = 200;
        auto reply = roundtrip(socket, proto::kWorkerProtocol, "PULL", proto::encode(pull), 10s);
        if (reply.size() != 3 || reply[1] != "ASSIGN") {
          ++empty_pulls;
          continue;
        }
        empty_pulls = 0;
        auto assign = proto::decode<proto::Assign>(reply[2]);
        if (!assign) {
          ++failures;
          continue;
        }
        ClaimRecord record;
        record.order = order++;
        record.group_key = assign->group_key;
        for (const auto& job : assign->jobs) {
          record.job_ids.push_back(job.job_id);
          record.priorities.push_back(job.priority);
          proto::Report report;
          report.rid = job.job_id;
          report.worker_id = worker_id;
          report.lease_id = assign->lease_id;
          report.job_id = job.job_id;
          report.attempt = job.attempt;
          report.status = proto::JobStatus::passed;
          auto confirm = roundtrip(socket, proto::kWorkerProtocol, "REPORT", proto::encode(report), 10s);
          auto decoded = confirm.size() == 3 ? proto::decode<proto::Confirm>(confirm[2]) : proto::Error{};
          if (!decoded || !decoded->accepted) ++failures;
        }
        std::lock_guard lock(mutex);
        claims.push_back(std::move(record));
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);

  // Exactly once, one group per batch.
  std::map<std::string, int> times_claimed;
  for (const auto& claim : claims) {
    std::set<int> apps;
    for (const auto& id : claim.job_ids) {
      ++times_claimed[id];
      apps.insert(app_of_job.at(id));
    }
    EXPECT_EQ(apps.size(), 1u) << "batch " << claim.group_key << " mixes app versions";
    EXPECT_EQ(claim.group_key.find("app-" + std::to_string(*apps.begin()) + "/"), claim.group_key.find("app-"))
        << claim.group_key;
    EXPECT_LE(claim.job_ids.size(), 50u);
  }
  EXPECT_EQ(times_claimed.size(), static_cast<std::size_t>(kJobs));
  for (const auto& [id, n] : times_claimed) ASSERT_EQ(n, 1) << id;

  // Priorities: all jobs were queued before the first pull, so every high batch is claimed
  // before any low one — up to the batches already in flight when it happened (one per worker).
  std::sort(claims.begin(), claims.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  std::size_t last_high = 0;
  std::size_t first_low = claims.size();
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (claims[i].priorities.front() == proto::Priority::high) last_high = i;
    if (claims[i].priorities.front() == proto::Priority::low) first_low = std::min(first_low, i);
  }
  EXPECT_LT(last_high, first_low + kWorkers) << "high batches claimed after low ones";

  auto status = cluster.qgjob({"queue", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.error;
}

}  // namespace

// qg-gateway in front of a broker that takes CURVE keys only: with its own admitted key
// (--curve-cert, --broker-key) it submits, reads and streams events of a job a keyed worker
// runs; with a key the broker does not admit it reaches nothing and says so (503).
#include <gtest/gtest.h>

#include <filesystem>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::bin_dir;
using qg::testing::EventStream;
using qg::testing::Json;
namespace fs = std::filesystem;

class GatewayCurve : public ::testing::Test {
 protected:
  GatewayCurve() {
    fs::create_directories(dir("clients"));
    fs::create_directories(dir("workers"));
    make("broker", {});
    make("gw", {"--admin"}, "clients");
    make("w1", {"--worker-id", "w1"}, "workers");
    make("stranger", {"--admin"});  // admitted nowhere
  }
  void make(const std::string& name, std::vector<std::string> role, const std::string& admit_in = "") {
    std::vector<std::string> argv = {bin_dir() + "/qgjob", "keygen", key(name)};
    argv.insert(argv.end(), role.begin(), role.end());
    auto made = qg::testing::run_command(argv, 10s);
    ASSERT_EQ(made.exit_code, 0) << made.error;
    if (!admit_in.empty()) fs::copy_file(key(name) + ".key", dir(admit_in) + "/" + name + ".key");
  }
  std::string key(const std::string& name) const { return keys_.path() + "/" + name; }
  std::string dir(const std::string& name) const { return keys_.path() + "/" + name; }
  std::vector<std::string> as(const std::string& name) const {
    return {"--curve-cert", key(name) + ".key_secret", "--broker-key", key("broker") + ".key"};
  }
  qg::testing::ClusterOptions cluster_options() const {
    qg::testing::ClusterOptions o;
    o.redis = false;
    o.broker_args = {"--curve-cert", key("broker") + ".key_secret", "--clients-dir", dir("clients"), "--workers-dir",
                     dir("workers")};
    o.client_args = as("gw");
    return o;
  }

  qg::testing::TempDir keys_;
};

TEST_F(GatewayCurve, WithItsOwnAdmittedKeyTheGatewayServesRestAndEvents) {
  qg::testing::Cluster cluster(cluster_options());
  qg::testing::WorkerOptions worker;
  worker.worker_id = "w1";
  worker.extra_args = as("w1");
  cluster.add_worker(worker);
  std::unique_ptr<qg::testing::ChildProcess> gateway;
  auto args = as("gw");
  args.insert(args.end(), {"--broker", cluster.client_endpoint(), "--events", cluster.events_out_endpoint(),
                           "--stream-keepalive", "0.2"});
  const int port = qg::testing::start_gateway(gateway, args, cluster.dir() + "/gateway.log");
  ASSERT_GT(port, 0);

  EventStream stream(port, "?org_id=acme", "");
  ASSERT_TRUE(stream.wait_for(": open"));
  httplib::Client client("127.0.0.1", port);
  auto submitted =
      client.Post("/api/v1/jobs", R"({"org_id":"acme","app_version_id":"v1","tests":["a.js"]})", "application/json");
  ASSERT_TRUE(submitted);
  ASSERT_EQ(submitted->status, 201) << submitted->body;
  const std::string job = Json::parse(submitted->body)["job_ids"][0];
  ASSERT_TRUE(qg::testing::wait_until(
      [&] {
        auto r = client.Get("/api/v1/jobs/" + job);
        return r && r->status == 200 && Json::parse(r->body)["status"] == "passed";
      },
      30s, 50ms));
  EXPECT_TRUE(stream.wait_for("\"status\":\"passed\"")) << stream.text();
}

TEST_F(GatewayCurve, WithAKeyTheBrokerDoesNotAdmitNothingIsReached) {
  qg::testing::Cluster cluster(cluster_options());
  std::unique_ptr<qg::testing::ChildProcess> gateway;
  auto args = as("stranger");
  args.insert(args.end(), {"--broker", cluster.client_endpoint(), "--events", cluster.events_out_endpoint(),
                           "--request-timeout", "0.5"});
  const int port = qg::testing::start_gateway(gateway, args, cluster.dir() + "/gateway.log");
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/api/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  auto jobs = client.Get("/api/v1/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 503);
  EXPECT_EQ(Json::parse(jobs->body)["error"]["code"], "UNAVAILABLE");
}

}  // namespace

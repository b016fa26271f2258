// qgjob with CURVE keys, as real processes on 127.0.0.1: keys made by `qgjob keygen` (and by
// pyzmq's zmq.auth), a broker admitting them by folder, a keyed client, worker and scheduler
// running a job end to end on Redis and on the memory store; an unknown key and a plain
// client getting nothing through; SIGHUP after a key file is removed refusing its next
// connection.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "keys.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::bin_dir;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::Keys;
using qg::testing::qgjob_as;
using qg::testing::run_command;
using qg::testing::TempDir;
using qg::testing::WorkerOptions;
namespace fs = std::filesystem;

void run_a_job_end_to_end(bool redis) {
  Keys keys;
  Cluster cluster(keys.cluster(redis));
  cluster.add_worker(keys.worker());
  const auto done = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts", "--wait", "--timeout", "60"});
  EXPECT_EQ(done.exit_code, 0) << done.output << done.error << cluster.log("broker-0") << cluster.log("w1");
  EXPECT_NE(done.output.find("1 passed"), std::string::npos) << done.output;
  EXPECT_EQ(cluster.log("broker-0").find("refused a connection"), std::string::npos) << cluster.log("broker-0");
}

TEST(CurveProcesses, KeyedClientWorkerAndSchedulerRunAJobOnRedis) { run_a_job_end_to_end(true); }

TEST(CurveProcesses, KeyedClientAndWorkerRunAJobOnTheMemoryStore) { run_a_job_end_to_end(false); }

TEST(CurveProcesses, AnUnknownKeyAndAPlainClientCannotSubmit) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  const std::vector<std::string> submit = {"submit",    "--org-id",  "acme", "--app-version-id", "b1", "--test",
                                           "x.spec.ts", "--timeout", "3"};
  const auto stranger = qgjob_as(cluster, keys.as("stranger"), submit);
  EXPECT_EQ(stranger.exit_code, 3) << stranger.output << stranger.error;
  EXPECT_NE(stranger.error.find("does the broker admit this --curve-cert"), std::string::npos) << stranger.error;
  const auto plain = qgjob_as(cluster, {}, submit);
  EXPECT_EQ(plain.exit_code, 3) << plain.output << plain.error;
  // A worker's key is not a client's.
  EXPECT_EQ(qgjob_as(cluster, keys.as("w1"), {"health"}).exit_code, 3);
  // Nothing of theirs arrived; the admitted client still works.
  const auto list = cluster.qgjob({"list", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.error;
  EXPECT_EQ(list.output.find("x.spec.ts"), std::string::npos) << list.output;
  EXPECT_NE(cluster.log("broker-0").find("refused a connection on clients"), std::string::npos)
      << cluster.log("broker-0");
}

TEST(CurveProcesses, SighupAfterAKeyFileIsRemovedRefusesThatKeysNextConnection) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  ASSERT_EQ(qgjob_as(cluster, keys.as("ops"), {"health"}).exit_code, 0);
  fs::remove(keys.clients() / "ops.key");
  cluster.broker().signal(SIGHUP);
  ASSERT_TRUE(qg::testing::wait_until(
      [&] { return cluster.log("broker-0").find("CURVE keys read again") != std::string::npos; }, 10s, 20ms))
      << cluster.log("broker-0");
  const auto revoked = qgjob_as(cluster, keys.as("ops"), {"health"});
  EXPECT_EQ(revoked.exit_code, 3) << revoked.output << revoked.error;
  EXPECT_EQ(cluster.qgjob({"health"}).exit_code, 0);  // the other keys still work
}

// pyzmq's certificates: `zmq.auth.create_certificates(dir, name)` writes the metadata (if any)
// into the secret file only. A public file without a role is named by its file: NAME.key in
// the clients folder is org NAME, in the workers folder worker NAME. A role added to the public
// file's metadata section is read as from `qgjob keygen`'s.
TEST(CurveProcesses, PyzmqCertificatesWorkAsClientAndWorkerKeys) {
  const std::string python = "/usr/bin/python3";
  if (run_command({python, "-c", "import zmq.auth"}, 20s).exit_code != 0) {
    FAIL() << "python3-zmq is not installed: run scripts/setup (the interop check needs pyzmq's zmq.auth)";
  }
  Keys keys;
  const std::string script =
      "import sys, zmq.auth\n"
      "d = sys.argv[1]\n"
      "zmq.auth.create_certificates(d, 'globex')\n"
      "zmq.auth.create_certificates(d, 'pw1', metadata={'role': 'worker', 'worker-id': 'pw1'})\n"
      "zmq.auth.create_certificates(d, 'ci-initech')\n"
      "p = d + '/ci-initech.key'\n"
      "t = open(p).read().replace('metadata\\n', 'metadata\\n    role = org\\n    org = initech\\n')\n"
      "open(p, 'w').write(t)\n";
  const auto made = run_command({python, "-c", script, keys.path("")}, 20s);
  ASSERT_EQ(made.exit_code, 0) << made.output << made.error;
  fs::copy_file(keys.path("globex.key"), keys.clients() / "globex.key");
  fs::copy_file(keys.path("ci-initech.key"), keys.clients() / "ci-initech.key");
  fs::copy_file(keys.path("pw1.key"), keys.workers() / "pw1.key");
  auto options = keys.cluster(true);
  options.client_args = keys.as("globex");
  Cluster cluster(options);
  cluster.add_worker(keys.worker("pw1"));
  for (const auto& [key, org] : {std::pair{"globex", "globex"}, std::pair{"ci-initech", "initech"}}) {
    const auto done = qgjob_as(
        cluster, keys.as(key),
        {"submit", "--org-id", org, "--app-version-id", "b1", "--test", "a.spec.ts", "--wait", "--timeout", "60"});
    EXPECT_EQ(done.exit_code, 0) << key << done.output << done.error << cluster.log("broker-0") << cluster.log("pw1");
  }
  EXPECT_NE(cluster.log("broker-0").find("CURVE: 5 client keys"), std::string::npos) << cluster.log("broker-0");
}

}  // namespace

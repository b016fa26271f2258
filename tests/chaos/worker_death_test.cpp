// A worker killed with SIGKILL takes its running test with it: the test's process and what
// that started (a grandchild in the test's process group) are gone soon after, so the next
// attempt never shares the device with a leftover of the last one. Should the test's guard
// die with the worker, the next worker on the same workdir ends what is left when it starts.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::process_gone;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

int pid_in(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  in >> pid;
  return pid;
}

// A broker on the memory store and worker w1, whose test's shell starts a grandchild, writes
// both pids (renamed into place, so a file that exists is whole) and waits.
class WorkerDeath : public ::testing::Test {
 protected:
  WorkerDeath() : cluster_(memory_store()), api_(cluster_.client_endpoint()) {}

  static ClusterOptions memory_store() {
    ClusterOptions options;
    options.redis = false;
    return options;
  }

  void add_worker() {
    const std::string dir = cluster_.dir();
    WorkerOptions worker;
    worker.worker_id = "w1";
    worker.extra_args = qg::testing::fast_worker_args();
    worker.run_cmd = "sleep 60 & echo $$ $! > " + dir + "/pids.tmp; mv " + dir + "/pids.tmp " + dir + "/pids; wait";
    cluster_.add_worker(worker);
  }

  // Submits a job and waits until its test runs: the shell's and the grandchild's pids.
  void start_test() {
    add_worker();
    ASSERT_EQ(api_.submit("acme", "build-K", {"t/a.spec.ts"}, "k1").size(), 1u);
    const std::string pids_file = cluster_.dir() + "/pids";
    ASSERT_TRUE(wait_until([&] { return pid_in(pids_file) > 0; }, 30s, 10ms)) << cluster_.log("w1");
    std::ifstream pids(pids_file);
    pids >> shell_ >> grandchild_;
    ASSERT_GT(shell_, 0);
    ASSERT_GT(grandchild_, 0);
    ASSERT_FALSE(process_gone(shell_));
    ASSERT_FALSE(process_gone(grandchild_));
  }

  ~WorkerDeath() override {
    for (int pid : {grandchild_, shell_}) {
      if (pid > 0 && !process_gone(pid)) ::kill(pid, SIGKILL);
    }
  }

  Cluster cluster_;
  Api api_;
  int shell_ = 0;
  int grandchild_ = 0;
};

TEST_F(WorkerDeath, AWorkerKilledWithSigkillTakesItsTestAndTheTestsChildrenWithIt) {
  start_test();
  ASSERT_EQ(::kill(cluster_.worker(0).pid(), SIGKILL), 0);  // the worker alone, not its test's group
  EXPECT_TRUE(wait_until([&] { return process_gone(shell_); }, 5s, 5ms)) << "the test's shell outlived its worker";
  EXPECT_TRUE(wait_until([&] { return process_gone(grandchild_); }, 5s, 5ms))
      << "the test's grandchild outlived its worker";
}

TEST_F(WorkerDeath, AWorkerStartedAfterOneThatDiedWithItsTestsGuardEndsWhatWasLeft) {
  start_test();
  const pid_t guard = ::getpgid(shell_);  // the test's process group is led by its guard
  ASSERT_GT(guard, 0);
  ASSERT_NE(guard, shell_);
  // Both die, the worker unable to act on its guard's end (stopped first).
  const pid_t worker = cluster_.worker(0).pid();
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);
  ASSERT_EQ(::kill(guard, SIGKILL), 0);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  cluster_.worker(0).wait(5s);
  // The shell dies with its guard; the grandchild, reparented, would run on.
  ASSERT_TRUE(wait_until([&] { return process_gone(shell_); }, 5s, 5ms));
  ASSERT_FALSE(process_gone(grandchild_));

  add_worker();  // same id, same workdir
  EXPECT_TRUE(wait_until([&] { return process_gone(grandchild_); }, 10s, 5ms))
      << "the new worker left its predecessor's test running\n"
      << cluster_.log("w1");
  EXPECT_TRUE(wait_until(
      [&] { return cluster_.log("w1").find("left running by a previous worker") != std::string::npos; }, 5s, 10ms))
      << cluster_.log("w1");
}

}  // namespace

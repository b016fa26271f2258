#pragma once
// Keys for end-to-end tests with CURVE: a folder of certificates made by the real `qgjob
// keygen`, the admitted public halves copied into clients/ and workers/, and the flags each
// process connects with.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "qg/testing/process.hpp"

namespace qg::testing {

using namespace std::chrono_literals;

// A key folder layout: DIR/NAME.key(_secret) made by `qgjob keygen`, the public halves of the
// admitted ones copied into DIR/clients and DIR/workers.
class Keys {
 public:
  Keys() {
    std::filesystem::create_directories(clients());
    std::filesystem::create_directories(workers());
    make("broker", {});
    make("acme", {"--org", "acme"}, clients());
    make("beta", {"--org", "beta"}, clients());
    make("ops", {"--admin"}, clients());
    make("w1", {"--worker-id", "w1"}, workers());
    make("w2", {"--worker-id", "w2"}, workers());
    make("sched", {"--scheduler"}, workers());
    make("stranger", {"--org", "acme"});  // admitted nowhere
  }
  void make(const std::string& name, std::vector<std::string> role, const std::filesystem::path& admit_in = {}) {
    std::vector<std::string> argv = {bin_dir() + "/qgjob", "keygen", path(name)};
    argv.insert(argv.end(), role.begin(), role.end());
    const auto made = run_command(argv, 10s);
    ASSERT_EQ(made.exit_code, 0) << made.output << made.error;
    if (!admit_in.empty()) std::filesystem::copy_file(path(name) + ".key", admit_in / (name + ".key"));
  }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
  std::filesystem::path clients() const { return std::filesystem::path(dir_.path()) / "clients"; }
  std::filesystem::path workers() const { return std::filesystem::path(dir_.path()) / "workers"; }
  // The flags a process holding key `name` connects with.
  std::vector<std::string> as(const std::string& name) const {
    return {"--curve-cert", path(name) + ".key_secret", "--broker-key", path("broker") + ".key"};
  }
  ClusterOptions cluster(bool redis) const {
    ClusterOptions o;
    o.redis = redis;
    o.broker_args = {"--curve-cert",  path("broker") + ".key_secret",
                     "--clients-dir", clients().string(),
                     "--workers-dir", workers().string()};
    o.scheduler_args = as("sched");
    o.client_args = as("acme");
    return o;
  }
  WorkerOptions worker(const std::string& name = "w1") const {
    WorkerOptions w;
    w.worker_id = name;
    w.extra_args = as(name);
    return w;
  }

 private:
  TempDir dir_;
};

// `qgjob <args>` against `cluster` with exactly the given global flags (not the cluster's).
inline CommandResult qgjob_as(Cluster& cluster, std::vector<std::string> flags, std::vector<std::string> args) {
  std::vector<std::string> argv = {
      bin_dir() + "/qgjob", "--broker", cluster.client_endpoint(), "--events", cluster.events_out_endpoint(),
      "--request-timeout",  "1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, 20s);
}

}  // namespace qg::testing

#pragma once
// A whole qgjob on one machine for end-to-end tests: a real redis-server, qg-broker,
// qg-scheduler and qg-worker processes on free ports, and a way to run `qgjob` against them.
// Everything is killed and cleaned up by the destructor.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qg/testing/process.hpp"

namespace qg::testing {

struct ClusterOptions {
  bool redis = true;  // false: broker --store memory, no scheduler
  bool aof = false;
  std::string appendfsync = "everysec";  // with aof: everysec or always (see RedisServer)
  bool redis_socket = false;             // brokers and schedulers reach Redis on its Unix socket
  std::vector<std::string> redis_args;   // extra redis-server arguments (e.g. --requirepass)
  std::string redis_userinfo;            // credentials in the URL they get: "user:password", ":password"
  std::string external_redis_url;        // non-empty: the Redis they use (not started here), e.g. Sentinel's
  int brokers = 1;
  int schedulers = 1;
  std::vector<std::string> broker_args;     // extra flags for every broker
  std::vector<std::string> scheduler_args;  // extra flags for every scheduler
  std::vector<std::string> client_args;     // extra global flags for every qgjob run (health probes too)
};

struct WorkerOptions {
  std::string worker_id;
  std::string targets = "emulator";
  std::string install_cmd;  // default: append "<app_version_id> <device_id>" to installs.log
  std::string run_cmd;      // default: examples/fake-appwright
  int job_timeout_s = 30;
  int broker_index = 0;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;  // extra environment (FAKE_APPWRIGHT_SLEEP defaults to 0)
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();

  // Starts a worker; returns its index.
  std::size_t add_worker(WorkerOptions options);
  ChildProcess& worker(std::size_t index) { return *workers_.at(index); }
  ChildProcess& broker(std::size_t index = 0) { return *brokers_.at(index); }
  void restart_broker(std::size_t index = 0);
  // kill -9 a broker and leave it down; start_broker_again() brings it back on the same ports
  // (and does not wait for it: poll `qgjob health` yourself, or call wait_for_broker).
  void kill_broker(std::size_t index = 0);
  void start_broker_again(std::size_t index = 0);
  void wait_for_broker(std::size_t index);
  RedisServer* redis() { return redis_.get(); }
  // The URL the brokers and schedulers are given (TCP, or the Unix socket: redis_socket).
  std::string redis_url() const;
  ChildProcess& scheduler(std::size_t index = 0) { return *schedulers_.at(index); }
  // Starts one more qg-scheduler (publishing to broker `broker_index`); returns its index.
  std::size_t add_scheduler(std::size_t broker_index = 0);
  std::size_t worker_count() const { return workers_.size(); }

  // Runs `qgjob <args>` against broker `broker_index`. Adds --broker/--events.
  CommandResult qgjob(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      std::size_t broker_index = 0);

  // Lines of installs.log ("<app_version_id> <device_id>").
  std::vector<std::string> installs() const;
  const std::string& dir() const { return dir_.path(); }
  std::string client_endpoint(std::size_t broker_index = 0) const;
  std::string worker_endpoint(std::size_t broker_index = 0) const;
  std::string events_in_endpoint(std::size_t broker_index = 0) const;
  std::string events_out_endpoint(std::size_t broker_index = 0) const;
  // Text of a process's log file, for failure messages.
  std::string log(const std::string& name) const;

 private:
  struct Ports {
    int client, worker, events_in, events_out;
  };
  void start_broker(std::size_t index);
  // Waits until broker `index`, started for the first time, answers. Its ports were free when
  // chosen, but another test's process may take one before the broker binds it: then the
  // broker exits ("Address already in use") and is started again on new ports (only the
  // schedulers have connected to the old ones), at most 5 times. True when it moved.
  bool bring_up_broker(std::size_t index);
  bool broker_answers(std::size_t index);

  ClusterOptions options_;
  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
  std::vector<Ports> ports_;
  std::vector<std::unique_ptr<ChildProcess>> brokers_;
  std::vector<std::unique_ptr<ChildProcess>> schedulers_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace qg::testing

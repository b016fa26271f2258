#include "cluster.hpp"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qg::testing {

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  if (options_.redis && options_.external_redis_url.empty())
    redis_ = std::make_unique<RedisServer>(options_.aof, options_.appendfsync, options_.redis_args);
  for (int i = 0; i < options_.brokers; ++i) {
    ports_.push_back({free_port(), free_port(), free_port(), free_port()});
    brokers_.push_back(nullptr);
    start_broker(static_cast<std::size_t>(i));
  }
  const auto add_schedulers = [&] {
    if (!options_.redis) return;
    for (int i = 0; i < options_.schedulers; ++i) add_scheduler(0);
  };
  add_schedulers();
  for (std::size_t i = 0; i < brokers_.size(); ++i) {
    if (bring_up_broker(i) && i == 0) {
      schedulers_.clear();  // they publish to broker 0's old events port: started again
      add_schedulers();
    }
  }
}

std::string Cluster::redis_url() const {
  if (!options_.external_redis_url.empty()) return options_.external_redis_url;
  const std::string credentials = options_.redis_userinfo.empty() ? "" : options_.redis_userinfo + "@";
  return options_.redis_socket ? "unix://" + credentials + redis_->socket_path()
                               : "redis://" + credentials + "127.0.0.1:" + std::to_string(redis_->port());
}

Cluster::~Cluster() {
  for (auto& w : workers_) w->signal(SIGKILL);
  for (auto& s : schedulers_) s->signal(SIGKILL);
  for (auto& b : brokers_) {
    if (b) b->signal(SIGKILL);
  }
}

std::size_t Cluster::add_scheduler(std::size_t broker_index) {
  const auto index = schedulers_.size();
  std::vector<std::string> argv = {bin_dir() + "/qg-scheduler",
                                   "--redis-url",
                                   redis_url(),
                                   "--events",
                                   events_in_endpoint(broker_index),
                                   "--scheduler-id",
                                   "sched-" + std::to_string(index),
                                   "--log-level",
                                   "debug"};
  argv.insert(argv.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
  schedulers_.push_back(
      std::make_unique<ChildProcess>(argv, dir_.path() + "/scheduler-" + std::to_string(index) + ".log"));
  return index;
}

void Cluster::kill_broker(std::size_t index) {
  brokers_[index]->signal(SIGKILL);
  brokers_[index]->wait(std::chrono::seconds(5));
}

void Cluster::start_broker_again(std::size_t index) { start_broker(index); }

void Cluster::start_broker(std::size_t index) {
  const auto& p = ports_[index];
  std::vector<std::string> argv = {bin_dir() + "/qg-broker",
                                   "--client-endpoint",
                                   "tcp://127.0.0.1:" + std::to_string(p.client),
                                   "--worker-endpoint",
                                   "tcp://127.0.0.1:" + std::to_string(p.worker),
                                   "--events-in",
                                   "tcp://127.0.0.1:" + std::to_string(p.events_in),
                                   "--events-out",
                                   "tcp://127.0.0.1:" + std::to_string(p.events_out),
                                   "--broker-id",
                                   "broker-" + std::to_string(index),
                                   "--log-level",
                                   "debug"};
  if (options_.redis) {
    argv.insert(argv.end(), {"--redis-url", redis_url()});
  } else {
    argv.insert(argv.end(), {"--store", "memory"});
  }
  argv.insert(argv.end(), options_.broker_args.begin(), options_.broker_args.end());
  brokers_[index] = std::make_unique<ChildProcess>(argv, dir_.path() + "/broker-" + std::to_string(index) + ".log");
}

bool Cluster::broker_answers(std::size_t index) {
  // Up means answering with its store reachable; `ok` also needs a live scheduler, which a
  // test may start later (or never).
  auto health = qgjob({"health", "--json", "--request-timeout", "1"}, std::chrono::seconds(5), index);
  return health.output.find("\"store_reachable\":true") != std::string::npos;
}

void Cluster::wait_for_broker(std::size_t index) {
  bool up = wait_until([&] { return broker_answers(index); }, std::chrono::seconds(20), std::chrono::milliseconds(20));
  if (!up) throw std::runtime_error("broker did not come up:\n" + log("broker-" + std::to_string(index)));
}

bool Cluster::bring_up_broker(std::size_t index) {
  const std::string name = "broker-" + std::to_string(index);
  std::size_t logged = 0;  // the log is appended to across attempts
  for (int attempt = 1;; ++attempt) {
    const bool settled = wait_until([&] { return !brokers_[index]->running() || broker_answers(index); },
                                    std::chrono::seconds(20), std::chrono::milliseconds(20));
    if (settled && brokers_[index]->running()) return attempt > 1;
    const bool port_taken = log(name).find("Address already in use", logged) != std::string::npos;
    if (!port_taken || attempt == 5) throw std::runtime_error("broker did not come up:\n" + log(name));
    ports_[index] = {free_port(), free_port(), free_port(), free_port()};
    logged = log(name).size();
    start_broker(index);
  }
}

void Cluster::restart_broker(std::size_t index) {
  brokers_[index]->signal(SIGKILL);
  brokers_[index]->wait(std::chrono::seconds(5));
  start_broker(index);
  wait_for_broker(index);
}

std::size_t Cluster::add_worker(WorkerOptions o) {
  const auto index = workers_.size();
  if (o.worker_id.empty()) o.worker_id = "worker-" + std::to_string(index);
  if (o.install_cmd.empty()) o.install_cmd = "echo {app_version_id} {device_id} >> " + dir_.path() + "/installs.log";
  if (o.run_cmd.empty()) o.run_cmd = source_dir() + "/examples/fake-appwright test {test_path} --project {target}";
  std::vector<std::string> argv = {bin_dir() + "/qg-worker",
                                   "--broker",
                                   worker_endpoint(static_cast<std::size_t>(o.broker_index)),
                                   "--events",
                                   events_in_endpoint(static_cast<std::size_t>(o.broker_index)),
                                   "--worker-id",
                                   o.worker_id,
                                   "--device-id",
                                   "dev-" + o.worker_id,
                                   "--targets",
                                   o.targets,
                                   "--workdir",
                                   dir_.path() + "/" + o.worker_id,
                                   "--install-cmd",
                                   o.install_cmd,
                                   "--run-cmd",
                                   o.run_cmd,
                                   "--job-timeout",
                                   std::to_string(o.job_timeout_s),
                                   "--log-level",
                                   "debug"};
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  std::map<std::string, std::string> env = {{"FAKE_APPWRIGHT_SLEEP", "0"}};
  for (const auto& [k, v] : o.env) env[k] = v;
  workers_.push_back(std::make_unique<ChildProcess>(argv, dir_.path() + "/" + o.worker_id + ".log", env));
  return index;
}

CommandResult Cluster::qgjob(std::vector<std::string> args, std::chrono::milliseconds timeout,
                             std::size_t broker_index) {
  std::vector<std::string> argv = {bin_dir() + "/qgjob", "--broker", client_endpoint(broker_index), "--events",
                                   events_out_endpoint(broker_index)};
  argv.insert(argv.end(), options_.client_args.begin(), options_.client_args.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

std::vector<std::string> Cluster::installs() const {
  std::vector<std::string> lines;
  std::ifstream in(dir_.path() + "/installs.log");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string Cluster::client_endpoint(std::size_t i) const {
  return "tcp://127.0.0.1:" + std::to_string(ports_.at(i).client);
}
std::string Cluster::worker_endpoint(std::size_t i) const {
  return "tcp://127.0.0.1:" + std::to_string(ports_.at(i).worker);
}
std::string Cluster::events_in_endpoint(std::size_t i) const {
  return "tcp://127.0.0.1:" + std::to_string(ports_.at(i).events_in);
}
std::string Cluster::events_out_endpoint(std::size_t i) const {
  return "tcp://127.0.0.1:" + std::to_string(ports_.at(i).events_out);
}

std::string Cluster::log(const std::string& name) const {
  std::ifstream in(dir_.path() + "/" + name + ".log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace qg::testing

#include "qg/testing/sentinel.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace qg::testing {

namespace {

// The value of `field` in a reply redis-cli printed one element a line (field, value, ...).
std::string field_of(const std::string& text, const std::string& field) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line == field) {
      std::string value;
      std::getline(in, value);
      return value;
    }
  }
  return {};
}

}  // namespace

RedisSentinelSet::RedisSentinelSet(SentinelSetOptions options) : options_(std::move(options)) {
  std::vector<std::string> args = options_.redis_args;
  if (!options_.password.empty()) {
    args.insert(args.end(), {"--requirepass", options_.password, "--masterauth", options_.password});
  }
  servers_.push_back(std::make_unique<RedisServer>(false, "everysec", args));
  args.insert(args.end(), {"--replicaof", "127.0.0.1", std::to_string(servers_[0]->port())});
  servers_.push_back(std::make_unique<RedisServer>(false, "everysec", args));
  for (std::size_t i = 0; i < 3; ++i) {
    sentinel_ports_.push_back(free_port());
    start_sentinel(i);
  }
  if (!wait_until([&] { return ready(); }, std::chrono::seconds(30), std::chrono::milliseconds(100))) {
    throw std::runtime_error("the sentinels did not settle within 30 s (see the logs in " + dir_.path() + ")");
  }
}

RedisSentinelSet::~RedisSentinelSet() {
  for (auto& s : sentinels_) s->signal(SIGKILL);
}

void RedisSentinelSet::start_sentinel(std::size_t index) {
  const std::string dir = dir_.path() + "/sentinel-" + std::to_string(index);
  std::ofstream(dir + ".conf") << "port " << sentinel_ports_[index] << "\nbind 127.0.0.1\ndaemonize no\ndir "
                               << dir_.path() << "\nsentinel monitor " << kMasterName << " 127.0.0.1 "
                               << servers_[0]->port() << " 2\nsentinel down-after-milliseconds " << kMasterName << " "
                               << options_.down_after_ms << "\nsentinel failover-timeout " << kMasterName << " "
                               << options_.failover_timeout_ms << "\nsentinel parallel-syncs " << kMasterName << " 1\n"
                               << (options_.password.empty() ? std::string()
                                                             : "sentinel auth-pass " + std::string(kMasterName) + " " +
                                                                   options_.password + "\n")
                               << (options_.sentinel_password ? "requirepass " + options_.password + "\n" : "")
                               << (options_.sentinel_password ? "sentinel sentinel-pass " + options_.password + "\n"
                                                              : "");
  const char* binary = std::getenv("QG_REDIS_SENTINEL");
  sentinels_.push_back(std::make_unique<ChildProcess>(
      std::vector<std::string>{binary != nullptr ? binary : "redis-sentinel", dir + ".conf"}, dir + ".log"));
}

std::string RedisSentinelSet::cli(int port, const std::vector<std::string>& args, bool with_password) const {
  std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port)};
  std::map<std::string, std::string> env;
  if (with_password && !options_.password.empty()) env["REDISCLI_AUTH"] = options_.password;
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, std::chrono::seconds(5), env).output;
}

bool RedisSentinelSet::ready() const {
  const int primary = servers_[0]->port();
  if (cli(servers_[1]->port(), {"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
    return false;
  }
  for (int port : sentinel_ports_) {
    const auto master = cli(port, {"SENTINEL", "master", kMasterName}, options_.sentinel_password);
    if (field_of(master, "port") != std::to_string(primary) || field_of(master, "num-slaves") != "1" ||
        field_of(master, "num-other-sentinels") != "2") {
      return false;
    }
  }
  return true;
}

std::string RedisSentinelSet::url(const std::string& userinfo) const {
  std::string out = "redis-sentinel://" + (userinfo.empty() ? "" : userinfo + "@");
  for (std::size_t i = 0; i < sentinel_ports_.size(); ++i) {
    out += (i == 0 ? "127.0.0.1:" : ",127.0.0.1:") + std::to_string(sentinel_ports_[i]);
  }
  return out + "/" + kMasterName;
}

int RedisSentinelSet::primary_port(std::size_t index) const {
  std::istringstream in(
      cli(sentinel_ports_.at(index), {"SENTINEL", "get-master-addr-by-name", kMasterName}, options_.sentinel_password));
  std::string host, port;
  std::getline(in, host);
  std::getline(in, port);
  return std::atoi(port.c_str());
}

void RedisSentinelSet::kill_primary() { servers_[0]->kill(); }

bool RedisSentinelSet::wait_for_primary(int port, std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        for (std::size_t i = 0; i < sentinel_ports_.size(); ++i) {
          if (primary_port(i) != port) return false;
        }
        return cli(port, {"ROLE"}).rfind("master", 0) == 0;
      },
      timeout, std::chrono::milliseconds(50));
}

}  // namespace qg::testing

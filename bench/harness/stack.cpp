// The real processes a bench measures (bench.hpp): qg-broker, and qg-scheduler on a Redis
// store, started from $QG_BIN_DIR on free ports and killed with SIGKILL by ~Stack; and the
// resident memory of a process.

#include "bench.hpp"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

namespace qg::bench {

using namespace std::chrono_literals;

namespace {
std::string random_prefix() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "qgb%08x:", static_cast<unsigned>(rd()));
  return buf;
}
}  // namespace

Stack::Stack(StackOptions options)
    : options_(std::move(options)),
      client_port_(testing::free_port()),
      worker_port_(testing::free_port()),
      events_in_port_(testing::free_port()),
      events_out_port_(testing::free_port()) {
  if (options_.key_prefix.empty()) options_.key_prefix = random_prefix();
  const auto bin = testing::bin_dir();
  std::vector<std::string> argv = {
      bin + "/qg-broker",   "--client-endpoint", client_endpoint(),
      "--worker-endpoint",  worker_endpoint(),   "--events-in",
      events_in_endpoint(), "--events-out",      "tcp://127.0.0.1:" + std::to_string(events_out_port_),
      "--broker-id",        "bench-broker",      "--log-level",
      options_.log_level};
  if (options_.redis_url.empty()) {
    argv.insert(argv.end(), {"--store", "memory"});
  } else {
    argv.insert(argv.end(), {"--redis-url", options_.redis_url, "--key-prefix", options_.key_prefix});
  }
  argv.insert(argv.end(), options_.broker_args.begin(), options_.broker_args.end());
  broker_ = std::make_unique<testing::ChildProcess>(argv, dir_.path() + "/broker.log");
  if (!options_.redis_url.empty() && options_.scheduler) {
    std::vector<std::string> s = {bin + "/qg-scheduler", "--redis-url", options_.redis_url,   "--key-prefix",
                                  options_.key_prefix,   "--events",    events_in_endpoint(), "--scheduler-id",
                                  "bench-scheduler",     "--log-level", options_.log_level};
    s.insert(s.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
    scheduler_ = std::make_unique<testing::ChildProcess>(s, dir_.path() + "/scheduler.log");
  }
  zmq::context_t context(1);
  bool up = testing::wait_until(
      [&] {
        if (!broker_->running()) return false;
        auto socket = connect_dealer(context, client_endpoint());
        proto::HealthRequest req;
        req.rid = "health";
        auto reply = roundtrip(socket, proto::kClientProtocol, "HEALTH", proto::encode(req), 500ms);
        if (reply.size() != 3) return false;
        auto health = proto::decode<proto::HealthReply>(reply[2]);
        return health && health->ok;
      },
      20s, 50ms);
  if (!up) throw BenchError("qg-broker did not come up:\n" + log("broker"));
  if (scheduler_ && !scheduler_->running()) throw BenchError("qg-scheduler exited:\n" + log("scheduler"));
}

Stack::~Stack() {
  if (scheduler_) scheduler_->signal(SIGKILL);
  if (broker_) broker_->signal(SIGKILL);
}

std::string Stack::log(const std::string& name) const {
  std::ifstream in(dir_.path() + "/" + name + ".log");
  std::stringstream text;
  text << in.rdbuf();
  auto s = text.str();
  if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
  return s;
}

double rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  }
  return 0;
}

}  // namespace qg::bench

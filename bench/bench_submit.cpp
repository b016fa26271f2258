// Submit throughput and acknowledgement latency through the real qg-broker, on the memory
// store (embedded) and on Redis (AOF everysec), for single-job requests from 1, 8, 32 and 50
// concurrent clients and for suite requests of 100 tests from 1 and 8 clients.
//
// Each client is a DEALER with one request in flight (closed loop): the latency is from
// sending SUBMIT to receiving its reply, which the broker sends only after the store has
// the jobs (Redis: after the write; durability then follows Redis's AOF everysec policy).
#include <iostream>

#include "harness/bench.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Shape {
  std::string name;
  std::size_t clients;
  std::size_t tests_per_request;
  std::size_t requests;
};

void run_store(const std::string& store, const std::string& redis_url, const Args& args, Table& table) {
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  zmq::context_t context(1);

  const std::size_t scale = args.quick ? 1 : 10;
  std::vector<Shape> shapes = {
      {"1 job", 1, 1, 500 * scale},   {"1 job", 8, 1, 2000 * scale},        {"1 job", 32, 1, 2000 * scale},
      {"1 job", 50, 1, 2000 * scale}, {"suite of 100", 1, 100, 30 * scale}, {"suite of 100", 8, 100, 30 * scale},
  };
  for (const auto& shape : shapes) {
    // 100 builds, bodies encoded up front so the client's own cost stays small.
    std::vector<std::string> bodies;
    for (int app = 0; app < 100; ++app) {
      bodies.push_back(
          proto::encode(make_submit("r" + std::to_string(app), "org-" + std::to_string(app % 7),
                                    "app-" + shape.name.substr(0, 1) + std::to_string(app), shape.tests_per_request)));
    }
    auto r = closed_loop(
        context, stack.client_endpoint(), shape.clients, shape.requests,
        [&](std::size_t i) { return bodies[i % bodies.size()]; }, 120s);
    if (r.errors > 0) throw BenchError(store + ": " + std::to_string(r.errors) + " submits failed");
    const double jobs = static_cast<double>(r.requests * shape.tests_per_request);
    const double jps = jobs / r.seconds;
    const double p50 = r.latency_us.percentile(50);
    const double p99 = r.latency_us.percentile(99);
    table.row({store, shape.name, std::to_string(shape.clients), fmt(static_cast<double>(r.requests)), fmt(jps),
               fmt(static_cast<double>(r.requests) / r.seconds), fmt_us(p50), fmt_us(p99)});
    const std::string key =
        "qg.submit." + store + "." + (shape.tests_per_request == 1 ? "c" : "suite_c") + std::to_string(shape.clients);
    record(key + ".jobs_per_s", jps);
    record(key + ".p50_ms", p50 / 1000);
    record(key + ".p99_ms", p99 / 1000);
  }
}

int run(int argc, char** argv) {
  auto args = Args::parse(argc, argv, "qg_bench_submit", "submit jobs/s and ack latency, memory and Redis stores");
  Table table("Submit: jobs/s and ack latency (closed loop, one request in flight per client)",
              {"store", "request", "clients", "requests", "jobs/s", "requests/s", "ack p50", "ack p99"});
  if (args.wants("memory")) run_store("memory", "", args, table);
  if (args.wants("redis")) {
    BenchRedis redis(args, /*aof=*/true);
    RedisAdmin admin(redis.url());
    admin.flushall();
    table.note("Redis " + redis.version() + " at " + redis.url() +
               ", aof_enabled=" + admin.info("persistence", "aof_enabled") +
               " (appendfsync everysec); broker + scheduler as "
               "real processes; clients are DEALER sockets driven from one thread.");
    run_store("redis", redis.url(), args, table);
    admin.flushall();
  }
  table.print();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

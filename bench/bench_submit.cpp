// Submit throughput and acknowledgement latency through the real qg-broker, on the memory
// store (embedded) and on Redis (AOF everysec), for single-job requests and for suite
// requests of 100 tests, in two forms:
//
//   separate clients — N DEALERs (one connection each), each with one request in flight
//                      (closed loop): 1, 8, 32 and 50 single-job clients, 1 and 8 suite clients.
//   pipelined        — ONE DEALER (one connection) with 50 single-job requests in flight; a
//                      new one goes out as each reply comes back. This is the same load as
//                      BullMQ's "50 concurrent add()": ioredis sends the 50 commands on one
//                      connection without waiting for each reply. bench/check-targets compares
//                      this row with bullmq.add_c50. A second pipelined row gives every request
//                      its own idempotency key, as every `qgjob submit` does.
//
// The latency is from sending SUBMIT to receiving its reply, which the broker sends only after
// the store has the jobs (Redis: after the write; durability then follows Redis's AOF
// everysec policy).
#include <iostream>

#include "harness/bench.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Shape {
  std::string name;
  std::size_t clients;  // separate connections, one request in flight each
  std::size_t tests_per_request;
  std::size_t requests;
  std::size_t depth = 0;  // > 0: one connection with this many requests in flight (clients is 1)
  bool keyed = false;     // every request carries its own idempotency key
};

void run_store(const std::string& store, const std::string& redis_url, const Args& args, Table& table) {
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  zmq::context_t context(1);

  const std::size_t scale = args.quick ? 1 : 10;
  std::vector<Shape> shapes = {
      {"1 job", 1, 1, 500 * scale},         {"1 job", 8, 1, 2000 * scale},
      {"1 job", 32, 1, 2000 * scale},       {"1 job", 50, 1, 2000 * scale},
      {"1 job", 1, 1, 5000 * scale, 50},    {"1 job", 1, 1, 5000 * scale, 50, true},
      {"suite of 100", 1, 100, 30 * scale}, {"suite of 100", 8, 100, 30 * scale},
  };
  // --only STORE:ROW (e.g. memory:pipe50) runs one row of one store.
  const auto colon = args.only.find(':');
  const std::string only_row = colon == std::string::npos ? "" : args.only.substr(colon + 1);
  for (const auto& shape : shapes) {
    const std::string row = shape.depth > 0 ? "pipe" + std::to_string(shape.depth) + (shape.keyed ? "_keyed" : "")
                            : shape.tests_per_request == 1 ? "c" + std::to_string(shape.clients)
                                                           : "suite_c" + std::to_string(shape.clients);
    if (!only_row.empty() && row != only_row) continue;
    // 100 builds, bodies encoded up front so the client's own cost stays small (pipelined:
    // one body per build and slot, each carrying the rid of its slot).
    auto body_for = [&](std::size_t app, const std::string& rid) {
      return proto::encode(make_submit(rid, "org-" + std::to_string(app % 7),
                                       "app-" + shape.name.substr(0, 1) + std::to_string(app),
                                       shape.tests_per_request));
    };
    constexpr std::size_t kBuilds = 100;
    LoadResult r;
    if (shape.keyed) {
      // Encoded as each goes out (a key is used once), which the client's cost includes.
      r = pipelined(
          context, stack.client_endpoint(), shape.depth, shape.requests,
          [&](std::size_t i, std::size_t slot) {
            auto req = make_submit(slot_rid(slot), "org-" + std::to_string(i % kBuilds % 7),
                                   "app-k" + std::to_string(i % kBuilds), 1);
            req.idempotency_key = "key-" + std::to_string(i);
            return proto::encode(req);
          },
          120s);
    } else if (shape.depth > 0) {
      std::vector<std::string> bodies;  // [slot * kBuilds + app]
      for (std::size_t slot = 0; slot < shape.depth; ++slot) {
        for (std::size_t app = 0; app < kBuilds; ++app) bodies.push_back(body_for(app, slot_rid(slot)));
      }
      r = pipelined(
          context, stack.client_endpoint(), shape.depth, shape.requests,
          [&](std::size_t i, std::size_t slot) { return bodies[slot * kBuilds + i % kBuilds]; }, 120s);
    } else {
      std::vector<std::string> bodies;
      for (std::size_t app = 0; app < kBuilds; ++app) bodies.push_back(body_for(app, "r" + std::to_string(app)));
      r = closed_loop(
          context, stack.client_endpoint(), shape.clients, shape.requests,
          [&](std::size_t i) { return bodies[i % bodies.size()]; }, 120s);
    }
    if (r.errors > 0) throw BenchError(store + ": " + std::to_string(r.errors) + " submits failed");
    const double jobs = static_cast<double>(r.requests * shape.tests_per_request);
    const double jps = jobs / r.seconds;
    const double p50 = r.latency_us.percentile(50);
    const double p99 = r.latency_us.percentile(99);
    std::string form = shape.depth > 0 ? "1 connection, " + std::to_string(shape.depth) + " in flight (pipelined)"
                                       : std::to_string(shape.clients) + " separate, 1 in flight each";
    if (shape.keyed) form += ", an idempotency key each";
    table.row({store, shape.name, form, fmt(static_cast<double>(r.requests)), fmt(jps),
               fmt(static_cast<double>(r.requests) / r.seconds), fmt_us(p50), fmt_us(p99)});
    const std::string key = "qg.submit." + store + "." + row;
    record(key + ".jobs_per_s", jps);
    record(key + ".p50_ms", p50 / 1000);
    record(key + ".p99_ms", p99 / 1000);
  }
}

int run(int argc, char** argv) {
  auto args = Args::parse(argc, argv, "qg_bench_submit",
                          "submit jobs/s and ack latency, memory and Redis stores "
                          "(--only memory|redis, or one row: --only memory:pipe50, redis:c8, redis:suite_c1 ...)");
  Table table("Submit: jobs/s and ack latency",
              {"store", "request", "clients", "requests", "jobs/s", "requests/s", "ack p50", "ack p99"});
  table.note(
      "\"separate\": one DEALER connection per client, each with one request in flight (closed loop). "
      "\"pipelined\": one DEALER connection with 50 requests in flight, the form of BullMQ's 50 concurrent "
      "add() on one ioredis connection; the target check compares that row.");
  const auto wants = [&](const std::string& store) {
    return args.wants(store) || args.only.rfind(store + ":", 0) == 0;
  };
  if (wants("memory")) run_store("memory", "", args, table);
  if (wants("redis")) {
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

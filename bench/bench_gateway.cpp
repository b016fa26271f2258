// qg_bench_gateway: qg-gateway's costs, against a real broker (memory store) and gateway as
// separate processes on loopback.
//   metrics — GET /metrics with 1,000 workers registered (each sent HELLO and holds a PULL) and
//             50 orgs' builds queued (farm records to carry): scrape time (target: under 50 ms);
//   status  — GET /api/v1/jobs/{id} through the gateway against STATUS over ZeroMQ, the same
//             job, one client each, back to back (target: p50 within 2× and +0.3 ms).
#include <httplib.h>

#include <thread>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/testing/process.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Gateway {
  int port = testing::free_port();
  std::unique_ptr<testing::ChildProcess> process;
  Gateway(const Stack& stack) {
    process = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{testing::bin_dir() + "/qg-gateway", "--listen", "127.0.0.1:" + std::to_string(port),
                                 "--broker", stack.client_endpoint(), "--events", stack.events_out_endpoint(),
                                 "--log-level", "warn"},
        stack.dir() + "/gateway.log");
    httplib::Client probe("127.0.0.1", port);
    probe.set_connection_timeout(1s);
    const bool up = testing::wait_until(
        [&] {
          auto r = probe.Get("/api/v1/health");
          return r && r->status == 200;
        },
        20s, 20ms);
    if (!up) throw BenchError("the gateway did not come up:\n" + stack.log("gateway"));
  }
};

void metrics_part(const Args& args, Table& table) {
  // 1,000 connections from one address: over the broker's default per-peer limit (512).
  StackOptions options;
  options.broker_args = {"--max-connections-per-peer", "0"};
  Stack stack(options);
  Gateway gateway(stack);
  const std::size_t n = args.quick ? 100 : 1000;
  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, 4096);
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    sockets.push_back(connect_dealer(context, stack.worker_endpoint()));
    proto::Hello hello;
    hello.rid = "h";
    hello.worker_id = "w-" + std::to_string(i);
    hello.device_id = "dev-" + std::to_string(i);
    hello.targets = {i % 3 == 0 ? proto::Target::device : proto::Target::emulator};
    hello.installed = {"org-1/app-1", "org-2/app-7"};
    auto reply = roundtrip(sockets.back(), proto::kWorkerProtocol, "HELLO", proto::encode(hello), 5000ms);
    if (reply.size() != 3 || reply[1] != "HELLO") throw BenchError("HELLO " + std::to_string(i) + " not answered");
    proto::Pull pull;
    pull.rid = "p";
    pull.worker_id = hello.worker_id;
    pull.targets = hello.targets;
    pull.installed = hello.installed;
    pull.wait_ms = 60000;
    send_multipart(sockets.back(), proto::frames_of(proto::kWorkerProtocol, pull));
  }
  // Farm statistics for the scrape to carry (qg_farm_*): builds of 50 orgs queued for a target
  // none of the workers above serves, so they stay queued (a record per org, target and window).
  const std::size_t orgs = args.quick ? 5 : 50;
  auto client = connect_dealer(context, stack.client_endpoint());
  for (std::size_t o = 0; o < orgs; ++o) {
    auto request = make_submit("f" + std::to_string(o), "org-" + std::to_string(o), "app-1", 10);
    request.target = proto::Target::browserstack;
    submit(client, request);
  }
  httplib::Client http("127.0.0.1", gateway.port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  Samples ms;
  std::size_t bytes = 0;
  const int scrapes = args.quick ? 10 : 50;
  for (int i = 0; i < scrapes + 3; ++i) {
    const double t0 = now_us();
    auto r = http.Get("/metrics");
    const double took = (now_us() - t0) / 1000.0;
    if (!r || r->status != 200) throw BenchError("GET /metrics failed");
    if (r->body.find("qg_workers{target=\"emulator\",state=\"idle\"}") == std::string::npos ||
        r->body.find("qg_farm_oldest_queued_seconds{org_id=\"org-0\",target=\"browserstack\"}") == std::string::npos) {
      throw BenchError("the scrape has no qg_workers or qg_farm series");
    }
    bytes = r->body.size();
    if (i >= 3) ms.add(took);  // the first scrapes warm the gateway's broker connections
  }
  table.row({"GET /metrics, " + fmt(static_cast<double>(n)) + " workers registered, " + std::to_string(orgs) +
                 " orgs' farm records",
             fmt(ms.percentile(50), 2) + " ms", fmt(ms.percentile(99), 2) + " ms",
             fmt(static_cast<double>(bytes) / 1024.0, 1) + " KiB, " + std::to_string(scrapes) + " scrapes"});
  record("gateway.metrics_scrape_ms.p50", ms.percentile(50));
  record("gateway.metrics_scrape_ms.p99", ms.percentile(99));
}

void status_part(const Args& args, Table& table) {
  Stack stack(StackOptions{});
  Gateway gateway(stack);
  zmq::context_t context(1);
  auto client = connect_dealer(context, stack.client_endpoint());
  auto reply = submit(client, make_submit("s", "org-1", "app-1", 1));
  const std::string job_id = reply.job_ids.at(0);
  httplib::Client http("127.0.0.1", gateway.port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  const int rounds = args.quick ? 200 : 2000;
  Samples via_http, via_zmq;
  for (int i = 0; i < rounds + 50; ++i) {
    double t0 = now_us();
    auto r = http.Get("/api/v1/jobs/" + job_id);
    const double http_us = now_us() - t0;
    if (!r || r->status != 200) throw BenchError("GET /api/v1/jobs/{id} failed");
    proto::StatusRequest status;
    status.rid = "r" + std::to_string(i);
    status.job_ids = {job_id};
    t0 = now_us();
    auto frames = roundtrip(client, proto::kClientProtocol, "STATUS", proto::encode(status), 5000ms);
    const double zmq_us = now_us() - t0;
    if (frames.size() != 3 || frames[1] != "STATUS") throw BenchError("STATUS failed");
    if (i >= 50) {
      via_http.add(http_us);
      via_zmq.add(zmq_us);
    }
  }
  const double h50 = via_http.percentile(50), z50 = via_zmq.percentile(50);
  table.row({"GET /api/v1/jobs/{id} via the gateway", fmt_us(h50), fmt_us(via_http.percentile(99)),
             std::to_string(rounds) + " requests, keep-alive"});
  table.row({"STATUS over ZeroMQ (same job, same run)", fmt_us(z50), fmt_us(via_zmq.percentile(99)),
             "gateway p50 = " + fmt(h50 / z50, 2) + "× STATUS, +" + fmt_us(h50 - z50) +
                 (h50 <= 2 * z50 + 300 ? " (within 2× + 0.3 ms)" : " (over 2× + 0.3 ms)")});
  record("gateway.job_get_us.p50", h50);
  record("gateway.status_zmq_us.p50", z50);
}

int run(int argc, char** argv) {
  auto args = Args::parse(argc, argv, "qg_bench_gateway", "qg-gateway: /metrics scrape, REST against ZeroMQ");
  set_results_file(args.results);
  Table table("qg-gateway", {"what", "p50", "p99", "notes"});
  if (args.wants("metrics")) metrics_part(args, table);
  if (args.wants("status")) status_part(args, table);
  table.note("Targets: /metrics under 50 ms with 1,000 workers; GET /jobs/{id} p50 within 2× and +0.3 ms of STATUS.");
  table.print();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

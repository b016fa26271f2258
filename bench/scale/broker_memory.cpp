// qg_bench_scale's workers part: the broker's resident memory with many connected workers,
// each having said HELLO and holding a PULL at the broker.

#include <string>
#include <thread>
#include <vector>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"
#include "scale/parts.hpp"

namespace qg::bench::scale {

using namespace std::chrono_literals;

void workers(const Args& args, const std::string& redis_url, Table& table) {
  RedisAdmin admin(redis_url);
  admin.flushall();
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  std::this_thread::sleep_for(200ms);
  const double rss0 = rss_bytes(stack.broker_pid());
  const std::size_t n = args.quick ? 100 : 1000;
  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, 4096);
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(n);
  std::size_t hello_ok = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sockets.push_back(connect_dealer(context, stack.worker_endpoint()));
    proto::Hello hello;
    hello.rid = "h";
    hello.worker_id = "idle-" + std::to_string(i);
    hello.device_id = "dev-" + std::to_string(i);
    hello.targets = {proto::Target::emulator};
    hello.installed = {"org-1/app-1", "org-2/app-7"};
    auto reply = roundtrip(sockets.back(), proto::kWorkerProtocol, "HELLO", proto::encode(hello), 5000ms);
    if (reply.size() == 3 && reply[1] == "HELLO") ++hello_ok;
    proto::Pull pull;
    pull.rid = "p";
    pull.worker_id = hello.worker_id;
    pull.targets = hello.targets;
    pull.installed = hello.installed;
    pull.wait_ms = 30000;
    send_multipart(sockets.back(), proto::frames_of(proto::kWorkerProtocol, pull));
  }
  std::this_thread::sleep_for(500ms);
  const double rss1 = rss_bytes(stack.broker_pid());
  if (hello_ok < n) throw BenchError("workers: only " + std::to_string(hello_ok) + " HELLOs answered");
  table.row({"broker RSS with " + fmt(static_cast<double>(n)) + " connected workers (HELLO + held PULL)",
             fmt(rss1 / 1048576.0, 1) + " MiB",
             "idle " + fmt(rss0 / 1048576.0, 1) + " MiB; " + fmt((rss1 - rss0) / static_cast<double>(n) / 1024.0, 1) +
                 " KiB per worker"});
  record("qg.broker_rss_mib.workers" + std::to_string(n), rss1 / 1048576.0);
  record("qg.broker_rss_kib_per_worker", (rss1 - rss0) / static_cast<double>(n) / 1024.0);
  admin.flushall();
}

}  // namespace qg::bench::scale

// Dispatch through the real qg-broker (+ qg-scheduler on Redis):
//   latency  — idle system, one worker with a PULL held at the broker; time from the client
//              sending SUBMIT (one job) to the worker receiving the ASSIGN holding it;
//              2,000 jobs one after another, p50/p99.
//   e2e      — jobs/s from queued to a final state with 1, 10 and 50 workers whose run
//              command does nothing. The workers are simulated in-process (one thread, one
//              DEALER each): they pull, report every job of the group passed at once and
//              pull again; no HELLO, heartbeats or PROGRESS messages.
#include <thread>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

void latency(const std::string& store, const std::string& redis_url, const Args& args, Table& table) {
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  zmq::context_t context(1);
  auto client = connect_dealer(context, stack.client_endpoint());
  auto worker = connect_dealer(context, stack.worker_endpoint());
  std::this_thread::sleep_for(100ms);
  std::array<zmq::pollitem_t, 2> items = {{{client.handle(), 0, ZMQ_POLLIN, 0}, {worker.handle(), 0, ZMQ_POLLIN, 0}}};
  std::uint64_t seq = 0;
  auto pull = [&] {
    proto::Pull p;
    p.rid = "p" + std::to_string(seq++);
    p.worker_id = "lat-worker";
    p.targets = {proto::Target::emulator};
    p.wait_ms = 10000;
    send_multipart(worker, proto::frames_of(proto::kWorkerProtocol, p));
  };
  std::vector<std::string> bodies;
  for (int app = 0; app < 10; ++app) {
    bodies.push_back(proto::encode(make_submit("s", "org-1", "lat-app-" + std::to_string(app), 1)));
  }
  const std::size_t n = args.quick ? 200 : 2000;
  Samples lat;
  pull();
  std::this_thread::sleep_for(20ms);
  const double end_by = now_us() + 120e6;
  std::size_t done = 0;
  while (done < n) {
    if (now_us() > end_by) throw BenchError("latency: deadline passed after " + std::to_string(done) + " jobs");
    const double t0 = now_us();
    send_multipart(client, {std::string(proto::kClientProtocol), "SUBMIT", bodies[done % bodies.size()]});
    bool acked = false;
    std::optional<proto::Assign> assign;
    double t1 = 0;
    while (!acked || !assign) {
      zmq::poll(items.data(), items.size(), 5000ms);
      if (items[0].revents == 0 && items[1].revents == 0) throw BenchError("latency: no reply within 5 s");
      if ((items[0].revents & ZMQ_POLLIN) != 0) {
        while (auto m = recv_multipart(client, 8, 1u << 20)) {
          if (m->frames.size() != 3 || m->frames[1] != "SUBMIT") throw BenchError("latency: submit failed");
          acked = true;
        }
      }
      if ((items[1].revents & ZMQ_POLLIN) != 0) {
        while (auto m = recv_multipart(worker, 8, 1u << 20)) {
          if (m->frames.size() != 3) continue;
          if (m->frames[1] == "ASSIGN") {
            t1 = now_us();
            auto a = proto::decode<proto::Assign>(m->frames[2]);
            if (!a) throw BenchError("latency: bad ASSIGN");
            assign = std::move(a).value();
          } else if (m->frames[1] == "NOWORK") {
            pull();
          }
        }
      }
    }
    lat.add(t1 - t0);
    // Finish the job so the system is idle again, then hold the next pull.
    for (const auto& job : assign->jobs) {
      proto::Report r;
      r.rid = job.job_id;
      r.worker_id = "lat-worker";
      r.lease_id = assign->lease_id;
      r.job_id = job.job_id;
      r.attempt = job.attempt;
      r.status = proto::JobStatus::passed;
      auto confirm = roundtrip(worker, proto::kWorkerProtocol, "REPORT", proto::encode(r), 5000ms);
      if (confirm.size() != 3 || confirm[1] != "CONFIRM") throw BenchError("latency: report not confirmed");
    }
    done += assign->jobs.size();
    pull();
    std::this_thread::sleep_for(2ms);  // the pull is held at the broker before the next submit
  }
  const double p50 = lat.percentile(50), p99 = lat.percentile(99);
  table.row(
      {store, "submit -> worker holds job (idle)", fmt(static_cast<double>(lat.size())), fmt_us(p50), fmt_us(p99), ""});
  record("qg.dispatch." + store + ".latency.p50_ms", p50 / 1000);
  record("qg.dispatch." + store + ".latency.p99_ms", p99 / 1000);
}

// The end-to-end rows: 1, 10 and 50 workers, or only the 50-worker row (bench/run's paired
// rounds, beside BullMQ's concurrency 50).
void e2e(const std::string& store, const std::string& redis_url, const Args& args, Table& table, bool only50) {
  for (std::size_t workers : {1, 10, 50}) {
    if (only50 && workers != 50) continue;
    StackOptions so;
    so.redis_url = redis_url;
    Stack stack(so);
    zmq::context_t context(1);
    const std::size_t builds = args.quick ? 10 : 200;
    const std::size_t per_build = 100;
    const std::size_t n = builds * per_build;
    auto client = connect_dealer(context, stack.client_endpoint());
    for (std::size_t b = 0; b < builds; ++b) {
      submit(client, make_submit("e" + std::to_string(b), "org-" + std::to_string(b % 7), "app-" + std::to_string(b),
                                 per_build));
    }
    auto r = run_sim_workers(context, stack.worker_endpoint(), workers, n, 120s);
    if (r.jobs < n) throw BenchError("e2e: only " + std::to_string(r.jobs) + " of " + std::to_string(n) + " jobs");
    const double jps = static_cast<double>(r.jobs) / r.seconds;
    table.row({store, "queued -> final, " + std::to_string(workers) + " workers", fmt(static_cast<double>(n)), "", "",
               fmt(jps)});
    record("qg.e2e." + store + ".w" + std::to_string(workers) + ".jobs_per_s", jps);
  }
}

int run(int argc, char** argv) {
  auto args = Args::parse(argc, argv, "qg_bench_dispatch",
                          "submit->worker latency and end-to-end jobs/s "
                          "(--only memory|redis, or one part: --only memory:latency, redis:e2e, redis:e2e50 ...)");
  // --only STORE[:PART]
  const auto wants = [&](const std::string& store, const std::string& part) {
    return args.only.empty() || args.only == store || args.only == store + ":" + part;
  };
  Table table("Dispatch: submit -> worker latency (idle) and end-to-end jobs/s (no-op workers)",
              {"store", "measurement", "jobs", "p50", "p99", "jobs/s"});
  table.note(
      "End-to-end rows use in-process simulated workers (one DEALER each, all driven from one thread) "
      "that report every job of a group passed at once; the queue is filled with 100-test suites "
      "across many builds before the workers start; groups are claimed whole (up to 50 jobs).");
  if (wants("memory", "latency")) latency("memory", "", args, table);
  if (wants("memory", "e2e")) e2e("memory", "", args, table, false);
  const bool redis_e2e50 = args.only == "redis:e2e50";
  if (wants("redis", "latency") || wants("redis", "e2e") || redis_e2e50) {
    BenchRedis redis(args, true);
    RedisAdmin admin(redis.url());
    admin.flushall();
    if (wants("redis", "latency")) {
      latency("redis", redis.url(), args, table);
      admin.flushall();
    }
    if (wants("redis", "e2e") || redis_e2e50) {
      e2e("redis", redis.url(), args, table, redis_e2e50);
      admin.flushall();
    }
  }
  table.print();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

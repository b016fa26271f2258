// Dispatch through the real qg-broker (+ qg-scheduler on Redis):
//   latency  — idle system, one worker with a PULL held at the broker; time from the client
//              sending SUBMIT (one job) to the worker receiving the ASSIGN holding it;
//              2,000 jobs one after another, p50/p99.
//   e2e      — jobs/s from queued to a final state with 1, 10 and 50 workers whose run
//              command does nothing. The workers are simulated in-process (one thread, one
//              DEALER each): they pull, report every job of the group passed at once and
//              pull again; no HELLO, heartbeats or PROGRESS messages.
//   floor    — taken in turn with every latency sample: the same path with no work in it
//              (FloorPath, below), the part of the latency this host takes whatever runs;
//              and on its own (--only floor), with the processes on any core and on one.
#include <sched.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <thread>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

// The floor of the submit -> worker path on this host. A relay process (this program run
// with --relay) stands where qg-broker stands, with a ROUTER for clients and one for
// workers: it holds the worker's pull and passes each client message straight to it, after
// one Redis PING when it has a Redis (where the broker makes its one store call), then
// answers the client, as the broker answers after the ASSIGN. So a message makes the same
// hops between the same kind of sockets and processes as a submission on its way to an
// idle worker, and what the real path takes beyond this is qgjob's own work (decoding,
// the store's script, encoding). On virtual machines most of the floor is waking idle
// cores: every hop hands the message between threads (the sender, its ZeroMQ I/O thread,
// the receiver's I/O thread, the receiver).
int relay_main(int client_port, int worker_port, const std::string& redis_url) {
  zmq::context_t context(1);
  zmq::socket_t clients(context, zmq::socket_type::router);
  zmq::socket_t workers(context, zmq::socket_type::router);
  set_common_options(clients);
  set_common_options(workers);
  clients.bind("tcp://127.0.0.1:" + std::to_string(client_port));
  workers.bind("tcp://127.0.0.1:" + std::to_string(worker_port));
  std::unique_ptr<RedisAdmin> redis;
  if (!redis_url.empty()) redis = std::make_unique<RedisAdmin>(redis_url);
  std::optional<std::string> held_worker;
  std::vector<Multipart> waiting;  // client messages that came before a pull
  std::array<zmq::pollitem_t, 2> items = {{{clients.handle(), 0, ZMQ_POLLIN, 0}, {workers.handle(), 0, ZMQ_POLLIN, 0}}};
  auto pass_on = [&](const Multipart& m) {
    if (redis) redis->command({"PING"});
    send_multipart(workers, {*held_worker, m.frames.back()});
    held_worker.reset();
    send_multipart(clients, {m.frames.front(), "ack"});
  };
  for (;;) {
    zmq::poll(items.data(), items.size(), 60s);
    if (items[0].revents == 0 && items[1].revents == 0) return 1;  // the bench went away
    while (auto m = recv_multipart(workers, 4, 1u << 20)) {
      if (m->frames.size() < 2) continue;
      held_worker = m->frames.front();
      if (!waiting.empty()) {
        pass_on(waiting.front());
        waiting.erase(waiting.begin());
      }
    }
    while (auto m = recv_multipart(clients, 4, 1u << 20)) {
      if (m->frames.size() < 2) continue;
      if (m->frames.back() == "quit") return 0;
      if (held_worker) {
        pass_on(*m);
      } else {
        waiting.push_back(std::move(*m));
      }
    }
  }
}

class FloorPath {
 public:
  // Starts the relay (with a Redis PING per message when redis_url is set) and waits until a
  // first message has gone through it.
  FloorPath(zmq::context_t& context, const std::string& redis_url, std::string body)
      : client_port_(testing::free_port()), worker_port_(testing::free_port()), body_(std::move(body)) {
    std::vector<std::string> argv = {std::filesystem::read_symlink("/proc/self/exe").string(), "--relay",
                                     std::to_string(client_port_), std::to_string(worker_port_)};
    if (!redis_url.empty()) argv.push_back(redis_url);
    relay_ = std::make_unique<testing::ChildProcess>(argv);
    client_ = connect_dealer(context, "tcp://127.0.0.1:" + std::to_string(client_port_));
    worker_ = connect_dealer(context, "tcp://127.0.0.1:" + std::to_string(worker_port_));
    (void)sample(0ms);
  }
  ~FloorPath() {
    send_multipart(client_, {"quit"});
    if (relay_->wait(1s) < 0) relay_->signal(SIGKILL);
  }
  FloorPath(const FloorPath&) = delete;
  FloorPath& operator=(const FloorPath&) = delete;

  // One message through the relay after `idle` with the pull held: µs from the client's send
  // to the worker holding it.
  double sample(std::chrono::milliseconds idle = 2ms) {
    send_multipart(worker_, {"PULL"});
    std::this_thread::sleep_for(idle);  // the pull is held at the relay before the message
    std::array<zmq::pollitem_t, 2> items = {
        {{client_.handle(), 0, ZMQ_POLLIN, 0}, {worker_.handle(), 0, ZMQ_POLLIN, 0}}};
    const double t0 = now_us();
    send_multipart(client_, {body_});
    bool acked = false, held = false;
    double t1 = 0;
    while (!acked || !held) {
      zmq::poll(items.data(), items.size(), 5000ms);
      if (items[0].revents == 0 && items[1].revents == 0)
        throw BenchError("floor: the relay did not answer within 5 s");
      while (recv_multipart(client_, 4, 1u << 20)) acked = true;
      while (recv_multipart(worker_, 4, 1u << 20)) {
        if (!held) t1 = now_us();
        held = true;
      }
    }
    return t1 - t0;
  }

 private:
  int client_port_, worker_port_;
  std::string body_;
  std::unique_ptr<testing::ChildProcess> relay_;
  zmq::socket_t client_, worker_;
};

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
  FloorPath floor(context, redis_url, bodies.front());
  const std::size_t n = args.quick ? 200 : 2000;
  Samples lat, floor_lat;
  pull();
  std::this_thread::sleep_for(20ms);
  double end_by = now_us() + 120e6;
  std::size_t done = 0;
  // One job through the path: returns µs from the SUBMIT's send to the ASSIGN's arrival, then
  // reports the job passed and holds the next pull, so that the system is idle again.
  auto one_job = [&]() -> double {
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
    return t1 - t0;
  };
  while (done < n) {
    lat.add(one_job());
    // A floor sample (itself after 2 ms idle), then 2 ms for the pull to be held at the
    // broker before the next submit.
    floor_lat.add(floor.sample());
    std::this_thread::sleep_for(2ms);
  }
  const double p50 = lat.percentile(50), p99 = lat.percentile(99);
  table.row(
      {store, "submit -> worker holds job (idle)", fmt(static_cast<double>(lat.size())), fmt_us(p50), fmt_us(p99), ""});
  record("qg.dispatch." + store + ".latency.p50_ms", p50 / 1000);
  record("qg.dispatch." + store + ".latency.p99_ms", p99 / 1000);
  const double f50 = floor_lat.percentile(50), f99 = floor_lat.percentile(99);
  table.row({store,
             redis_url.empty() ? "floor: the same hops through a relay, no work (taken in turn with the row above)"
                               : "floor: the same hops through a relay, one Redis PING, no other work (taken in turn "
                                 "with the row above)",
             fmt(static_cast<double>(floor_lat.size())), fmt_us(f50), fmt_us(f99), ""});
  record("qg.dispatch." + store + ".floor.p50_ms", f50 / 1000);
  record("qg.dispatch." + store + ".floor.p99_ms", f99 / 1000);
  if (redis_url.empty()) return;

  // The store's share, in a pass of its own after the timed rows: how long each script call
  // of a job's trip ran inside Redis (the hand-off on the path; the report and the claim that
  // finds nothing after it), from the slowlog with every command logged. Logging every
  // command costs each a little, so none of the rows above is taken with it on.
  RedisAdmin admin(redis_url);
  const std::string slower_than = admin.config_get("slowlog-log-slower-than");
  const std::string max_len = admin.config_get("slowlog-max-len");
  struct Restore {
    RedisAdmin& admin;
    std::string slower_than, max_len;
    ~Restore() {
      try {
        if (!slower_than.empty()) admin.command({"CONFIG", "SET", "slowlog-log-slower-than", slower_than});
        if (!max_len.empty()) admin.command({"CONFIG", "SET", "slowlog-max-len", max_len});
      } catch (const BenchError&) {
      }
    }
  } restore{admin, slower_than, max_len};
  admin.command({"CONFIG", "SET", "slowlog-max-len", "1024"});
  admin.command({"CONFIG", "SET", "slowlog-log-slower-than", "0"});
  admin.take_slowlog(0);
  std::map<std::string, Samples> by_call;  // "hand_off", "report", "claim"
  const std::size_t m = args.quick ? 50 : 300;
  end_by = now_us() + 60e6;
  for (std::size_t i = 1; i <= m; ++i) {
    one_job();
    std::this_thread::sleep_for(2ms);
    if (i % 25 != 0 && i != m) continue;  // 25 jobs make about 200 entries of the 1,024 kept
    for (const auto& call : admin.take_slowlog(1024)) {
      if (call.command != "FCALL" && call.command != "fcall") continue;
      for (const char* name : {"hand_off", "report", "claim"}) {
        const std::string suffix = std::string("_") + name;
        if (call.first_arg.size() > suffix.size() && call.first_arg.ends_with(suffix)) by_call[name].add(call.micros);
      }
    }
  }
  auto& hand_off = by_call["hand_off"];
  if (hand_off.size() == 0) throw BenchError("latency: the slowlog showed no hand-off");
  const auto describe = [&](const char* name) {
    auto& s = by_call[name];
    if (s.size() == 0) return std::string(name) + " none";
    return std::string(name) + " " + fmt(static_cast<double>(s.size())) + " calls, p50 " + fmt_us(s.percentile(50));
  };
  table.row({store,
             "the hand-off script's own time inside Redis (slowlog, a pass of " + std::to_string(m) +
                 " more jobs after the rows above; " + describe("report") + ", " + describe("claim") + ")",
             fmt(static_cast<double>(hand_off.size())), fmt_us(hand_off.percentile(50)),
             fmt_us(hand_off.percentile(99)), ""});
  record("qg.dispatch." + store + ".handoff_in_redis.p50_ms", hand_off.percentile(50) / 1000);
  record("qg.dispatch." + store + ".handoff_in_redis.p99_ms", hand_off.percentile(99) / 1000);
}

// The calling thread on the first core it may use, until destroyed: threads it starts and
// processes it forks from then on take that core too.
class OnOneCore {
 public:
  OnOneCore() {
    CPU_ZERO(&before_);
    if (sched_getaffinity(0, sizeof before_, &before_) != 0) throw BenchError("sched_getaffinity failed");
    while (core_ < CPU_SETSIZE && !CPU_ISSET(core_, &before_)) ++core_;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(core_, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) throw BenchError("sched_setaffinity failed");
  }
  ~OnOneCore() { sched_setaffinity(0, sizeof before_, &before_); }
  OnOneCore(const OnOneCore&) = delete;
  OnOneCore& operator=(const OnOneCore&) = delete;
  int core() const { return core_; }

 private:
  cpu_set_t before_;
  int core_ = 0;
};

// Where the floor goes: the relay path alone (no Redis), first with the processes free to
// run on any core, as in the latency rows, then with this program, the relay and their
// ZeroMQ I/O threads all on one core. On one core a thread hands a message to the next by
// a switch on that core; across cores it wakes an idle one, which on a virtual machine
// costs an exit to the hypervisor and back.
void floor_by_cores(const Args& args, Table& table) {
  const std::size_t n = args.quick ? 200 : 2000;
  const std::string body = proto::encode(make_submit("s", "org-1", "lat-app-0", 1));
  auto measure = [&](const std::string& what, const std::string& key) {
    zmq::context_t context(1);  // made here, so that its I/O thread takes this thread's cores
    FloorPath floor(context, "", body);
    Samples s;
    for (std::size_t i = 0; i < n; ++i) s.add(floor.sample());
    const double p50 = s.percentile(50), p99 = s.percentile(99);
    table.row({"none", what, fmt(static_cast<double>(n)), fmt_us(p50), fmt_us(p99), ""});
    record("qg.dispatch." + key + ".p50_ms", p50 / 1000);
    record("qg.dispatch." + key + ".p99_ms", p99 / 1000);
  };
  measure("floor: the same hops through a relay, no work, every process on any core", "floor_any_core");
  OnOneCore pinned;
  measure("floor: the same, every process and thread on core " + std::to_string(pinned.core()), "floor_one_core");
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
  if (argc >= 4 && std::string_view(argv[1]) == "--relay") {  // FloorPath's relay process
    return relay_main(std::stoi(argv[2]), std::stoi(argv[3]), argc >= 5 ? argv[4] : "");
  }
  auto args =
      Args::parse(argc, argv, "qg_bench_dispatch",
                  "submit->worker latency and end-to-end jobs/s "
                  "(--only memory|redis|floor, or one part: --only memory:latency, redis:e2e, redis:e2e50 ...)");
  // --only STORE[:PART]
  const auto wants = [&](const std::string& store, const std::string& part) {
    return args.only.empty() || args.only == store || args.only == store + ":" + part;
  };
  Table table("Dispatch: submit -> worker latency (idle) and end-to-end jobs/s (no-op workers)",
              {"store", "measurement", "jobs", "p50", "p99", "jobs/s"});
  table.note(
      "End-to-end rows use in-process simulated workers (one DEALER each, all driven from one thread) "
      "that report every job of a group passed at once; the queue is filled with 100-test suites "
      "across many builds before the workers start; groups are claimed whole (up to 50 jobs). "
      "Floor rows: a relay process in the broker's place passes each message from the client's socket "
      "straight to the worker's held pull (after one PING to the same Redis in the redis row) and "
      "answers the client: the hops between processes and threads that the latency row's path makes, "
      "with none of qgjob's work. The latency row less its floor is what qgjob itself adds.");
  if (args.only.empty() || args.only == "floor") floor_by_cores(args, table);
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

// qg_port_mutator: a mutation run over the broker's authenticated ports. It starts the real
// qg-broker (from $QG_BIN_DIR) with CURVE keys it makes, connects with admitted keys as a
// client (an org key), a worker (a worker key) and an events-in publisher (the same worker
// key), and for --seconds sends mutated and hostile messages built from valid ones: bytes
// flipped, bodies cut or grown, frames dropped, added, swapped or replaced by random bytes,
// msgpack lengths set huge, commands and protocols changed. Replies are read and dropped as
// they come. At the end the broker process must still run, answer HEALTH, take a SUBMIT and
// hand that job to a worker that claims it on a fresh connection. Exit 0 when it all holds, 1
// otherwise; one summary line either way.
//
//   qg_port_mutator [--seconds N] [--seed S]
//
// Traffic goes to 127.0.0.1 only.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "qg/common/curve_cert.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using Frames = std::vector<std::string>;

struct Ports {
  int client, worker, events_in, events_out;
  std::string endpoint(int port) const { return "tcp://127.0.0.1:" + std::to_string(port); }
};

// Valid messages of each port, the seeds the mutations start from.
std::vector<Frames> client_seeds() {
  proto::SubmitRequest submit;
  submit.rid = "s1";
  submit.org_id = "mut";
  submit.app_version_id = "b1";
  submit.tests = {"a.spec.ts", "b.spec.ts"};
  proto::StatusRequest status;
  status.rid = "st";
  status.job_ids = {"01J0S0C1A0E4RT1GQ7K3M5N8PD"};
  proto::ListRequest list;
  list.rid = "l";
  proto::CancelRequest cancel;
  cancel.rid = "c";
  cancel.org_id = "mut";
  cancel.app_version_id = "b1";
  proto::RetryRequest retry;
  retry.rid = "r";
  retry.job_id = "01J0S0C1A0E4RT1GQ7K3M5N8PD";
  proto::QueueRequest queue;
  queue.rid = "q";
  proto::WorkersRequest workers;
  workers.rid = "w";
  return {proto::frames_of(proto::kClientProtocol, submit),
          proto::frames_of(proto::kClientProtocol, status),
          proto::frames_of(proto::kClientProtocol, list),
          proto::frames_of(proto::kClientProtocol, cancel),
          proto::frames_of(proto::kClientProtocol, retry),
          proto::frames_of(proto::kClientProtocol, queue),
          proto::frames_of(proto::kClientProtocol, workers),
          proto::frames_of(proto::kClientProtocol, proto::HealthRequest{"h"}),
          proto::frames_of(proto::kClientProtocol, proto::StatsRequest{"x"}),
          proto::frames_of(proto::kClientProtocol, proto::EventsTopicRequest{"t"})};
}

std::vector<Frames> worker_seeds(const std::string& worker_id) {
  proto::Hello hello;
  hello.rid = "h";
  hello.worker_id = worker_id;
  hello.targets = {proto::Target::emulator};
  proto::Pull pull;
  pull.rid = "p";
  pull.worker_id = worker_id;
  pull.targets = {proto::Target::emulator};
  proto::Report report;
  report.rid = "rp";
  report.worker_id = worker_id;
  report.lease_id = "01J0S0C1A0E4RT1GQ7K3M5N8PD";
  report.job_id = "01J0S0C1A0E4RT1GQ7K3M5N8PE";
  report.attempt = 1;
  report.log_tail = "ok";
  proto::Progress progress;
  progress.worker_id = worker_id;
  progress.lease_id = report.lease_id;
  progress.job_id = report.job_id;
  progress.attempt = 1;
  proto::Heartbeat hb;
  hb.worker_id = worker_id;
  hb.state = "busy";
  hb.lease_id = report.lease_id;
  hb.jobs = {{report.job_id, 1, proto::JobStatus::running}};
  proto::Release release;
  release.rid = "rl";
  release.worker_id = worker_id;
  release.lease_id = report.lease_id;
  release.job_ids = {report.job_id};
  return {proto::frames_of(proto::kWorkerProtocol, hello),
          proto::frames_of(proto::kWorkerProtocol, pull),
          proto::frames_of(proto::kWorkerProtocol, report),
          proto::frames_of(proto::kWorkerProtocol, progress),
          proto::frames_of(proto::kWorkerProtocol, hb),
          proto::frames_of(proto::kWorkerProtocol, release),
          proto::frames_of(proto::kWorkerProtocol, proto::Bye{"b", worker_id})};
}

std::vector<Frames> event_seeds(const std::string& worker_id) {
  proto::Heartbeat hb;
  hb.worker_id = worker_id;
  hb.state = "idle";
  proto::JobEvent job;
  job.source = worker_id;
  job.job_id = "01J0S0C1A0E4RT1GQ7K3M5N8PE";
  job.org_id = "mut";
  job.worker_id = worker_id;
  proto::WorkerEvent worker;
  worker.source = worker_id;
  worker.worker_id = worker_id;
  worker.state = "joined";
  const std::string protocol(proto::kEventProtocol);
  return {{"hb." + worker_id, protocol, "HEARTBEAT", proto::encode(hb)},
          {"job.mut." + job.job_id, protocol, "JOB", proto::encode(job)},
          {"worker." + worker_id, protocol, "WORKER", proto::encode(worker)}};
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  Frames mutate(Frames frames) {
    const int rounds = 1 + pick(3);
    for (int i = 0; i < rounds; ++i) mutate_once(frames);
    return frames;
  }

 private:
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  char byte() { return static_cast<char>(pick(256)); }
  std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = byte();
    return s;
  }

  void mutate_once(Frames& f) {
    if (f.empty()) f.emplace_back();
    auto& frame = f[pick(f.size())];
    switch (pick(12)) {
      case 0:  // flip bytes
        for (std::size_t n = 1 + pick(4); n > 0 && !frame.empty(); --n) frame[pick(frame.size())] ^= byte();
        break;
      case 1:  // cut
        frame.resize(pick(frame.size() + 1));
        break;
      case 2:  // grow
        frame += random_bytes(1 + pick(64));
        break;
      case 3:  // a frame of random bytes
        frame = random_bytes(pick(300));
        break;
      case 4:  // drop a frame
        f.erase(f.begin() + static_cast<std::ptrdiff_t>(pick(f.size())));
        break;
      case 5:  // add frames
        for (std::size_t n = 1 + pick(20); n > 0; --n) f.push_back(random_bytes(pick(16)));
        break;
      case 6:  // swap two frames
        std::swap(f[pick(f.size())], f[pick(f.size())]);
        break;
      case 7: {  // a msgpack length claiming gigabytes: str32, array32, map32
        static const char* kHuge[] = {"\xdb\xff\xff\xff\xff", "\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff"};
        frame.insert(pick(frame.size() + 1), std::string(kHuge[pick(3)], 5));
        break;
      }
      case 8:  // another command or protocol
        frame = std::string(pick(2) == 0 ? "QGC1" : pick(2) == 0 ? "QGW1" : "QGE1");
        break;
      case 9: {
        static const char* kCommands[] = {"SUBMIT", "REPORT", "HELLO", "PULL",    "HEARTBEAT",    "BYE",
                                          "ERROR",  "JOB",    "",      "\x1b[2J", "EVENTS_TOPIC", "STATS"};
        frame = kCommands[pick(12)];
        break;
      }
      case 10:  // a big frame (up to 2 MiB: over most limits)
        frame = std::string(pick(2 << 20), 'A');
        break;
      default:  // an empty frame
        frame.clear();
        break;
    }
  }

  std::mt19937_64 rng_;
};

zmq::socket_t keyed(zmq::context_t& context, zmq::socket_type type, const qg::CurveClientKeys& keys,
                    const std::string& endpoint) {
  zmq::socket_t socket(context, type);
  qg::set_common_options(socket);
  socket.set(zmq::sockopt::sndhwm, 1000);
  qg::apply_curve(socket, keys);
  socket.connect(endpoint);
  return socket;
}

void drain(zmq::socket_t& socket) {
  zmq::message_t m;
  for (int i = 0; i < 1000 && socket.recv(m, zmq::recv_flags::dontwait); ++i) {
  }
}

// The reply with `command` to a request on `socket` within `timeout`; empty when none came.
Frames await(zmq::socket_t& socket, std::string_view command, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 100ms);
    while (auto m = qg::recv_multipart(socket, 16, 1 << 24)) {
      if (m->frames.size() >= 2 && m->frames[1] == command) return m->frames;
      if (m->frames.size() >= 2 && m->frames[1] == "ERROR") return m->frames;
    }
  }
  return {};
}

// HEALTH, SUBMIT and a claim of that job on fresh connections; the reason when one fails.
std::string legitimate_round(zmq::context_t& context, const Ports& ports, const qg::CurveClientKeys& client,
                             const qg::CurveClientKeys& worker, const std::string& worker_id) {
  auto c = keyed(context, zmq::socket_type::dealer, client, ports.endpoint(ports.client));
  qg::send_multipart(c, proto::frames_of(proto::kClientProtocol, proto::HealthRequest{"final-health"}));
  const auto health = await(c, "HEALTH", 10s);
  if (health.size() != 3 || !proto::decode<proto::HealthReply>(health[2])->ok) return "no healthy HEALTH reply";
  proto::SubmitRequest submit;
  submit.rid = "final-submit";
  submit.org_id = "mut";
  submit.app_version_id = "final-build";
  submit.tests = {"final.spec.ts"};
  qg::send_multipart(c, proto::frames_of(proto::kClientProtocol, submit));
  const auto submitted = await(c, "SUBMIT", 10s);
  if (submitted.size() != 3 || submitted[1] != "SUBMIT") return "the final SUBMIT was not accepted";
  const auto job_id = proto::decode<proto::SubmitReply>(submitted[2])->job_ids.at(0);
  auto w = keyed(context, zmq::socket_type::dealer, worker, ports.endpoint(ports.worker));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int pulls = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    proto::Pull pull;
    pull.rid = "final-pull-" + std::to_string(++pulls);
    pull.worker_id = worker_id;
    pull.targets = {proto::Target::emulator};
    pull.wait_ms = 1000;
    qg::send_multipart(w, proto::frames_of(proto::kWorkerProtocol, pull));
    const auto reply = await(w, "ASSIGN", 5s);
    if (reply.size() != 3 || reply[1] != "ASSIGN") continue;  // CONFLICT while the old connection goes, or NOWORK
    auto assign = proto::decode<proto::Assign>(reply[2]);
    if (!assign) continue;
    for (const auto& job : assign->jobs) {
      if (job.job_id == job_id) return {};
      // Work a mutated submit queued: reported, so the queue moves on to the final job.
      proto::Report report;
      report.rid = "final-report-" + job.job_id;
      report.worker_id = worker_id;
      report.lease_id = assign->lease_id;
      report.job_id = job.job_id;
      report.attempt = job.attempt;
      qg::send_multipart(w, proto::frames_of(proto::kWorkerProtocol, report));
      (void)await(w, "CONFIRM", 5s);
    }
  }
  return "the final job was not handed to a worker within 60 s (" + std::to_string(pulls) + " pulls)";
}

int run(int argc, char** argv) {
  int seconds = 15;
  std::uint64_t seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::cerr << "usage: qg_port_mutator [--seconds N] [--seed S]\n";
      return 2;
    }
  }
  qg::testing::TempDir dir;
  const std::filesystem::path root(dir.path());
  std::filesystem::create_directories(root / "clients");
  std::filesystem::create_directories(root / "workers");
  (void)qg::write_curve_cert((root / "broker").string(), qg::new_curve_cert({}), true);
  const auto org =
      qg::write_curve_cert((root / "ci").string(), qg::new_curve_cert({{"role", "org"}, {"org", "mut"}}), true);
  const std::string worker_id = "mw1";
  const auto wk = qg::write_curve_cert((root / "mw1").string(),
                                       qg::new_curve_cert({{"role", "worker"}, {"worker-id", worker_id}}), true);
  std::filesystem::copy_file(org.public_file, root / "clients" / "ci.key");
  std::filesystem::copy_file(wk.public_file, root / "workers" / "mw1.key");
  const auto broker_key = (root / "broker.key").string();
  const auto client_keys = qg::load_curve_client_keys(org.secret_file.string(), broker_key);
  const auto worker_keys = qg::load_curve_client_keys(wk.secret_file.string(), broker_key);

  Ports ports{qg::testing::free_port(), qg::testing::free_port(), qg::testing::free_port(), qg::testing::free_port()};
  qg::testing::ChildProcess broker(
      {qg::testing::bin_dir() + "/qg-broker", "--store", "memory", "--client-endpoint", ports.endpoint(ports.client),
       "--worker-endpoint", ports.endpoint(ports.worker), "--events-in", ports.endpoint(ports.events_in),
       "--events-out", ports.endpoint(ports.events_out), "--curve-cert", (root / "broker.key_secret").string(),
       "--clients-dir", (root / "clients").string(), "--workers-dir", (root / "workers").string(), "--log-level",
       "warn"},
      (root / "broker.log").string());
  zmq::context_t context(1);
  Mutator mutator(seed);
  std::uint64_t sent[3] = {0, 0, 0};
  {
    auto client = keyed(context, zmq::socket_type::dealer, client_keys, ports.endpoint(ports.client));
    auto worker = keyed(context, zmq::socket_type::dealer, worker_keys, ports.endpoint(ports.worker));
    auto events = keyed(context, zmq::socket_type::pub, worker_keys, ports.endpoint(ports.events_in));
    const std::vector<Frames> seeds[3] = {client_seeds(), worker_seeds(worker_id), event_seeds(worker_id)};
    zmq::socket_t* sockets[3] = {&client, &worker, &events};
    std::mt19937_64 choose(seed ^ 0x9e3779b97f4a7c15ULL);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
      for (int burst = 0; burst < 64; ++burst) {
        const auto port = static_cast<std::size_t>(choose() % 3);
        const auto& pool = seeds[port];
        auto frames = pool[choose() % pool.size()];
        // One message in eight goes out valid, so the broker also does real work.
        if (choose() % 8 != 0) frames = mutator.mutate(std::move(frames));
        if (qg::send_multipart(*sockets[port], frames)) ++sent[port];
      }
      drain(client);
      drain(worker);
      if (!broker.running()) break;
    }
  }
  const bool alive = broker.running();
  std::string failure =
      alive ? legitimate_round(context, ports, client_keys, worker_keys, worker_id) : "the broker process exited";
  std::cout << "mutation run: " << sent[0] + sent[1] + sent[2] << " messages (" << sent[0] << " client, " << sent[1]
            << " worker, " << sent[2] << " events-in) in " << seconds << " s, seed " << seed << "; "
            << (failure.empty() ? "broker alive, HEALTH ok, submit and claim ok" : "FAILED: " + failure) << "\n";
  if (!failure.empty()) {
    std::ifstream log((root / "broker.log").string());
    std::cerr << log.rdbuf();
  }
  return failure.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "qg_port_mutator: " << e.what() << "\n";
    return 1;
  }
}

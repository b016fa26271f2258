// qg_sim_farm: many devices in one process, each a DEALER speaking the worker protocol to a
// real broker (HELLO, PULL long polls, HEARTBEAT on the DEALER, PROGRESS running, REPORT
// passed after --test-ms per job, PULL again), all driven from one thread. It stands in for a
// large farm where one qg-worker process per device would not fit the machine: the broker, the
// scheduler and the gateway see what a farm of that size shows them, minus the installs and
// test processes.
//
// The first --emulators devices serve target emulator, the others target device. Reads
// commands from stdin, one a line:
//   silence <worker_id>   that device sends nothing more (its machine died): the broker marks
//                         it lost once its heartbeats are overdue
//   quit                  exit (end of stdin does the same, so the process never outlives
//                         whoever started it)
// Prints "ready <n>" once every HELLO was answered, and one line per error reply.

#include <unistd.h>

#include <iostream>
#include <random>

#include <boost/program_options.hpp>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string endpoint;
  std::size_t devices = 500;
  std::size_t emulators = 50;
  std::chrono::milliseconds test_time{2000};
  std::string prefix = "sim-";
};

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Device {
  zmq::socket_t socket;
  std::string id;
  proto::Target target = proto::Target::emulator;
  bool silenced = false;
  std::uint64_t seq = 0;
  Clock::time_point next_heartbeat;
  // The group held: its lease, its jobs, the one running and when it ends.
  std::string lease_id, group_key;
  std::vector<proto::AssignedJob> jobs;
  std::size_t current = 0;
  bool awaiting_confirm = false;
  std::optional<Clock::time_point> finishes_at;
};

class Farm {
 public:
  explicit Farm(const Options& options) : options_(options) {
    context_.set(zmq::ctxopt::max_sockets, static_cast<int>(options.devices + 64));
    devices_.reserve(options.devices);
    for (std::size_t i = 0; i < options.devices; ++i) {
      Device d;
      d.socket = connect_dealer(context_, options.endpoint);
      d.id = options.prefix + std::to_string(i);
      d.target = i < options.emulators ? proto::Target::emulator : proto::Target::device;
      devices_.push_back(std::move(d));
    }
  }

  // HELLO from every device, one at a time (a worker's first message); throws on no answer.
  void hello() {
    for (auto& d : devices_) {
      proto::Hello h;
      h.rid = "hello";
      h.worker_id = d.id;
      h.device_id = "dev-" + d.id;
      h.targets = {d.target};
      auto reply = roundtrip(d.socket, proto::kWorkerProtocol, "HELLO", proto::encode(h), 10000ms);
      if (reply.size() != 3 || reply[1] != "HELLO") throw BenchError("HELLO of " + d.id + " not answered");
      auto decoded = proto::decode<proto::HelloReply>(reply[2]);
      if (decoded) heartbeat_ = std::chrono::milliseconds(decoded->heartbeat_ms);
    }
    std::mt19937 random(7);
    const auto start = Clock::now();
    for (auto& d : devices_) {
      d.next_heartbeat = start + std::chrono::milliseconds(random() % static_cast<unsigned>(heartbeat_.count() + 1));
      pull(d);
    }
    std::cout << "ready " << devices_.size() << std::endl;
  }

  // Runs until "quit" or the end of stdin.
  void run() {
    std::vector<zmq::pollitem_t> items;
    items.push_back({nullptr, STDIN_FILENO, ZMQ_POLLIN, 0});
    for (auto& d : devices_) items.push_back({d.socket.handle(), 0, ZMQ_POLLIN, 0});
    std::string input;
    for (;;) {
      zmq::poll(items.data(), items.size(), 20ms);
      if ((items[0].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0 && !read_stdin(input)) return;
      for (std::size_t i = 0; i < devices_.size(); ++i) {
        if ((items[i + 1].revents & ZMQ_POLLIN) != 0) receive(devices_[i]);
      }
      const auto now = Clock::now();
      for (auto& d : devices_) {
        if (d.silenced) continue;
        if (d.finishes_at && now >= *d.finishes_at) report(d);
        if (now >= d.next_heartbeat) heartbeat(d, now);
      }
    }
  }

 private:
  // False at "quit" or end of input.
  bool read_stdin(std::string& buffer) {
    char chunk[512];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto end = buffer.find('\n'); end != std::string::npos; end = buffer.find('\n')) {
      const std::string line = buffer.substr(0, end);
      buffer.erase(0, end + 1);
      if (line == "quit") return false;
      if (line.rfind("silence ", 0) == 0) {
        for (auto& d : devices_) d.silenced |= d.id == line.substr(8);
      }
    }
    return true;
  }

  void send(Device& d, const std::vector<std::string>& frames) {
    if (!d.silenced) send_multipart(d.socket, frames);
  }

  void pull(Device& d) {
    proto::Pull p;
    p.rid = d.id + "-p" + std::to_string(d.seq);
    p.worker_id = d.id;
    p.targets = {d.target};
    p.wait_ms = 30000;
    send(d, proto::frames_of(proto::kWorkerProtocol, p));
  }

  void start_job(Device& d) {
    proto::Progress p;
    p.worker_id = d.id;
    p.lease_id = d.lease_id;
    p.job_id = d.jobs[d.current].job_id;
    p.attempt = d.jobs[d.current].attempt;
    p.status = proto::JobStatus::running;
    send(d, proto::frames_of(proto::kWorkerProtocol, p));
    d.finishes_at = Clock::now() + options_.test_time;
  }

  void report(Device& d) {
    const auto& job = d.jobs[d.current];
    proto::Report r;
    r.rid = job.job_id;
    r.worker_id = d.id;
    r.lease_id = d.lease_id;
    r.job_id = job.job_id;
    r.attempt = job.attempt;
    r.status = proto::JobStatus::passed;
    r.duration_ms = options_.test_time.count();
    send(d, proto::frames_of(proto::kWorkerProtocol, r));
    d.finishes_at.reset();
    d.awaiting_confirm = true;
  }

  void heartbeat(Device& d, Clock::time_point now) {
    proto::Heartbeat h;
    h.worker_id = d.id;
    h.device_id = "dev-" + d.id;
    h.state = d.lease_id.empty() ? "idle" : "busy";
    h.lease_id = d.lease_id;
    h.group_key = d.group_key;
    for (std::size_t i = d.current; i < d.jobs.size(); ++i) {
      h.jobs.push_back({d.jobs[i].job_id, d.jobs[i].attempt,
                        i == d.current ? proto::JobStatus::running : proto::JobStatus::assigned});
    }
    h.seq = ++d.seq;
    h.sent_at_ms = wall_ms();
    send(d, proto::frames_of(proto::kWorkerProtocol, h));
    d.next_heartbeat = now + heartbeat_;
  }

  void receive(Device& d) {
    while (auto message = recv_multipart(d.socket, 8, 64u << 20)) {
      const auto& f = message->frames;
      if (f.size() != 3 || d.silenced) continue;
      if (f[1] == "ASSIGN") {
        auto assign = proto::decode<proto::Assign>(f[2]);
        if (!assign || assign->jobs.empty()) {
          pull(d);
          continue;
        }
        d.lease_id = assign->lease_id;
        d.group_key = assign->group_key;
        d.jobs = std::move(assign->jobs);
        d.current = 0;
        start_job(d);
      } else if (f[1] == "CONFIRM" && d.awaiting_confirm) {
        d.awaiting_confirm = false;
        if (++d.current < d.jobs.size()) {
          start_job(d);
        } else {
          d.lease_id.clear();
          d.group_key.clear();
          d.jobs.clear();
          pull(d);
        }
      } else if (f[1] == "NOWORK") {
        pull(d);
      } else if (f[1] == "ERROR") {
        auto err = proto::decode<proto::ErrorReply>(f[2]);
        std::cout << d.id << " ERROR " << (err ? err->error.code + " " + err->error.message : "?") << std::endl;
      }
    }
  }

  Options options_;
  zmq::context_t context_{1};
  std::vector<Device> devices_;
  std::chrono::milliseconds heartbeat_{1000};
};

int run(int argc, char** argv) {
  namespace po = boost::program_options;
  Options options;
  std::int64_t test_ms = options.test_time.count();
  po::options_description desc(
      "qg_sim_farm: many simulated devices in one process against a real broker's worker socket");
  desc.add_options()("help", "this text")("worker-endpoint", po::value(&options.endpoint)->required(),
                                          "the broker's worker socket, e.g. tcp://127.0.0.1:5556")(
      "devices", po::value(&options.devices)->default_value(options.devices), "devices to simulate")(
      "emulators", po::value(&options.emulators)->default_value(options.emulators),
      "how many of them serve target emulator (the others: device)")(
      "test-ms", po::value(&test_ms)->default_value(test_ms), "how long each test runs")(
      "prefix", po::value(&options.prefix)->default_value(options.prefix), "worker ids are <prefix><n>");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help") != 0) {
    std::cout << desc << "\nstdin: 'silence <worker_id>' stops one device; 'quit' or end of input exits.\n";
    return 0;
  }
  po::notify(vm);
  if (options.devices == 0 || options.devices > 4000) throw BenchError("--devices: 1 to 4000");
  options.test_time = std::chrono::milliseconds(std::max<std::int64_t>(test_ms, 1));
  Farm farm(options);
  farm.hello();
  farm.run();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

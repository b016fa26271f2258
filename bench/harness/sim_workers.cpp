// In-process simulated workers (bench.hpp): DEALERs on the broker's worker socket, driven
// from one thread, that pull, report every job of a group passed at once, and pull again
// after the confirmations. The dispatch and whole-life figures are timed through them.

#include "bench.hpp"

#include "qg/common/zmq_util.hpp"

namespace qg::bench {

using namespace std::chrono_literals;

SimResult run_sim_workers(zmq::context_t& context, const std::string& endpoint, std::size_t workers,
                          std::size_t expected_jobs, std::chrono::seconds deadline) {
  struct Sim {
    zmq::socket_t socket;
    std::string id;
    std::size_t awaiting = 0;  // confirmations outstanding
    std::uint64_t seq = 0;
  };
  std::vector<Sim> sims;
  sims.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    sims.push_back({connect_dealer(context, endpoint), "sim-" + std::to_string(w)});
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sims) items.push_back({s.socket.handle(), 0, ZMQ_POLLIN, 0});
  auto pull = [](Sim& s) {
    proto::Pull p;
    p.rid = s.id + "-p" + std::to_string(s.seq++);
    p.worker_id = s.id;
    p.targets = {proto::Target::emulator};
    p.wait_ms = 1000;
    send_multipart(s.socket, proto::frames_of(proto::kWorkerProtocol, p));
  };
  SimResult result;
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  for (auto& s : sims) pull(s);
  while (result.jobs < expected_jobs) {
    if (now_us() > end_by) break;
    zmq::poll(items.data(), items.size(), 100ms);
    for (std::size_t w = 0; w < workers; ++w) {
      if ((items[w].revents & ZMQ_POLLIN) == 0) continue;
      auto& s = sims[w];
      while (auto message = recv_multipart(s.socket, 8, 64u << 20)) {
        const auto& f = message->frames;
        if (f.size() != 3) continue;
        if (f[1] == "ASSIGN") {
          auto assign = proto::decode<proto::Assign>(f[2]);
          if (!assign) throw BenchError("bad ASSIGN: " + assign.error().message);
          ++result.groups;
          for (const auto& job : assign->jobs) {
            proto::Report r;
            r.rid = job.job_id;
            r.worker_id = s.id;
            r.lease_id = assign->lease_id;
            r.job_id = job.job_id;
            r.attempt = job.attempt;
            r.status = proto::JobStatus::passed;
            send_multipart(s.socket, proto::frames_of(proto::kWorkerProtocol, r));
          }
          s.awaiting = assign->jobs.size();
          if (s.awaiting == 0) pull(s);
        } else if (f[1] == "CONFIRM") {
          ++result.jobs;
          if (s.awaiting > 0 && --s.awaiting == 0) pull(s);
        } else if (f[1] == "NOWORK") {
          pull(s);
        } else if (f[1] == "ERROR") {
          auto err = proto::decode<proto::ErrorReply>(f[2]);
          throw BenchError("worker got ERROR: " + (err ? err->error.code + " " + err->error.message : ""));
        }
      }
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

}  // namespace qg::bench

// qg_bench_retention: Redis memory and CPU with retention on. Pushes N no-op single-job
// submissions (default 1,000,000; --jobs N) through the real broker and scheduler on a Redis
// store (a submitter keeping about a round of 10,000 queued, simulated workers running
// them), once with the
// scheduler's --retention (default 30s; --retention D) and once with retention off. Prints
// Redis used_memory over time for the retention run and checks that the second half's peak
// is within 10 % of the first half's; prints Redis CPU per job (INFO cpu, user + sys) of
// both runs, the retention run's including the sweep of every job it ran (it waits until
// the finished-at index is empty), and checks the ratio is within 1.3. The slow log (calls
// over 0.5 ms) shows how long a sweep call held Redis.
//
// --rounds R: R pairs of runs, retention on and off alternating (on/off, off/on, ...), so
// that load from other work on the host falls on both alike; the verdict takes the median
// pair's ratio.
//
// --quick: 20,000 jobs with --retention 3s (CTest's smoke run). Time scales with the jobs:
// keep the run several retentions long, or the halves compare the ramp, not the plateau.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/bench.hpp"
#include "qg/common/duration.hpp"
#include "qg/proto/codec.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kRound = 10'000;  // jobs submitted, then run, per round
const std::string kPrefix = "qgret:";

struct Sample {
  double t = 0;  // seconds since the run's start
  double used = 0;
  std::size_t done = 0;  // jobs submitted so far
};

struct RunResult {
  std::vector<Sample> samples;  // while jobs ran
  double cpu_per_job_us = 0;
  double seconds = 0;  // submitting and running
  double drain_s = 0;  // retention run: from the last job to an empty finished-at index
  double slow_sweeps = 0, longest_sweep_us = 0;
};

RunResult run_once(const std::string& url, std::size_t jobs, const std::string& retention) {
  RedisAdmin admin(url);
  admin.flushall();
  admin.command({"CONFIG", "SET", "slowlog-log-slower-than", "500"});
  admin.command({"CONFIG", "SET", "slowlog-max-len", "10000"});
  admin.take_slowlog(10000);
  StackOptions so;
  so.redis_url = url;
  so.key_prefix = kPrefix;
  so.scheduler_args = {"--retention", retention, "--dead-retention", retention};
  so.broker_args = so.scheduler_args;
  Stack stack(so);
  zmq::context_t context(1);
  std::this_thread::sleep_for(200ms);

  RunResult out;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> done{0};
  std::mutex mu;
  const double t0 = now_us();
  std::thread sampler([&] {
    RedisAdmin probe(url);
    while (!stop) {
      Sample s{(now_us() - t0) / 1e6, probe.used_memory(), done.load()};
      {
        std::lock_guard lock(mu);
        out.samples.push_back(s);
      }
      for (int i = 0; i < 10 && !stop; ++i) std::this_thread::sleep_for(50ms);
    }
  });
  const double cpu0 = admin.cpu_seconds();
  std::vector<std::string> bodies;
  for (int app = 0; app < 200; ++app) {
    bodies.push_back(
        proto::encode(make_submit("s", "org-" + std::to_string(app % 7), "app-" + std::to_string(app), 1)));
  }
  // A submitter thread keeps at most two rounds queued (it reads the queued count from
  // Redis), so memory follows retention rather than a growing queue; the simulated workers
  // run every job in this thread.
  std::atomic<bool> submit_failed{false};
  std::thread submitter([&] {
    try {
      RedisAdmin counts(url);
      zmq::context_t submit_context(1);
      for (std::size_t first = 0; first < jobs && !stop; first += kRound) {
        for (int i = 0; i < 60'000; ++i) {
          const auto queued = counts.command({"HGET", kPrefix + "counts", "queued"});
          if (queued.empty() || std::stoll(queued) < static_cast<long long>(kRound)) break;
          std::this_thread::sleep_for(5ms);
        }
        const std::size_t n = std::min(kRound, jobs - first);
        auto r = closed_loop(
            submit_context, stack.client_endpoint(), 50, n,
            [&](std::size_t i) { return bodies[(first + i) % bodies.size()]; }, 120s);
        if (r.errors > 0) throw BenchError("submits failed");
        done += n;
      }
    } catch (const std::exception&) {
      submit_failed = true;
    }
  });
  SimResult sim;
  try {
    sim = run_sim_workers(context, stack.worker_endpoint(), 50, jobs,
                          std::chrono::seconds(120 + static_cast<long long>(jobs / 1000)));
  } catch (...) {
    stop = true;
    submitter.join();
    sampler.join();
    throw;
  }
  out.seconds = (now_us() - t0) / 1e6;
  stop = true;
  submitter.join();
  sampler.join();
  if (submit_failed) throw BenchError("retention: submits failed");
  if (sim.jobs < jobs) throw BenchError("retention: only " + std::to_string(sim.jobs) + " jobs ran");
  if (retention != "off") {
    // Every job's sweep belongs to its cost: wait for the finished-at index to empty.
    const auto keep = duration_option("--retention", retention).value_or(0ms);
    const double deadline = now_us() + (static_cast<double>(keep.count()) * 1000.0 + 120e6);
    while (std::stoll("0" + admin.command({"ZCARD", kPrefix + "done"})) > 0) {
      if (now_us() > deadline) throw BenchError("retention: the sweep did not finish");
      std::this_thread::sleep_for(100ms);
    }
    out.drain_s = (now_us() - t0) / 1e6 - out.seconds;
  }
  out.cpu_per_job_us = (admin.cpu_seconds() - cpu0) * 1e6 / static_cast<double>(jobs);
  for (const auto& call : admin.take_slowlog(10000)) {
    if (call.command == "FCALL" && call.first_arg.find("_sweep") != std::string::npos) {
      ++out.slow_sweeps;
      out.longest_sweep_us = std::max(out.longest_sweep_us, call.micros);
    }
  }
  admin.command({"CONFIG", "SET", "slowlog-log-slower-than", "10000"});
  return out;
}

// --jobs N, --retention D and --rounds R are this bench's own; the rest go to Args::parse.
int run(int argc, char** argv) {
  std::size_t jobs = 0;
  std::size_t rounds = 1;
  std::string retention;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--jobs" || a == "--retention" || a == "--rounds") && i + 1 < argc) {
      if (a == "--jobs") {
        jobs = std::strtoull(argv[++i], nullptr, 10);
      } else if (a == "--rounds") {
        rounds = std::max<std::size_t>(1, std::min<std::size_t>(20, std::strtoull(argv[++i], nullptr, 10)));
      } else {
        retention = argv[++i];
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  auto args = Args::parse(static_cast<int>(rest.size()), rest.data(), "qg_bench_retention",
                          "Redis memory over time and CPU per job with --retention (own flags: --jobs N, "
                          "--retention D, --rounds R)");
  if (jobs == 0) jobs = args.quick ? 20'000 : 1'000'000;
  if (retention.empty()) retention = args.quick ? "3s" : "30s";
  BenchRedis redis(args, true);

  std::vector<RunResult> ons, offs;
  for (std::size_t r = 0; r < rounds; ++r) {
    if (r % 2 == 0) {
      ons.push_back(run_once(redis.url(), jobs, retention));
      offs.push_back(run_once(redis.url(), jobs, "off"));
    } else {
      offs.push_back(run_once(redis.url(), jobs, "off"));
      ons.push_back(run_once(redis.url(), jobs, retention));
    }
  }
  // The pair whose ratio is the median (the lower middle one for an even count).
  std::vector<std::size_t> order(rounds);
  for (std::size_t r = 0; r < rounds; ++r) order[r] = r;
  auto ratio_of = [&](std::size_t r) {
    return offs[r].cpu_per_job_us > 0 ? ons[r].cpu_per_job_us / offs[r].cpu_per_job_us : 0.0;
  };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ratio_of(a) < ratio_of(b); });
  const std::size_t mid = order[(rounds - 1) / 2];
  const auto& on = ons[mid];
  const auto& off = offs[mid];

  Table memory("Retention: Redis used_memory over time, " + fmt(static_cast<double>(jobs)) +
                   " no-op jobs, --retention " + retention,
               {"t (s)", "jobs submitted", "used_memory (MB)"});
  const std::size_t every = std::max<std::size_t>(1, on.samples.size() / 20);
  for (std::size_t i = 0; i < on.samples.size(); i += every) {
    const auto& s = on.samples[i];
    memory.row({fmt(s.t, 1), fmt(static_cast<double>(s.done)), fmt(s.used / 1e6, 1)});
  }
  double peak1 = 0, peak2 = 0;
  for (const auto& s : on.samples) {
    double& peak = s.t < on.seconds / 2 ? peak1 : peak2;
    peak = std::max(peak, s.used);
  }
  const double mem_ratio = peak1 > 0 ? peak2 / peak1 : 0;
  double off_peak = 0;
  for (const auto& s : off.samples) off_peak = std::max(off_peak, s.used);
  memory.note("Peak of the first half " + fmt(peak1 / 1e6, 1) + " MB, of the second half " + fmt(peak2 / 1e6, 1) +
              " MB: ratio " + fmt(mem_ratio, 3) + " (target <= 1.10: " + (mem_ratio <= 1.10 ? "met" : "MISSED") +
              "). The same run with retention off peaked at " + fmt(off_peak / 1e6, 1) + " MB.");
  memory.print();

  Table cpu("Retention: Redis CPU per job (INFO cpu, user + sys), pairs of runs",
            {"pair", "run", "jobs", "seconds", "CPU µs/job", "ratio"});
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::string pair = std::to_string(r + 1) + (r == mid ? " (median)" : "");
    cpu.row({pair, "--retention " + retention, fmt(static_cast<double>(jobs)), fmt(ons[r].seconds + ons[r].drain_s, 1),
             fmt(ons[r].cpu_per_job_us, 1), fmt(ratio_of(r), 3)});
    cpu.row({pair, "--retention off", fmt(static_cast<double>(jobs)), fmt(offs[r].seconds, 1),
             fmt(offs[r].cpu_per_job_us, 1), ""});
  }
  const double cpu_ratio = ratio_of(mid);
  cpu.note("Median pair's ratio " + fmt(cpu_ratio, 3) + " (target <= 1.30: " + (cpu_ratio <= 1.30 ? "met" : "MISSED") +
           "). The retention run's figure includes the sweep of every job (it ran until the finished-at "
           "index was empty, " +
           fmt(on.drain_s, 1) + " s after the last job). Sweep calls over 0.5 ms: " + fmt(on.slow_sweeps) +
           (on.slow_sweeps > 0 ? ", the longest " + fmt_us(on.longest_sweep_us) : "") + ".");
  cpu.print();

  record("retention.memory_peak_ratio", mem_ratio);
  record("retention.cpu_ratio", cpu_ratio);
  record("retention.cpu_us_per_job_on", on.cpu_per_job_us);
  record("retention.cpu_us_per_job_off", off.cpu_per_job_us);
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

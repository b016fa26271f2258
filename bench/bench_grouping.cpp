// Grouping: a device-farm simulation with the real qg-broker, qg-scheduler and K qg-worker
// processes, whose install and run commands are a time-scaled stand-in (`sleep`), against
// first-come-first-served without grouping (a discrete-event simulation of the same
// workload) and the lower bound.
//
// Workload (seeded, so every run draws the same one), all builds submitted at t = 0, one
// suite request per build, in build order:
//   K = 8 devices (one qg-worker each), 6 orgs, 24 builds
//   build org          uniform over the 6 orgs
//   build priority     high 20 %, medium 60 %, low 20 %
//   tests per build    uniform integer 10..60
//   install time       uniform 30..90 s per build (the same on every device)
//   test time          log-normal, median 20 s, sigma 0.6, clipped to 3..180 s
// Time scale: 1 simulated second = 20 ms of real time (--quick: 1 ms, 2 devices, 4 small
// builds). The stand-in runner is `sleep`, exec'd by the worker's `/bin/sh -c` (one process
// start per test, as a real runner has), so the real system's own per-test overhead (starting
// the shell and `sleep`, PROGRESS/REPORT messages, claims) is inside the qgjob makespan. The
// time scale inflates that fixed cost 50-fold: a 20 ms process start counts as 1 simulated s
// (on real tests of tens of seconds it is a fraction of a percent). The bench measures it and
// prints the makespan both with it and without it.
//
// Store: Redis by default (qg-broker + qg-scheduler on a redis-server); `--store memory` runs
// one qg-broker --store memory (embedded scheduler) instead.
//
// First-come-first-served without grouping: each free device takes the next job in submit
// order and installs the job's build first unless it already installed it (devices keep
// builds, as qg-worker does). It is simulated with zero overhead, which favours it.
// Lower bound: (total test time + one install per build) / K.
#include <signal.h>

#include <fstream>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <thread>

#include "grouping/farm_scenarios.hpp"
#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Build {
  std::string org;
  std::string app;  // "<name>-<install seconds, real>" so the stand-in can sleep it
  proto::Priority priority = proto::Priority::medium;
  double install_s = 0;         // simulated seconds
  std::vector<double> tests_s;  // simulated seconds
};

struct Workload {
  int devices = 8;
  double ms_per_s = 20;  // real milliseconds per simulated second
  std::vector<Build> builds;
  double total_test_s() const {
    double t = 0;
    for (const auto& b : builds)
      for (double x : b.tests_s) t += x;
    return t;
  }
  double total_install_once_s() const {
    double t = 0;
    for (const auto& b : builds) t += b.install_s;
    return t;
  }
  std::size_t jobs() const {
    std::size_t n = 0;
    for (const auto& b : builds) n += b.tests_s.size();
    return n;
  }
};

std::string real_seconds(double sim_s, double ms_per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", sim_s * ms_per_s / 1000.0);
  return buf;
}

Workload make_workload(bool quick) {
  Workload w;
  std::mt19937_64 rng(20240601);
  int builds = 24, min_tests = 10, max_tests = 60;
  if (quick) {
    w.devices = 2;
    w.ms_per_s = 1;
    builds = 4;
    min_tests = 3;
    max_tests = 6;
  }
  std::uniform_int_distribution<int> org(0, 5);
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int> tests(min_tests, max_tests);
  std::uniform_real_distribution<double> install(30, 90);
  std::lognormal_distribution<double> test_time(std::log(20.0), 0.6);
  for (int b = 0; b < builds; ++b) {
    Build build;
    build.org = std::string("org-") + static_cast<char>('a' + org(rng));
    const double p = unit(rng);
    build.priority = p < 0.2 ? proto::Priority::high : (p < 0.8 ? proto::Priority::medium : proto::Priority::low);
    build.install_s = install(rng);
    const int n = tests(rng);
    for (int t = 0; t < n; ++t) build.tests_s.push_back(std::clamp(test_time(rng), 3.0, 180.0));
    build.app = "b" + std::to_string(b) + "-" + real_seconds(build.install_s, w.ms_per_s);
    w.builds.push_back(std::move(build));
  }
  return w;
}

struct Outcome {
  std::size_t installs = 0;
  double makespan_s = 0;  // simulated seconds
  double busy_s = 0;      // install + test time, simulated seconds
};

// First-come-first-served, no grouping, zero overhead.
Outcome fcfs(const Workload& w) {
  struct Job {
    std::size_t build;
    double test_s;
  };
  std::vector<Job> jobs;
  for (std::size_t b = 0; b < w.builds.size(); ++b)
    for (double t : w.builds[b].tests_s) jobs.push_back({b, t});
  using Free = std::pair<double, int>;  // (time free, device)
  std::priority_queue<Free, std::vector<Free>, std::greater<>> free;
  for (int d = 0; d < w.devices; ++d) free.push({0.0, d});
  std::vector<std::set<std::size_t>> installed(static_cast<std::size_t>(w.devices));
  Outcome o;
  for (const auto& job : jobs) {
    auto [at, d] = free.top();
    free.pop();
    double t = at;
    if (installed[static_cast<std::size_t>(d)].insert(job.build).second) {
      t += w.builds[job.build].install_s;
      o.busy_s += w.builds[job.build].install_s;
      ++o.installs;
    }
    t += job.test_s;
    o.busy_s += job.test_s;
    o.makespan_s = std::max(o.makespan_s, t);
    free.push({t, d});
  }
  return o;
}

// Unix epoch milliseconds at the steady-clock instant `steady_us` (a now_us() value).
double now_ms_at(double steady_us) {
  const double wall_ms = static_cast<double>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  return wall_ms - (now_us() - steady_us) / 1000.0;
}

std::uint64_t passed_count(zmq::socket_t& socket) {
  proto::StatsRequest req;
  req.rid = "stats";
  auto reply = roundtrip(socket, proto::kClientProtocol, "STATS", proto::encode(req), 5000ms);
  if (reply.size() != 3 || reply[1] != "STATS") throw BenchError("STATS failed");
  auto stats = proto::decode<proto::StatsReply>(reply[2]);
  if (!stats) throw BenchError("STATS undecodable");
  std::uint64_t done = 0;
  for (const auto& [status, n] : stats->by_status) {
    auto s = proto::parse_status(status);
    if (s && proto::is_final(*s)) done += n;
  }
  return done;
}

// `redis_url` empty: the broker's embedded memory store.
Outcome run_qgjob(const Workload& w, const std::string& redis_url, unsigned group_max, std::string& detail,
                  double& overhead_ms, std::string& diagnosis) {
  StackOptions so;
  so.redis_url = redis_url;
  so.scheduler = !redis_url.empty();
  so.broker_args = {"--group-max", std::to_string(group_max)};
  so.scheduler_args = so.broker_args;
  Stack stack(so);
  const std::string installs_log = stack.dir() + "/installs.log";
  std::vector<std::unique_ptr<testing::ChildProcess>> workers;
  const auto bin = testing::bin_dir();
  auto start_worker = [&](int d) {
    const std::string id = "dev-" + std::to_string(d);
    std::vector<std::string> argv = {
        bin + "/qg-worker",
        "--broker",
        stack.worker_endpoint(),
        "--events",
        stack.events_in_endpoint(),
        "--worker-id",
        id,
        "--device-id",
        id,
        "--targets",
        "emulator",
        "--workdir",
        stack.dir() + "/" + id,
        "--install-cmd",
        "echo {app_version_id} {device_id} >> " + installs_log + "; d={app_version_id}; exec sleep ${d##*-}",
        "--run-cmd",
        "d={test_path}; exec sleep ${d##*/}",
        "--job-timeout",
        "600",
        "--pull-wait-ms",
        "2000",
        "--log-level",
        "warn"};
    workers.push_back(std::make_unique<testing::ChildProcess>(argv, stack.dir() + "/" + id + ".log"));
  };
  zmq::context_t context(1);
  auto client = connect_dealer(context, stack.client_endpoint());
  auto wait_for_workers = [&](int n) {
    bool ready = testing::wait_until(
        [&] {
          proto::WorkersRequest req;
          req.rid = "w";
          auto reply = roundtrip(client, proto::kClientProtocol, "WORKERS", proto::encode(req), 2000ms);
          if (reply.size() != 3 || reply[1] != "WORKERS") return false;
          auto ws = proto::decode<proto::WorkersReply>(reply[2]);
          return ws && ws->workers.size() >= static_cast<std::size_t>(n);
        },
        20s, 20ms);
    if (!ready) throw BenchError("grouping: workers did not all connect:\n" + stack.log("dev-0"));
    std::this_thread::sleep_for(100ms);
  };

  // Calibration, on device 0 alone (with more devices the broker would share the 40 tests
  // out): one build of 40 zero-length tests measures the real system's per-test overhead
  // (fork/exec of the shell and `sleep`, PROGRESS/REPORT, the claim; the install is a zero sleep).
  start_worker(0);
  wait_for_workers(1);
  {
    proto::SubmitRequest cal = make_submit("cal", "org-cal", "cal-0.0000", 0);
    for (int t = 0; t < 40; ++t) cal.tests.push_back("cal/t" + std::to_string(t) + "/0");
    const double c0 = now_us();
    submit(client, cal);
    while (passed_count(client) < cal.tests.size()) {
      if (now_us() - c0 > 30e6) throw BenchError("grouping: calibration did not finish");
      std::this_thread::sleep_for(2ms);
    }
    overhead_ms = (now_us() - c0) / 1000.0 / static_cast<double>(cal.tests.size());
  }
  // All devices connected (HELLO seen) before the clock starts.
  for (int d = 1; d < w.devices; ++d) start_worker(d);
  wait_for_workers(w.devices);
  const std::uint64_t before = passed_count(client);
  const double t0 = now_us();
  for (std::size_t b = 0; b < w.builds.size(); ++b) {
    const auto& build = w.builds[b];
    proto::SubmitRequest req;
    req.rid = "b" + std::to_string(b);
    req.org_id = build.org;
    req.app_version_id = build.app;
    req.priority = build.priority;
    for (std::size_t t = 0; t < build.tests_s.size(); ++t) {
      req.tests.push_back("suite/b" + std::to_string(b) + "/t" + std::to_string(t) + "/" +
                          real_seconds(build.tests_s[t], w.ms_per_s));
    }
    submit(client, req);
  }
  const std::size_t total = w.jobs();
  const double lb_real_s = (w.total_test_s() + w.total_install_once_s()) / w.devices * w.ms_per_s / 1000.0;
  const double end_by = t0 + std::max(60.0, lb_real_s * 4) * 1e6;
  std::uint64_t done = 0;
  while ((done = passed_count(client) - before) < total) {
    if (now_us() > end_by) {
      throw BenchError("grouping: only " + std::to_string(done) + " of " + std::to_string(total) +
                       " jobs final before the deadline");
    }
    std::this_thread::sleep_for(5ms);
  }
  const double real_s = (now_us() - t0) / 1e6;
  Outcome o;
  o.makespan_s = real_s * 1000.0 / w.ms_per_s;
  std::map<std::string, double> install_of;
  for (const auto& b : w.builds) install_of[b.app] = b.install_s;
  std::ifstream in(installs_log);
  for (std::string app, device; in >> app >> device;) {
    if (app.rfind("cal-", 0) == 0) continue;
    ++o.installs;
    o.busy_s += install_of[app];
  }
  o.busy_s += w.total_test_s();
  detail = fmt(real_s, 2) + " s real";
  // Where the time went, from the job records: how long each test command really took beyond
  // its simulated length (process start, and sleeps that wake late on a loaded machine), and
  // how far apart the devices finished (the tail the claim policy is there to even out).
  {
    const double epoch_ms = now_ms_at(t0);
    std::map<std::string, std::int64_t> last_end;
    double extra_ms = 0;
    std::size_t n = 0;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      proto::ListRequest req;
      req.rid = "l" + std::to_string(page);
      req.limit = 1000;
      req.cursor = cursor;
      auto reply = roundtrip(client, proto::kClientProtocol, "LIST", proto::encode(req), 5000ms);
      if (reply.size() != 3 || reply[1] != "LIST") break;
      auto list = proto::decode<proto::ListReply>(reply[2]);
      if (!list) break;
      for (const auto& job : list->jobs) {
        if (job.org_id == "org-cal" || job.status != proto::JobStatus::passed) continue;
        auto slash = job.test_path.rfind('/');
        const double sim_real_ms = std::stod(job.test_path.substr(slash + 1)) * 1000.0;
        extra_ms += static_cast<double>(job.duration_ms) - sim_real_ms;
        ++n;
        auto& end = last_end[job.worker_id];
        end = std::max(end, job.updated_at_ms);
      }
      cursor = list->next_cursor;
      if (cursor.empty()) break;
    }
    if (n > 0 && !last_end.empty()) {
      std::int64_t first = INT64_MAX, last = 0;
      for (const auto& [worker, end] : last_end) {
        first = std::min(first, end);
        last = std::max(last, end);
      }
      diagnosis = "test commands ran " + fmt(extra_ms / static_cast<double>(n), 1) +
                  " ms real longer than simulated on average; devices finished within " +
                  fmt(static_cast<double>(last - first) / w.ms_per_s) + " s of each other, the first at " +
                  fmt((static_cast<double>(first) - epoch_ms) / w.ms_per_s) + " s";
    }
  }
  for (auto& worker : workers) worker->signal(SIGTERM);
  return o;
}

int run(int argc, char** argv) {
  // `--store redis|memory` is this program's own flag; the rest go to the common parser.
  std::string store = "redis";
  bool scenarios_only = false;  // --scenarios-only: the fair-share and flaky-device farms alone
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::string(argv[i]) == "--scenarios-only") {
      scenarios_only = true;
      continue;
    }
    if (i > 0 && std::string(argv[i]) == "--store" && i + 1 < argc) {
      store = argv[++i];
      continue;
    }
    rest.push_back(argv[i]);
  }
  if (store != "redis" && store != "memory") throw BenchError("--store takes redis or memory, not " + store);
  auto args = Args::parse(static_cast<int>(rest.size()), rest.data(), "qg_bench_grouping",
                          "device-farm simulation: installs, makespan and utilisation vs FCFS and the lower bound "
                          "(own flags: --store redis|memory, default redis; --scenarios-only)");
  const auto w = make_workload(args.quick);
  const bool memory = store == "memory";
  std::optional<BenchRedis> redis;
  std::optional<RedisAdmin> admin;
  if (!memory) {
    redis.emplace(args, true);
    admin.emplace(redis->url());
    admin->flushall();
  }
  const std::string redis_url = memory ? std::string() : redis->url();
  // Result keys of the memory run get their own prefix, so both runs can share a results file.
  const std::string key_base = memory ? "qg.grouping_memory" : "qg.grouping";
  if (scenarios_only) {
    if (memory) throw BenchError("--scenarios-only runs on Redis");
    run_farm_scenarios(redis_url, args.quick);
    return 0;
  }

  const double lb = (w.total_test_s() + w.total_install_once_s()) / w.devices;
  const auto base = fcfs(w);
  Table table("Grouping: device farm, " + std::to_string(w.devices) + " devices, " + std::to_string(w.builds.size()) +
                  " builds, " + std::to_string(w.jobs()) + " tests (simulated seconds), " + store + " store",
              {"policy", "app installs", "makespan", "vs lower bound", "device utilisation"});
  auto util = [&](const Outcome& o) { return o.busy_s / (w.devices * o.makespan_s); };
  // The default claim size (--group-max 50) is the headline; a smaller one shows the trade.
  std::vector<unsigned> group_maxes = {50};
  if (!args.quick) group_maxes.push_back(10);
  Outcome qg;
  for (unsigned gm : group_maxes) {
    std::string detail;
    double overhead_ms = 0;
    std::string diagnosis;
    auto o = run_qgjob(w, redis_url, gm, detail, overhead_ms, diagnosis);
    // The stand-in's real per-test overhead, in simulated seconds, spread over K devices.
    const double overhead_sim = overhead_ms / w.ms_per_s * static_cast<double>(w.jobs()) / w.devices;
    table.note("--group-max " + std::to_string(gm) + ": measured per-test overhead of the real system " +
               fmt(overhead_ms, 1) + " ms real = " + fmt(overhead_ms / w.ms_per_s, 2) +
               " simulated s per test, about " + fmt(overhead_sim) + " s of the makespan (" +
               fmt(100 * overhead_sim / lb, 1) +
               " % of the lower bound); makespan less that: " + fmt((o.makespan_s - overhead_sim) / lb, 3) +
               "× the lower bound." + (diagnosis.empty() ? "" : " In the run: " + diagnosis + "."));
    record(key_base + ".gm" + std::to_string(gm) + ".overhead_ms_per_test", overhead_ms);
    record(key_base + ".gm" + std::to_string(gm) + ".makespan_less_overhead_vs_lb", (o.makespan_s - overhead_sim) / lb);
    if (admin) admin->flushall();
    table.row({"qgjob, --group-max " + std::to_string(gm) + (gm == 50 ? " (default)" : "") +
                   " (real broker, scheduler, workers; " + detail + ")",
               fmt(static_cast<double>(o.installs)), fmt(o.makespan_s) + " s", fmt(o.makespan_s / lb, 3) + "×",
               fmt(100 * util(o), 1) + " %"});
    if (gm == 50) {
      qg = o;
    } else {
      const std::string key = key_base + ".gm" + std::to_string(gm);
      record(key + ".installs", static_cast<double>(o.installs));
      record(key + ".install_reduction", 1.0 - static_cast<double>(o.installs) / static_cast<double>(base.installs));
      record(key + ".makespan_vs_lb", o.makespan_s / lb);
    }
  }
  table.row({"first-come-first-served, no grouping (simulated, zero overhead)", fmt(static_cast<double>(base.installs)),
             fmt(base.makespan_s) + " s", fmt(base.makespan_s / lb, 3) + "×", fmt(100 * util(base), 1) + " %"});
  table.row({"lower bound: (test time + one install per build) / K", fmt(static_cast<double>(w.builds.size())),
             fmt(lb) + " s", "1.000×", "100 %"});
  table.note("Total test time " + fmt(w.total_test_s()) + " s, one install per build " + fmt(w.total_install_once_s()) +
             " s; time scale 1 s = " + fmt(w.ms_per_s, 0) +
             " ms real. Utilisation = (test + install time) / (K × makespan). Installs saved vs FCFS: " +
             fmt(100.0 * (1.0 - static_cast<double>(qg.installs) / static_cast<double>(base.installs)), 1) + " %.");
  table.print();
  record(key_base + ".installs", static_cast<double>(qg.installs));
  record(key_base + ".fcfs_installs", static_cast<double>(base.installs));
  record(key_base + ".install_reduction", 1.0 - static_cast<double>(qg.installs) / static_cast<double>(base.installs));
  record(key_base + ".makespan_s", qg.makespan_s);
  record(key_base + ".fcfs_makespan_s", base.makespan_s);
  record(key_base + ".lower_bound_s", lb);
  record(key_base + ".makespan_vs_lb", qg.makespan_s / lb);
  record(key_base + ".utilisation", util(qg));
  record(key_base + ".fcfs_utilisation", util(base));
  if (admin) admin->flushall();
  if (!memory) run_farm_scenarios(redis_url, args.quick);  // fair share, flaky device
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

// qg-chaos: a whole qgjob (Redis with AOF, 2 brokers, 2 schedulers, 6 workers) running a few
// hundred or thousand jobs while it kills -9 random workers and a scheduler and restarts a
// broker and Redis. At the end it checks and prints: every acknowledged job is in exactly one
// final state, no job was finished twice, every passed job ran, and the counts reconcile.
// Exit 0 when every check holds, 1 when one fails, 2 on a usage error.
//
//   qg-chaos [--jobs N] [--long] [--seed S] [--timeout-s T]
//
// Runs the binaries from $QG_BIN_DIR (default: this build's bin/). tests/chaos/run wraps it.
#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using proto::JobStatus;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::EventCollector;
using qg::testing::WorkerOptions;
using Clock = std::chrono::steady_clock;

// Ctrl-C / SIGTERM end the run early (with the report and a clean-up of every process).
volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

struct Options {
  int jobs = 300;
  int workers = 6;
  int batch = 20;  // tests per submit (one group)
  unsigned seed = 0;
  int timeout_s = 100;
};

struct Faults {
  int workers_killed = 0;
  int schedulers_killed = 0;
  int broker_restarts = 0;
  int redis_restarts = 0;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

class Chaos {
 public:
  explicit Chaos(Options options) : options_(options), rng_(options.seed) {
    ClusterOptions c;
    c.aof = true;
    // Redis is killed -9 mid-run and every acknowledged job is checked: with everysec a slow
    // fsync lets Redis answer writes it has not written yet (see RedisServer).
    c.appendfsync = "always";
    c.brokers = 2;
    c.schedulers = 2;
    c.broker_args = {"--lease-ms", "2000", "--backoff-base-ms", "100", "--backoff-jitter", "0", "--max-attempts", "5"};
    c.scheduler_args = c.broker_args;
    cluster_ = std::make_unique<Cluster>(c);
    for (int i = 0; i < options_.workers; ++i) start_worker(i % 2);
  }

  int run() {
    const auto start = Clock::now();
    std::cout << "chaos: " << options_.jobs << " jobs, " << options_.workers << " workers, 2 brokers, 2 schedulers, "
              << "Redis with AOF (appendfsync always); run directory " << cluster_->dir() << std::endl;
    EventCollector events0(cluster_->events_out_endpoint(0), {"job."});
    EventCollector events1(cluster_->events_out_endpoint(1), {"job."});
    std::thread submitter([&] { submit_all(); });

    // Faults fire as the run progresses (fraction of all jobs final).
    struct Step {
      double at;
      std::string what;
    };
    std::vector<Step> steps = {{0.05, "kill-worker"}, {0.15, "kill-scheduler"}, {0.25, "restart-broker"},
                               {0.35, "kill-worker"}, {0.45, "restart-redis"},  {0.55, "kill-worker"},
                               {0.70, "kill-worker"}, {0.85, "kill-worker"}};
    std::size_t next_step = 0;
    Api api(cluster_->client_endpoint(0));
    std::size_t final_count = 0;
    auto last_print = Clock::now();
    const auto deadline = start + std::chrono::seconds(options_.timeout_s);
    while (Clock::now() < deadline && g_interrupted == 0) {
      events0.pump();
      events1.pump();
      auto ids = acknowledged_snapshot();
      if (auto jobs = api.try_status(ids, 3s)) {
        final_count = static_cast<std::size_t>(
            std::count_if(jobs->begin(), jobs->end(), [](const proto::Job& j) { return proto::is_final(j.status); }));
      }
      const double progress = static_cast<double>(final_count) / options_.jobs;
      while (next_step < steps.size() && progress >= steps[next_step].at) {
        fault(steps[next_step].what, start);
        ++next_step;
      }
      if (Clock::now() - last_print > 5s) {
        last_print = Clock::now();
        std::cout << "chaos: " << seconds_since(start) << " s: " << final_count << "/" << options_.jobs << " final"
                  << std::endl;
      }
      if (submitted_done_ && final_count == ids.size() && next_step == steps.size()) break;
      std::this_thread::sleep_for(200ms);  // polling pace, not synchronisation
    }
    submitted_done_ = true;
    submitter.join();
    for (int i = 0; i < 20; ++i) {  // events still in flight
      events0.pump();
      events1.pump();
      std::this_thread::sleep_for(10ms);
    }
    return report(api, {&events0, &events1}, seconds_since(start));
  }

 private:
  void start_worker(int broker_index) {
    WorkerOptions w;
    w.worker_id = "w" + std::to_string(next_worker_++);
    w.broker_index = broker_index;
    w.extra_args = qg::testing::fast_worker_args();
    w.env = {{"FAKE_APPWRIGHT_SLEEP", "0.05"}};
    // Every run appends "<job_id> <attempt> <exit>" to runs.log, even one whose worker died.
    w.run_cmd = qg::testing::source_dir() + "/examples/fake-appwright test {test_path} --project {target}; rc=$?; " +
                "echo {job_id} {attempt} $rc >> " + cluster_->dir() + "/runs.log; exit $rc";
    auto index = cluster_->add_worker(w);
    alive_.push_back(index);
    broker_of_[index] = broker_index;
  }

  void fault(const std::string& what, Clock::time_point start) {
    std::cout << "chaos: " << seconds_since(start) << " s: " << what << std::endl;
    if (what == "kill-worker") {
      std::uniform_int_distribution<std::size_t> pick(0, alive_.size() - 1);
      auto slot = pick(rng_);
      auto index = alive_[slot];
      cluster_->worker(index).signal(SIGKILL);
      cluster_->worker(index).wait(5s);
      alive_.erase(alive_.begin() + static_cast<std::ptrdiff_t>(slot));
      ++faults_.workers_killed;
      start_worker(broker_of_[index]);
    } else if (what == "kill-scheduler") {
      cluster_->scheduler(0).signal(SIGKILL);
      cluster_->scheduler(0).wait(5s);
      ++faults_.schedulers_killed;
      cluster_->add_scheduler();
    } else if (what == "restart-broker") {
      cluster_->restart_broker(1);
      ++faults_.broker_restarts;
    } else if (what == "restart-redis") {
      cluster_->redis()->restart();
      ++faults_.redis_restarts;
    }
  }

  void submit_all() {
    Api api0(cluster_->client_endpoint(0));
    Api api1(cluster_->client_endpoint(1));
    int made = 0;
    for (int batch = 0; made < options_.jobs && !submitted_done_; ++batch) {
      const int n = std::min(options_.batch, options_.jobs - made);
      std::vector<std::string> tests;
      for (int i = 0; i < n; ++i) {
        // One in twenty fails; the rest pass.
        const int k = made + i;
        tests.push_back(k % 20 == 7 ? "t/fail-" + std::to_string(k) + ".spec.ts"
                                    : "t/ok-" + std::to_string(k) + ".spec.ts");
      }
      const std::string app = "build-" + std::to_string(batch % 25);
      const std::string key = "chaos-" + std::to_string(batch);
      std::vector<std::string> ids;
      for (int attempt = 0; ids.empty() && !submitted_done_; ++attempt) {
        ++submit_requests_;
        auto& api = (batch + attempt) % 2 == 0 ? api0 : api1;
        ids = api.submit("chaos", app, tests, key, 0, 2s);
        if (ids.empty()) std::this_thread::sleep_for(100ms);  // back-off before resending
      }
      if (ids.empty()) break;
      {
        std::lock_guard lock(mutex_);
        acknowledged_.insert(acknowledged_.end(), ids.begin(), ids.end());
      }
      made += n;
      std::this_thread::sleep_for(50ms);  // spread the load over the run
    }
    submitted_done_ = true;
  }

  std::vector<std::string> acknowledged_snapshot() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }

  int report(Api& api, std::vector<EventCollector*> collectors, double elapsed) {
    auto ids = acknowledged_snapshot();
    bool ok = true;
    auto check = [&](bool condition, const std::string& what) {
      std::cout << "chaos: " << (condition ? "ok    " : "FAILED") << " " << what << "\n";
      ok = ok && condition;
    };
    std::set<std::string> unique_ids(ids.begin(), ids.end());
    std::optional<std::vector<proto::Job>> jobs;
    for (int i = 0; i < 10 && !jobs; ++i) {  // up to ~30 s for a broker that is still coming back
      jobs = api.try_status(ids, 3s);
      if (!jobs) std::this_thread::sleep_for(100ms);
    }
    std::cout << "chaos: ---- after " << elapsed << " s\n";
    std::cout << "chaos: jobs submitted " << options_.jobs << ", acknowledged " << ids.size() << " ("
              << unique_ids.size() << " distinct), submit requests " << submit_requests_ << "\n";
    std::cout << "chaos: faults: " << faults_.workers_killed << " workers killed -9 (replaced), "
              << faults_.schedulers_killed << " scheduler killed -9 (replaced), " << faults_.broker_restarts
              << " broker restart(s), " << faults_.redis_restarts << " Redis restart(s)\n";
    if (!jobs) {
      check(false, "status of every acknowledged job (some job unknown, or the broker does not answer)");
      return 1;
    }
    std::map<std::string, std::size_t> by_status;
    std::size_t non_final = 0, rerun = 0;
    for (const auto& j : *jobs) {
      ++by_status[std::string(proto::to_string(j.status))];
      if (!proto::is_final(j.status)) ++non_final;
      if (j.attempt > 1) ++rerun;
    }
    std::size_t final_sum = 0;
    std::cout << "chaos: final states:";
    for (const auto& [status, n] : by_status) {
      std::cout << " " << status << " " << n;
      if (proto::is_final(*proto::parse_status(status))) final_sum += n;
    }
    std::cout << " (jobs run more than once: " << rerun << ")\n";

    // Runs recorded by the run command, and final reports the system accepted (from the event
    // streams: published by a broker on an accepted report, or by a scheduler on dead-lettering).
    std::map<std::string, std::set<std::uint32_t>> passing_runs;
    std::size_t runs = 0;
    {
      std::ifstream in(cluster_->dir() + "/runs.log");
      std::string id;
      std::uint32_t attempt = 0;
      int rc = 0;
      while (in >> id >> attempt >> rc) {
        ++runs;
        if (rc == 0) passing_runs[id].insert(attempt);
      }
    }
    std::map<std::string, std::size_t> finals_per_job;
    std::size_t test_results = 0;  // accepted finals that came from a run (passed, failed, timed out)
    for (auto* c : collectors) {
      for (const auto& e : c->jobs) {
        if (!proto::is_final(e.status)) continue;
        if (e.source.rfind("broker-", 0) != 0 && e.source.rfind("sched-", 0) != 0) continue;
        ++finals_per_job[e.job_id];
        if (e.status == JobStatus::passed || e.status == JobStatus::failed || e.status == JobStatus::timed_out) {
          ++test_results;
        }
      }
    }
    std::size_t accepted_finals = 0, finished_twice = 0;
    for (const auto& [id, n] : finals_per_job) {
      accepted_finals += n;
      if (n > 1) ++finished_twice;
    }
    std::size_t passed_without_run = 0;
    for (const auto& j : *jobs) {
      if (j.status != JobStatus::passed) continue;
      auto it = passing_runs.find(j.id);
      if (it == passing_runs.end() || it->second.count(j.attempt) == 0) ++passed_without_run;
    }
    std::cout << "chaos: runs recorded " << runs << " (a killed worker's test may still finish and record), "
              << "final reports accepted (seen on the event streams; PUB may drop some) " << accepted_finals << "\n";

    check(ids.size() == static_cast<std::size_t>(options_.jobs), "every submitted job was acknowledged");
    check(unique_ids.size() == ids.size(), "no job id acknowledged twice");
    check(jobs->size() == ids.size(), "every acknowledged job is known (" + std::to_string(jobs->size()) + ")");
    check(non_final == 0, "every job is in a final state (" + std::to_string(non_final) + " not)");
    check(final_sum == ids.size(),
          "submitted = sum of final states (" + std::to_string(ids.size()) + " = " + std::to_string(final_sum) + ")");
    check(finished_twice == 0, "no job finished twice (" + std::to_string(finished_twice) + " did)");
    check(accepted_finals <= ids.size(), "accepted final reports <= jobs");
    check(passed_without_run == 0, "every passed job ran: a passing run of its final attempt is recorded (" +
                                       std::to_string(passed_without_run) + " without)");
    check(runs >= test_results, "runs recorded (" + std::to_string(runs) + ") >= test results accepted (" +
                                    std::to_string(test_results) + ")");
    std::cout << "chaos: " << (ok ? "OK" : "FAILED") << std::endl;
    return ok ? 0 : 1;
  }

  Options options_;
  std::mt19937 rng_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::size_t> alive_;
  std::map<std::size_t, int> broker_of_;
  int next_worker_ = 1;
  Faults faults_;
  std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  std::atomic<bool> submitted_done_{false};
  std::atomic<int> submit_requests_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  options.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "qg-chaos: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--jobs") {
      options.jobs = std::stoi(value());
    } else if (arg == "--long") {
      options.jobs = 2000;
      options.timeout_s = 600;
    } else if (arg == "--seed") {
      options.seed = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--timeout-s") {
      options.timeout_s = std::stoi(value());
    } else {
      std::cerr << "usage: qg-chaos [--jobs N (300)] [--long (2000 jobs)] [--seed S] [--timeout-s T]\n";
      return 2;
    }
  }
  if (options.jobs < 1) {
    std::cerr << "qg-chaos: --jobs must be >= 1\n";
    return 2;
  }
  std::cout << "chaos: seed " << options.seed << std::endl;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    Chaos chaos(options);
    return chaos.run();
  } catch (const std::exception& e) {
    std::cerr << "qg-chaos: " << e.what() << "\n";
    return 1;
  }
}

#include "grouping/farm_scenarios.hpp"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "qg/common/zmq_util.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Farm {
  std::vector<std::string> broker_args;
  std::vector<std::string> install_cmds;  // one device each
  std::vector<proto::SubmitRequest> submissions;
  // Submitted and run to the end before `submissions` (not timed): a farm with history.
  std::vector<proto::SubmitRequest> warmup;
  // Called right after each of `submissions` is accepted.
  std::function<void(zmq::socket_t& client, const proto::SubmitReply& reply)> after_submit;
};

struct FarmResult {
  std::vector<proto::Job> jobs;
  double seconds = 0;   // first submit to the last job final
  double epoch_ms = 0;  // unix ms of the first submit
};

// Runs the farm until every submitted job is final; the jobs as LIST returns them.
FarmResult run_farm(const std::string& redis_url, const Farm& farm) {
  StackOptions so;
  so.redis_url = redis_url;
  so.scheduler = !redis_url.empty();
  so.broker_args = farm.broker_args;
  so.scheduler_args = farm.broker_args;
  Stack stack(so);
  const auto bin = testing::bin_dir();
  std::vector<std::unique_ptr<testing::ChildProcess>> workers;
  for (std::size_t d = 0; d < farm.install_cmds.size(); ++d) {
    const std::string id = "dev-" + std::to_string(d);
    std::vector<std::string> argv = {bin + "/qg-worker",
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
                                     farm.install_cmds[d],
                                     "--run-cmd",
                                     "d={test_path}; exec sleep ${d##*/}",
                                     "--job-timeout",
                                     "600",
                                     "--pull-wait-ms",
                                     "2000",
                                     "--log-level",
                                     "warn"};
    workers.push_back(std::make_unique<testing::ChildProcess>(argv, stack.dir() + "/" + id + ".log"));
  }
  zmq::context_t context(1);
  auto client = connect_dealer(context, stack.client_endpoint());
  const bool ready = testing::wait_until(
      [&] {
        proto::WorkersRequest req;
        req.rid = "w";
        auto reply = roundtrip(client, proto::kClientProtocol, "WORKERS", proto::encode(req), 2000ms);
        if (reply.size() != 3 || reply[1] != "WORKERS") return false;
        auto ws = proto::decode<proto::WorkersReply>(reply[2]);
        return ws && ws->workers.size() >= farm.install_cmds.size();
      },
      20s, 20ms);
  if (!ready) throw BenchError("farm: workers did not all connect:\n" + stack.log("dev-0"));
  FarmResult out;
  std::size_t total = 0;
  auto final_jobs = [&] {
    proto::StatsRequest req;
    req.rid = "stats";
    auto reply = roundtrip(client, proto::kClientProtocol, "STATS", proto::encode(req), 5000ms);
    if (reply.size() != 3 || reply[1] != "STATS") throw BenchError("farm: STATS failed");
    auto stats = proto::decode<proto::StatsReply>(reply[2]);
    std::size_t done = 0;
    for (const auto& [status, n] : stats ? stats->by_status : decltype(stats->by_status){}) {
      auto st = proto::parse_status(status);
      if (st && proto::is_final(*st)) done += n;
    }
    return done;
  };
  for (const auto& s : farm.warmup) {
    submit(client, s);
    total += s.tests.size();
  }
  for (const double w0 = now_us(); final_jobs() < total;) {
    if (now_us() - w0 > 300e6) throw BenchError("farm: warm-up jobs not final after 300 s");
    std::this_thread::sleep_for(5ms);
  }
  const double t0 = now_us();
  out.epoch_ms = static_cast<double>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (const auto& s : farm.submissions) {
    auto reply = submit(client, s);
    if (farm.after_submit) farm.after_submit(client, reply);
    total += s.tests.size();
  }
  while (final_jobs() < total) {
    if (now_us() - t0 > 300e6) throw BenchError("farm: jobs not final after 300 s");
    std::this_thread::sleep_for(5ms);
  }
  out.seconds = (now_us() - t0) / 1e6;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    proto::ListRequest req;
    req.rid = "l" + std::to_string(page);
    req.limit = 1000;
    req.cursor = cursor;
    auto reply = roundtrip(client, proto::kClientProtocol, "LIST", proto::encode(req), 5000ms);
    if (reply.size() != 3 || reply[1] != "LIST") break;
    auto list = proto::decode<proto::ListReply>(reply[2]);
    if (!list) break;
    out.jobs.insert(out.jobs.end(), list->jobs.begin(), list->jobs.end());
    cursor = list->next_cursor;
    if (cursor.empty()) break;
  }
  for (auto& worker : workers) worker->signal(SIGTERM);
  return out;
}

proto::SubmitRequest suite(const std::string& org, const std::string& app, std::size_t tests, const char* test_s) {
  proto::SubmitRequest req;
  req.rid = org + "-" + app;
  req.org_id = org;
  req.app_version_id = app;
  for (std::size_t t = 0; t < tests; ++t) req.tests.push_back("t/" + app + "/" + std::to_string(t) + "/" + test_s);
  return req;
}

// Each org's test time (ms) while both had work queued: from the smaller org's first job's
// start (the devices busy with the flood's groups when it arrived finish those first: a claim
// is never pre-empted) to the start of its last job (it had jobs queued until then). `lag_ms`:
// from the first job's start to the window's.
std::map<std::string, double> shares_while_both_queued(const FarmResult& r, const std::string& small, double& lag_ms) {
  double first = 1e300, w0 = 1e300, w1 = 0;
  for (const auto& j : r.jobs) {
    const double start = static_cast<double>(j.updated_at_ms - j.duration_ms);
    first = std::min(first, start);
    if (j.org_id == small) {
      w0 = std::min(w0, start);
      w1 = std::max(w1, start);
    }
  }
  lag_ms = w0 - first;
  std::map<std::string, double> busy;
  for (const auto& j : r.jobs) {
    const double start = static_cast<double>(j.updated_at_ms - j.duration_ms);
    const double end = static_cast<double>(j.updated_at_ms);
    busy[j.org_id] += std::max(0.0, std::min(end, w1) - std::max(start, w0));
  }
  return busy;
}

void fairness(const std::string& redis_url, bool quick) {
  const int devices = quick ? 2 : 4;
  const std::size_t big_builds = quick ? 10 : 30, per_build = quick ? 8 : 40, small_builds = quick ? 1 : 3;
  // The flood first: by rank alone the small org's jobs wait behind all of it.
  std::vector<proto::SubmitRequest> subs;
  for (std::size_t b = 0; b < big_builds; ++b)
    subs.push_back(suite("big", "b" + std::to_string(b) + "-0.02", per_build, "0.02"));
  for (std::size_t b = 0; b < small_builds; ++b) {
    subs.push_back(
        suite("small", "s" + std::to_string(b) + "-0.02", per_build * big_builds / small_builds / 20, "0.02"));
  }
  Table table(
      "Fair share: " + std::to_string(devices) + " devices, org big submits " + std::to_string(big_builds * per_build) +
          " jobs, org small " + std::to_string(big_builds * per_build / 20) +
          " (one tier, equal weights); device time while both had work queued",
      {"policy", "big's share", "small's share", "small's share vs its weight (0.5)", "small's first job after"});
  for (const bool on : {true, false}) {
    Farm farm;
    farm.broker_args = {"--group-max", "5", "--fair-share-slack", on ? "10m" : "0s"};
    farm.install_cmds.assign(static_cast<std::size_t>(devices), "d={app_version_id}; exec sleep ${d##*-}");
    farm.submissions = subs;
    auto r = run_farm(redis_url, farm);
    double lag_ms = 0;
    auto busy = shares_while_both_queued(r, "small", lag_ms);
    const double total = busy["big"] + busy["small"];
    const double small = total > 0 ? busy["small"] / total : 0;
    table.row({on ? "qgjob, fair share (default)" : "qgjob, rank order alone (--fair-share-slack 0s)",
               fmt(100 * (1 - small), 1) + " %", fmt(100 * small, 1) + " %", fmt(small / 0.5, 3) + "×",
               fmt(lag_ms, 0) + " ms"});
    record(std::string("qg.fairness.") + (on ? "on" : "off") + ".small_share", small);
  }
  table.note(
      "Both orgs submit at once, the flood first; --group-max 5, tests of 20 ms real. Each org's share is its "
      "test time from small's first job's start (devices already running the flood's groups finish them "
      "first: no pre-emption; that lag is the last column) to the start of small's last job (small had work "
      "queued until then); within 10 % of the weight is 0.45..0.55. By rank order alone small runs only once "
      "the flood is done (the lag), so its window holds little but its own jobs.");
  table.print();
}

void flaky(const std::string& redis_url, bool quick) {
  const int devices = quick ? 2 : 4;
  const std::size_t builds = quick ? 4 : 24, per_build = quick ? 4 : 20;
  std::vector<proto::SubmitRequest> subs;
  for (std::size_t b = 0; b < builds; ++b)
    subs.push_back(suite("acme", "b" + std::to_string(b) + "-0.1", per_build, "0.02"));
  const std::string sound = "d={app_version_id}; exec sleep ${d##*-}";
  // 80 % of installs fail: a random byte below 52 of 256 (20 %) succeeds.
  const std::string broken = "d={app_version_id}; sleep ${d##*-}; [ $(od -An -N1 -tu1 /dev/urandom) -lt 52 ]";
  const std::vector<std::string> common = {"--group-max",           "10", "--backoff-base-ms", "100",
                                           "--backoff-jitter",      "0",  "--max-attempts",    "20",
                                           "--quarantine-cooldown", "10m"};
  struct Case {
    std::string name;
    bool flaky_device;
    std::string quarantine_after;
  };
  const std::vector<Case> cases = {{"sound devices only (the flaky one removed)", false, "3"},
                                   {"with the flaky device, quarantine after 3 (default)", true, "3"},
                                   {"with the flaky device, no quarantine (--quarantine-after 0)", true, "0"}};
  Table table("Flaky device: " + std::to_string(devices) + " devices, one failing 80 % of installs; " +
                  std::to_string(builds * per_build) + " jobs in " + std::to_string(builds) + " builds",
              {"farm", "makespan", "vs sound devices only", "failed installs"});
  double base = 0;
  for (const auto& c : cases) {
    Farm farm;
    farm.broker_args = common;
    farm.broker_args.push_back("--quarantine-after");
    farm.broker_args.push_back(c.quarantine_after);
    farm.install_cmds.assign(static_cast<std::size_t>(devices - 1), sound);
    if (c.flaky_device) farm.install_cmds.push_back(broken);
    farm.submissions = subs;
    auto r = run_farm(redis_url, farm);
    std::size_t failed = 0;
    for (const auto& j : r.jobs) {
      if (j.status != proto::JobStatus::passed) ++failed;
    }
    if (failed > 0) throw BenchError("flaky: " + std::to_string(failed) + " jobs did not pass");
    std::size_t attempts = 0;
    for (const auto& j : r.jobs) attempts += j.attempt - 1;  // each extra attempt: a failed install's
    if (base == 0) base = r.seconds;
    table.row({c.name, fmt(r.seconds, 2) + " s", fmt(100 * (r.seconds / base - 1), 1) + " %",
               fmt(static_cast<double>(attempts)) + " job retries"});
    const std::string key = std::string("qg.flaky.") + (!c.flaky_device             ? "sound"
                                                        : c.quarantine_after == "0" ? "none"
                                                                                    : "quarantine");
    record(key + ".makespan_s", r.seconds);
    record(key + ".cost_vs_sound", r.seconds / base - 1);
  }
  table.note(
      "Installs of 100 ms real, tests of 20 ms, --group-max 10, back-off 100 ms. Cost = makespan against the "
      "same farm without the flaky device, one run each, back to back; on a shared 2-core host one run of "
      "this size varies by about 10 % by itself, so read the two flaky rows against each other.");
  table.print();
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The q-quantile of `v` (sorted in place): its ceil(q·n)-th smallest.
double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(k, 1, v.size()) - 1];
}

// ETA accuracy: a farm that ran the suites once (history), then a mixed workload of the same
// suites on new builds, submitted back to back; each job's ETA as STATUS gives it right after
// its submit, against the time it really took to finish from then.
void eta_accuracy(const std::string& redis_url, bool quick) {
  const int devices = quick ? 2 : 4;
  struct Suite {
    std::size_t tests;
    const char* test_s;
  };
  const std::vector<Suite> suites =
      quick ? std::vector<Suite>{{6, "0.1"}, {3, "0.3"}, {8, "0.05"}, {4, "0.2"}}
            : std::vector<Suite>{{20, "0.1"}, {5, "0.3"}, {12, "0.2"},  {3, "0.5"}, {30, "0.05"}, {8, "0.25"},
                                 {15, "0.1"}, {6, "0.4"}, {25, "0.08"}, {4, "0.3"}, {10, "0.15"}, {18, "0.12"}};
  auto run_of = [&](int run) {
    std::vector<proto::SubmitRequest> subs;
    for (std::size_t s = 0; s < suites.size(); ++s) {
      proto::SubmitRequest req;
      req.rid = "s" + std::to_string(s) + "-" + std::to_string(run);
      req.org_id = "acme";
      // A new build each run (installs of 0.3 s); the same test paths (t/s<suite>/<i>/<seconds>).
      req.app_version_id = "s" + std::to_string(s) + "-r" + std::to_string(run) + "-0.3";
      for (std::size_t t = 0; t < suites[s].tests; ++t) {
        req.tests.push_back("t/s" + std::to_string(s) + "/" + std::to_string(t) + "/" + suites[s].test_s);
      }
      subs.push_back(std::move(req));
    }
    return subs;
  };
  std::map<std::string, std::int64_t> submitted_ms, eta_ms;
  std::size_t without = 0;
  Farm farm;
  farm.broker_args = {"--group-max", "50"};
  farm.install_cmds.assign(static_cast<std::size_t>(devices), "d={app_version_id}; exec sleep ${d##*-}");
  farm.warmup = run_of(0);
  farm.submissions = run_of(1);
  farm.after_submit = [&](zmq::socket_t& client, const proto::SubmitReply& reply) {
    const auto at = unix_ms();
    proto::StatusRequest req;
    req.rid = "eta-" + reply.submission_id;
    req.job_ids = reply.job_ids;
    auto frames = roundtrip(client, proto::kClientProtocol, "STATUS", proto::encode(req), 5000ms);
    if (frames.size() != 3 || frames[1] != "STATUS") throw BenchError("eta: STATUS failed");
    auto status = proto::decode<proto::StatusReply>(frames[2]);
    if (!status) throw BenchError("eta: STATUS reply undecodable");
    for (const auto& e : status->etas) {
      submitted_ms[e.job_id] = at;
      if (e.eta_ms) {
        eta_ms[e.job_id] = *e.eta_ms;
      } else {
        ++without;
      }
    }
  };
  auto r = run_farm(redis_url, farm);
  std::vector<double> errors;
  for (const auto& j : r.jobs) {
    auto eta = eta_ms.find(j.id);
    if (eta == eta_ms.end()) continue;  // a warm-up job, or one without an estimate
    const double real = static_cast<double>(j.updated_at_ms - submitted_ms.at(j.id));
    if (real <= 0) continue;
    errors.push_back(std::abs(static_cast<double>(eta->second) - real) / real);
  }
  const std::size_t n = errors.size();
  const double median = quantile(errors, 0.5), p90 = quantile(errors, 0.9);
  Table table("ETA accuracy: " + std::to_string(devices) + " devices, " + std::to_string(n) + " jobs in " +
                  std::to_string(suites.size()) + " suites submitted back to back, after one run of the same suites",
              {"jobs with an ETA", "without", "median |error|", "p90 |error|", "makespan", "target"});
  table.row({fmt(static_cast<double>(n)), fmt(static_cast<double>(without)), fmt(100 * median, 1) + " %",
             fmt(100 * p90, 1) + " %", fmt(r.seconds, 2) + " s", "median <= 20 %, p90 <= 50 %"});
  table.note(
      "Error = |ETA at submit - real time from submit to the job's final state| / the real time, per job. Tests "
      "of 50-500 ms real (each suite's own), installs of 300 ms, --group-max 50; one warm-up run of the same test "
      "paths on other builds fills the timing history. STATUS is asked right after each submit.");
  table.print();
  record("qg.eta.median_error", median);
  record("qg.eta.p90_error", p90);
}

}  // namespace

void run_farm_scenarios(const std::string& redis_url, bool quick) {
  eta_accuracy(redis_url, quick);
  fairness(redis_url, quick);
  flaky(redis_url, quick);
}

}  // namespace qg::bench

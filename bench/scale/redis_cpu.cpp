// qg_bench_scale's Redis CPU parts (cpu, cpu.single, cpu.suite, cpu.floor, calls; what each
// measures is listed in bench_scale.cpp): INFO cpu read around whole job lives through the
// real broker and scheduler, around the same lives as plain commands (the floor), and around
// single store calls; QG_BENCH_PHASE_HOOK runs at the end of each phase.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness/bench.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/scheduler/job_store.hpp"
#include "scale/parts.hpp"

namespace qg::bench::scale {

using namespace std::chrono_literals;

namespace {

// QG_BENCH_PHASE_HOOK, when set, is a shell command run at the end of each CPU run's submit
// phase (once the broker's last script call is done) and of its processing phase, e.g.
// `callgrind_control -d <pid>` to split a profile of redis-server by phase
// (docs/benchmark-notes.md). Unset, nothing happens.
void phase_hook(bool after_submits) {
  const char* hook = std::getenv("QG_BENCH_PHASE_HOOK");
  if (hook == nullptr) return;
  if (after_submits) std::this_thread::sleep_for(300ms);  // what the broker does after the last reply
  if (std::system(hook) != 0) throw BenchError(std::string("QG_BENCH_PHASE_HOOK failed: ") + hook);
}

// FCALLs served and µs spent in them, from INFO commandstats.
struct FcallStats {
  double calls = 0, usec = 0;
};
FcallStats fcall_stats(RedisAdmin& admin) {
  const auto line = admin.info("commandstats", "cmdstat_fcall");  // calls=N,usec=U,...
  FcallStats out;
  for (const auto& [field, into] : {std::pair{"calls=", &out.calls}, std::pair{"usec=", &out.usec}}) {
    const auto at = line.find(field);
    if (at != std::string::npos) *into = std::stod(line.substr(at + std::strlen(field)));
  }
  return out;
}

// One whole-life run of n jobs; returns Redis CPU µs per job and the run's wall seconds.
std::pair<double, double> cpu_run(const std::string& redis_url, std::size_t n, bool suites) {
  RedisAdmin admin(redis_url);
  admin.flushall();
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  zmq::context_t context(1);
  std::this_thread::sleep_for(200ms);
  const double cpu0 = admin.cpu_seconds();
  const double t0 = now_us();
  if (suites) {
    auto client = connect_dealer(context, stack.client_endpoint());
    for (std::size_t b = 0; b < n / 100; ++b) {
      submit(client,
             make_submit("c" + std::to_string(b), "org-" + std::to_string(b % 7), "app-" + std::to_string(b), 100));
    }
  } else {
    std::vector<std::string> bodies;
    for (int app = 0; app < 200; ++app) {
      bodies.push_back(
          proto::encode(make_submit("s", "org-" + std::to_string(app % 7), "app-" + std::to_string(app), 1)));
    }
    auto r = closed_loop(
        context, stack.client_endpoint(), 50, n, [&](std::size_t i) { return bodies[i % bodies.size()]; }, 120s);
    if (r.errors > 0) throw BenchError("cpu: submits failed");
  }
  phase_hook(true);
  auto sim = run_sim_workers(context, stack.worker_endpoint(), 50, n, 120s);
  if (sim.jobs < n) throw BenchError("cpu: only " + std::to_string(sim.jobs) + " jobs finished");
  phase_hook(false);
  const double secs = (now_us() - t0) / 1e6;
  const double cpu1 = admin.cpu_seconds();
  return {(cpu1 - cpu0) * 1e6 / static_cast<double>(n), secs};
}

// A value of a key whose name holds `part` (a spec ":j:", a state ":st:"), as the run before
// left them; `fallback` bytes when none is found.
std::string sample_value(RedisAdmin& admin, const std::string& part, std::size_t fallback) {
  for (int i = 0; i < 500; ++i) {
    auto key = admin.command({"RANDOMKEY"});
    if (key.empty()) break;
    if (key.find(part) != std::string::npos) {
      auto value = admin.command({"GET", key});
      if (!value.empty()) return value;
    }
  }
  return std::string(fallback, 'x');
}

// One run of the floor: n single-job lives as plain commands, in the single-job form's
// shape (200 apps of 7 orgs, medium priority, no idempotency keys; submits 16 to a round
// trip, each as the store's sent batch writes them, a group entering its ready set when it
// gets its first job; claims of up to 50 jobs of one group, each from the ready set's first
// candidates, the group ranked again or removed after it, the specs read after; each claim's
// jobs reported passed in one round trip). Returns Redis CPU µs per job.
double floor_run(RedisAdmin& admin, std::size_t n, const std::string& spec, const std::string& state) {
  constexpr std::size_t kBatch = 16, kApps = 200, kOrgs = 7, kClaim = 50;
  const std::string p = "qgfloor:", ready = p + "ready:emulator";
  admin.flushall();
  IdGenerator ids;
  std::vector<std::vector<std::string>> groups(kApps);  // queued job ids per app
  std::vector<std::string> apps(kApps), orgs(kOrgs);
  for (std::size_t a = 0; a < kApps; ++a) apps[a] = "app-" + std::to_string(a);
  for (std::size_t o = 0; o < kOrgs; ++o) orgs[o] = "org-" + std::to_string(o);
  auto group_key = [&](std::size_t a) { return orgs[a % kOrgs] + "/" + apps[a] + "/emulator"; };
  const double cpu0 = admin.cpu_seconds();
  std::size_t next_app = 0;
  for (std::size_t b = 0; b < n; b += kBatch) {
    std::vector<std::vector<std::string>> cmds;
    std::vector<std::string> msetnx = {"MSETNX", p + "snt:" + std::to_string(b), "1"}, all = {"RPUSH", p + "idx:all"};
    std::vector<std::vector<std::string>> by_org(kOrgs);
    std::vector<std::vector<std::string>> pushes;
    const std::size_t m = std::min(kBatch, n - b);
    for (std::size_t k = 0; k < m; ++k) {
      const std::size_t a = next_app++ % kApps, o = a % kOrgs;
      auto id = ids.next(1);
      msetnx.push_back(p + "j:" + id);
      msetnx.push_back(spec);
      pushes.push_back({"RPUSH", p + "q:" + group_key(a) + ":medium", id});
      pushes.push_back({"RPUSH", p + "idx:app:" + orgs[o] + ":" + apps[a], id});
      if (groups[a].empty()) pushes.push_back({"ZADD", ready, std::to_string(b + k), group_key(a)});
      by_org[o].push_back(id);
      all.push_back(id);
      groups[a].push_back(id);
    }
    cmds.push_back({"MULTI"});
    cmds.push_back(std::move(msetnx));
    cmds.push_back({"DEL", p + "snt:" + std::to_string(b)});
    for (auto& c : pushes) cmds.push_back(std::move(c));
    for (std::size_t o = 0; o < kOrgs; ++o) {
      if (by_org[o].empty()) continue;
      std::vector<std::string> c = {"RPUSH", p + "idx:org:" + orgs[o]};
      c.insert(c.end(), by_org[o].begin(), by_org[o].end());
      cmds.push_back(std::move(c));
      cmds.push_back({"HINCRBY", p + "orgcounts", orgs[o], std::to_string(by_org[o].size())});
    }
    cmds.push_back(std::move(all));
    cmds.push_back({"HINCRBY", p + "counts", "queued", std::to_string(m)});
    cmds.push_back({"HINCRBY", p + "qprio", "medium", std::to_string(m)});
    cmds.push_back({"EXEC"});
    admin.pipeline(cmds);
  }
  std::size_t lease = 0;
  for (std::size_t a = 0; a < kApps; ++a) {
    for (std::size_t c = 0; c < groups[a].size(); c += kClaim) {
      const auto end = std::min(groups[a].size(), c + kClaim);
      const std::vector<std::string> part(groups[a].begin() + static_cast<std::ptrdiff_t>(c),
                                          groups[a].begin() + static_cast<std::ptrdiff_t>(end));
      const auto lid = "L" + std::to_string(++lease), lk = p + "lease:" + lid, m = std::to_string(part.size());
      std::vector<std::string> states = {"MGET"}, specs = {"MGET"}, assigned = {"MSET"}, passed = {"MSET"};
      std::string joined;
      for (const auto& id : part) {
        states.push_back(p + "st:" + id);
        specs.push_back(p + "j:" + id);
        assigned.push_back(p + "st:" + id);
        assigned.push_back(state);
        passed.push_back(p + "st:" + id);
        passed.push_back(state);
        joined += (joined.empty() ? "" : " ") + id;
      }
      // The claim (the group ranked again while jobs are left, else removed), then the
      // store's read of the specs.
      std::vector<std::string> replace = {"ZREM", ready, group_key(a)};
      if (end < groups[a].size()) replace = {"ZADD", ready, std::to_string(n + lease), group_key(a)};
      admin.pipeline({{"ZRANGE", ready, "0", "15"},
                      {"LPOP", p + "q:" + group_key(a) + ":medium", m},
                      states,
                      assigned,
                      {"HSET", lk, "worker", "w", "group", group_key(a), "jobs", joined, "n", m},
                      {"ZADD", p + "leases", "1", lid},
                      {"HINCRBY", p + "counts", "queued", "-" + m},
                      {"HINCRBY", p + "counts", "assigned", m},
                      {"HINCRBY", p + "qprio", "medium", "-" + m},
                      replace});
      admin.pipeline({specs});
      // The reports.
      admin.pipeline({states,
                      passed,
                      {"HINCRBY", lk, "n", "-" + m},
                      {"DEL", lk},
                      {"ZREM", p + "leases", lid},
                      {"HINCRBY", p + "counts", "assigned", "-" + m},
                      {"HINCRBY", p + "counts", "passed", m},
                      {"INCRBY", p + "fin:1", m}});
    }
  }
  const double cpu1 = admin.cpu_seconds();
  return (cpu1 - cpu0) * 1e6 / static_cast<double>(n);
}

}  // namespace

void cpu(const Args& args, const std::string& redis_url, Table& table) {
  const std::size_t n = args.quick ? 1000 : 20000;
  // Three runs per form, the median reported: on a shared machine one run's CPU time moves by
  // a quarter with the neighbours' load.
  const int runs = args.quick ? 1 : 3;
  for (const bool suites : {false, true}) {
    if (!args.wants(suites ? "cpu.suite" : "cpu.single")) continue;
    std::vector<double> per_job;
    std::string detail;
    for (int r = 0; r < runs; ++r) {
      auto [us, secs] = cpu_run(redis_url, n, suites);
      per_job.push_back(us);
      detail += (detail.empty() ? "" : ", ") + fmt(us, 1) + " µs in " + fmt(secs, 2) + " s";
    }
    std::sort(per_job.begin(), per_job.end());
    const double median = per_job[per_job.size() / 2];
    const std::string form = suites ? "100-test suites, 1 client" : "single-job submits, 50 clients";
    table.row({"Redis CPU per job, whole life (" + form + ", 50 workers)", fmt(median, 1) + " µs",
               "median of " + std::to_string(runs) + " runs of " + fmt(static_cast<double>(n)) + " jobs: " + detail});
    record(std::string("qg.redis_cpu_per_job_us.") + (suites ? "suite" : "single"), median);
  }
  if (args.wants("cpu.floor")) {
    RedisAdmin admin(redis_url);
    // A spec and a state of the sizes the store writes: from the single-job runs when they
    // ran just before, else of typical sizes.
    const auto spec = sample_value(admin, ":j:", 130), state = sample_value(admin, ":st:", 50);
    std::vector<double> per_job;
    std::string detail;
    for (int r = 0; r < runs; ++r) {
      per_job.push_back(floor_run(admin, n, spec, state));
      detail += (detail.empty() ? "" : ", ") + fmt(per_job.back(), 1) + " µs";
    }
    admin.flushall();
    std::sort(per_job.begin(), per_job.end());
    const double median = per_job[per_job.size() / 2];
    table.row(
        {"Redis CPU per job, the single-job form's writes and reads as plain commands (no scripts, no checks: "
         "a floor, not a store)",
         fmt(median, 1) + " µs",
         "median of " + std::to_string(runs) + " runs of " + fmt(static_cast<double>(n)) + " jobs: " + detail +
             "; spec " + std::to_string(spec.size()) + " B, state " + std::to_string(state.size()) + " B"});
    record("qg.redis_cpu_floor_us.single", median);
  }
}

// The calls of a job's trip through an idle system, each kind n times in a row, one call at a
// time: a hand-off, its report, a claim that finds nothing.
void calls(const Args& args, const std::string& redis_url, Table& table) {
  const std::size_t n = args.quick ? 200 : 2000;
  RedisAdmin admin(redis_url);
  admin.flushall();
  auto store = sched::make_redis_store(redis_url, sched::StoreSettings{});
  // The same store keeping no timing history, for the cost of recording it per report.
  sched::StoreSettings no_history;
  no_history.timing_history_fields = 0;
  auto store_without_history = sched::make_redis_store(redis_url, no_history);
  IdGenerator ids;
  std::int64_t now = SystemClock().now_ms();
  sched::ClaimRequest waiting;
  waiting.worker_id = "calls-worker";
  waiting.targets = {proto::Target::emulator};
  std::vector<sched::Claim> held;
  // One hand-off: a new build's one-job submission while the claim waits.
  const auto hand_off = [&](std::size_t i) {
    sched::NewSubmission s;
    s.submission_id = ids.next(now);
    s.org_id = "org-1";
    s.app_version_id = "calls-app-" + std::to_string(i);
    s.idempotency_key = "k-" + s.submission_id;
    s.job_ids = {ids.next(now)};
    s.test_paths = {"tests/t0.spec.ts"};
    auto out = store->submit_and_claim(std::span(&s, 1), std::span(&waiting, 1), ++now);
    if (out.claims.empty() || !out.claims[0]) throw BenchError("calls: a hand-off claimed nothing");
    held.push_back(std::move(*out.claims[0]));
  };
  const auto report = [&](const sched::Claim& claim, sched::JobStore& via) {
    proto::Report r;
    r.rid = "r";
    r.worker_id = waiting.worker_id;
    r.lease_id = claim.lease_id;
    r.job_id = claim.jobs.front().id;
    r.attempt = claim.jobs.front().attempt;
    r.status = proto::JobStatus::passed;
    r.duration_ms = 1200;
    auto out = via.report_many(std::span(&r, 1), ++now, false);
    if (out.empty() || !out[0].accepted) throw BenchError("calls: a report was refused");
  };
  const auto empty_claim = [&] {
    if (store->claim_group(waiting, ++now)) throw BenchError("calls: a claim found work");
  };
  for (std::size_t i = 0; i < 50; ++i) hand_off(i);  // warm: the library loaded, the keys made
  for (const auto& c : held) report(c, *store);
  held.clear();
  phase_hook(false);
  const auto measure = [&](const std::string& what, const std::string& key, auto&& body, std::size_t count) {
    const double cpu0 = admin.cpu_seconds();
    const auto f0 = fcall_stats(admin);
    body();
    const auto f1 = fcall_stats(admin);
    const double cpu1 = admin.cpu_seconds();
    phase_hook(false);
    const double per_call = (cpu1 - cpu0) * 1e6 / static_cast<double>(count);
    const double in_fcall = f1.calls > f0.calls ? (f1.usec - f0.usec) / (f1.calls - f0.calls) : 0;
    table.row(
        {"Redis CPU per store call, one at a time: " + what, fmt(per_call, 1) + " µs",
         fmt(static_cast<double>(count)) + " calls; inside the FCALL (commandstats) " + fmt(in_fcall, 1) + " µs"});
    record("qg.calls." + key + ".redis_cpu_us", per_call);
    record("qg.calls." + key + ".fcall_us", in_fcall);
  };
  measure(
      "a one-job hand-off (with an idempotency key, a claim waiting)", "handoff",
      [&] {
        for (std::size_t i = 0; i < n; ++i) hand_off(50 + i);
      },
      n);
  // Half the jobs reported with the timing history kept (the default), then half without.
  std::vector<sched::Claim> with_history(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(held.size() / 2));
  std::vector<sched::Claim> without_history(held.begin() + static_cast<std::ptrdiff_t>(held.size() / 2), held.end());
  measure(
      "that job's report (passed)", "report",
      [&] {
        for (const auto& c : with_history) report(c, *store);
      },
      with_history.size());
  measure(
      "that job's report (passed), no timing history (--timing-history-fields 0)", "report_no_history",
      [&] {
        for (const auto& c : without_history) report(c, *store_without_history);
      },
      without_history.size());
  measure(
      "a claim that finds nothing", "empty_claim",
      [&] {
        for (std::size_t i = 0; i < n; ++i) empty_claim();
      },
      n);
  admin.flushall();
}

}  // namespace qg::bench::scale

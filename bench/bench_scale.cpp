// Scale:
//   cpu     — Redis CPU per job over its whole life (submit, schedule, claim, report), from
//             INFO cpu before the first submit and after the last confirmation, with the real
//             qg-broker + qg-scheduler and in-process no-op workers (50). Two submit forms:
//             single-job requests from 50 clients, and 100-test suites from one client; the
//             median of three runs of each (one with --quick).
//   cpu.floor — the same single-job lives as plain commands (no scripts): the writes and reads
//             the store makes for them, without any of its checks, batched as the broker and
//             the workers batch them. Not a working store: a floor for the data model, measured
//             in the same run, that says how much of the figure above the writes themselves
//             cost on this machine.
//   depth   — cost of submit, claim and report with 10^3, 10^4, 10^5 and 10^6 jobs queued,
//             timed on the JobStore directly (make_redis_store, one connection), and Redis
//             memory per queued job (used_memory delta / jobs). The queue is filled with
//             1,000-test submissions across 1,000-job builds. Each call takes turns with the
//             same call on a reference store held at 10^3 jobs; the ratio is the target's.
//   workers — broker resident memory with 1,000 connected workers (each sent HELLO and has a
//             PULL held at the broker).
//   calls   — Redis CPU per store call, one call at a time on the JobStore (make_redis_store,
//             one connection), for the three calls of a job's trip through an idle system: the
//             hand-off (a one-job submission, with an idempotency key, while a claim waits),
//             the job's report, and the claim that then finds nothing. INFO cpu and the FCALL
//             commandstats before and after each kind; QG_BENCH_PHASE_HOOK runs at the end of
//             each (after set-up, hand-offs, reports, claims), e.g. to split a callgrind profile.
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <thread>

#include "harness/bench.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

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
  const auto report = [&](const sched::Claim& claim) {
    proto::Report r;
    r.rid = "r";
    r.worker_id = waiting.worker_id;
    r.lease_id = claim.lease_id;
    r.job_id = claim.jobs.front().id;
    r.attempt = claim.jobs.front().attempt;
    r.status = proto::JobStatus::passed;
    auto out = store->report_many(std::span(&r, 1), ++now, false);
    if (out.empty() || !out[0].accepted) throw BenchError("calls: a report was refused");
  };
  const auto empty_claim = [&] {
    if (store->claim_group(waiting, ++now)) throw BenchError("calls: a claim found work");
  };
  for (std::size_t i = 0; i < 50; ++i) hand_off(i);  // warm: the library loaded, the keys made
  for (const auto& c : held) report(c);
  held.clear();
  phase_hook(false);
  const auto measure = [&](const std::string& what, const std::string& key, auto&& body) {
    const double cpu0 = admin.cpu_seconds();
    const auto f0 = fcall_stats(admin);
    body();
    const auto f1 = fcall_stats(admin);
    const double cpu1 = admin.cpu_seconds();
    phase_hook(false);
    const double per_call = (cpu1 - cpu0) * 1e6 / static_cast<double>(n);
    const double in_fcall = f1.calls > f0.calls ? (f1.usec - f0.usec) / (f1.calls - f0.calls) : 0;
    table.row({"Redis CPU per store call, one at a time: " + what, fmt(per_call, 1) + " µs",
               fmt(static_cast<double>(n)) + " calls; inside the FCALL (commandstats) " + fmt(in_fcall, 1) + " µs"});
    record("qg.calls." + key + ".redis_cpu_us", per_call);
    record("qg.calls." + key + ".fcall_us", in_fcall);
  };
  measure("a one-job hand-off (with an idempotency key, a claim waiting)", "handoff", [&] {
    for (std::size_t i = 0; i < n; ++i) hand_off(50 + i);
  });
  measure("that job's report (passed)", "report", [&] {
    for (const auto& c : held) report(c);
  });
  measure("a claim that finds nothing", "empty_claim", [&] {
    for (std::size_t i = 0; i < n; ++i) empty_claim();
  });
  admin.flushall();
}

struct Timing {
  Samples submit_us, claim_us, report_us;
};

// A JobStore on its own redis-server (no persistence), filled with 1,000-test submissions
// across 1,000-job builds and topped up to a queue depth; times single-job submits into its
// builds, group claims and one report per claimed job.
class DepthStore {
 public:
  explicit DepthStore(IdGenerator& ids) : redis_(/*aof=*/false), admin_(redis_.url()), ids_(ids) {
    sched::StoreSettings settings;
    settings.key_prefix = "qgscale:";
    store_ = sched::make_redis_store(redis_.url(), settings);
  }

  RedisAdmin& admin() { return admin_; }
  int server_pid() const { return redis_.pid(); }

  void fill_to(std::size_t level, double deadline) {
    constexpr std::size_t kBatch = 1000;  // tests per fill submission (= one build)
    while (queued_ < level) {
      if (now_us() > deadline) throw BenchError("depth: fill deadline passed at " + std::to_string(queued_));
      const std::size_t jobs = std::min(kBatch, level - queued_);
      sched::NewSubmission s;
      const auto now = SystemClock::instance().now_ms();
      s.submission_id = ids_.next(now);
      s.org_id = "org-" + std::to_string(builds_ % 7);
      s.app_version_id = "app-" + std::to_string(builds_);
      for (std::size_t t = 0; t < jobs; ++t) {
        s.job_ids.push_back(ids_.next(now));
        s.test_paths.push_back("tests/t" + std::to_string(t) + ".spec.ts");
      }
      ++builds_;
      store_->submit(s, now);
      queued_ += jobs;
    }
  }

  // The i-th single-job submission of a round, into one of the existing builds.
  void submit_one(std::size_t i, Timing& t) {
    sched::NewSubmission s;
    const auto now = SystemClock::instance().now_ms();
    s.submission_id = ids_.next(now);
    s.org_id = "org-1";
    s.app_version_id = "app-" + std::to_string((i * 7919) % builds_);
    s.job_ids = {ids_.next(now)};
    s.test_paths = {"tests/extra.spec.ts"};
    const double a = now_us();
    store_->submit(s, now);
    t.submit_us.add(now_us() - a);
    ++queued_;
  }

  // Claims a group (up to 50 jobs) as worker i and reports each of its jobs passed.
  void claim_and_report(std::size_t i, Timing& t) {
    sched::ClaimRequest req;
    req.worker_id = "w" + std::to_string(i);
    req.targets = {proto::Target::emulator};
    const auto now = SystemClock::instance().now_ms();
    const double a = now_us();
    auto claim = store_->claim_group(req, now);
    t.claim_us.add(now_us() - a);
    if (!claim) throw BenchError("depth: nothing claimable with " + std::to_string(queued_) + " queued");
    for (const auto& job : claim->jobs) {
      proto::Report r;
      r.worker_id = req.worker_id;
      r.lease_id = claim->lease_id;
      r.job_id = job.id;
      r.attempt = job.attempt;
      r.status = proto::JobStatus::passed;
      const double b = now_us();
      auto outcome = store_->report(r, SystemClock::instance().now_ms());
      t.report_us.add(now_us() - b);
      if (!outcome.accepted) throw BenchError("depth: report refused: " + outcome.reason);
    }
    queued_ -= claim->jobs.size();
  }

 private:
  testing::RedisServer redis_;
  RedisAdmin admin_;
  IdGenerator& ids_;
  std::unique_ptr<sched::JobStore> store_;
  std::size_t queued_ = 0;
  std::size_t builds_ = 0;
};

// Puts the given processes on the last CPU this process may use (nothing with one CPU). Two
// servers on different CPUs meet the host's steal of each CPU separately, which taking turns
// cannot cancel; on one CPU they meet the same, and calls taking turns never compete.
void share_one_cpu(std::initializer_list<int> pids) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) return;
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) last = c;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(last, &one);
  for (int pid : pids) {
    if (pid > 0 && ::sched_setaffinity(pid, sizeof one, &one) != 0)
      std::fprintf(stderr, "depth: could not pin redis-server %d to CPU %d\n", pid, last);
  }
}

// Each level's calls take turns, one for one, with the same calls on a reference store kept
// at the first level (its own redis-server): a busy spell of the host then slows both alike,
// and the ratio of their medians is the cost of depth alone. Absolute figures between levels
// are minutes apart and move with the host (a 3x spell over one level has been seen).
void depth(const Args& args, Table& table) {
  // Private Redis servers without persistence: filling 10^6 jobs with AOF on would mostly
  // time the disk and AOF rewrites. Costs are per-call latencies on one connection.
  IdGenerator ids;
  DepthStore deep(ids), reference(ids);
  share_one_cpu({deep.server_pid(), reference.server_pid()});
  const double mem0 = deep.admin().used_memory();
  std::vector<std::size_t> levels = {1000, 10000, 100000, 1000000};
  if (args.quick) levels = {1000, 10000};
  const double deadline = now_us() + 300e6;
  reference.fill_to(levels.front(), deadline);
  // Runs `op` on both stores, the order swapped on every other call.
  auto in_turn = [&](std::size_t i, Timing& td, Timing& tr, auto op) {
    if (i % 2 == 0) {
      op(deep, i, td);
      op(reference, i, tr);
    } else {
      op(reference, i, tr);
      op(deep, i, td);
    }
  };
  for (std::size_t level : levels) {
    const double f0 = now_us();
    deep.fill_to(level, deadline);
    const double fill_s = (now_us() - f0) / 1e6;
    deep.admin().wait_quiet();
    const double mem = deep.admin().used_memory();
    Timing t, ref;
    for (int round = 0; round < 5; ++round) {
      for (std::size_t i = 0; i < 40; ++i)
        in_turn(i, t, ref, [](DepthStore& s, std::size_t k, Timing& tk) { s.submit_one(k, tk); });
      for (std::size_t i = 0; i < 10; ++i)
        in_turn(i, t, ref, [](DepthStore& s, std::size_t k, Timing& tk) { s.claim_and_report(k, tk); });
      deep.fill_to(level, deadline);
      reference.fill_to(levels.front(), deadline);
    }
    const double per_job_mem = (mem - mem0) / static_cast<double>(level);
    const double s50 = t.submit_us.percentile(50), c50 = t.claim_us.percentile(50), r50 = t.report_us.percentile(50);
    const double s_vs = s50 / ref.submit_us.percentile(50), c_vs = c50 / ref.claim_us.percentile(50),
                 r_vs = r50 / ref.report_us.percentile(50);
    table.row({fmt(static_cast<double>(level)), fmt(s50, 1) + " / " + fmt(t.submit_us.percentile(99), 1),
               fmt(c50, 1) + " / " + fmt(t.claim_us.percentile(99), 1),
               fmt(r50, 1) + " / " + fmt(t.report_us.percentile(99), 1),
               fmt(s_vs, 2) + "× / " + fmt(c_vs, 2) + "× / " + fmt(r_vs, 2) + "×", fmt(per_job_mem),
               fmt(static_cast<double>(level) / fill_s)});
    const std::string key = "qg.scale.q" + std::to_string(level);
    record(key + ".submit_p50_us", s50);
    record(key + ".claim_p50_us", c50);
    record(key + ".report_p50_us", r50);
    record(key + ".mem_per_job_bytes", per_job_mem);
    record(key + ".submit_vs_ref", s_vs);
    record(key + ".claim_vs_ref", c_vs);
    record(key + ".report_vs_ref", r_vs);
    if (level == levels.back()) record("qg.mem_per_queued_job_bytes", per_job_mem);
  }
}

void workers(const Args& args, const std::string& redis_url, Table& table) {
  RedisAdmin admin(redis_url);
  admin.flushall();
  StackOptions so;
  so.redis_url = redis_url;
  Stack stack(so);
  std::this_thread::sleep_for(200ms);
  const double rss0 = rss_bytes(stack.broker_pid());
  const std::size_t n = args.quick ? 100 : 1000;
  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, 4096);
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(n);
  std::size_t hello_ok = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sockets.push_back(connect_dealer(context, stack.worker_endpoint()));
    proto::Hello hello;
    hello.rid = "h";
    hello.worker_id = "idle-" + std::to_string(i);
    hello.device_id = "dev-" + std::to_string(i);
    hello.targets = {proto::Target::emulator};
    hello.installed = {"org-1/app-1", "org-2/app-7"};
    auto reply = roundtrip(sockets.back(), proto::kWorkerProtocol, "HELLO", proto::encode(hello), 5000ms);
    if (reply.size() == 3 && reply[1] == "HELLO") ++hello_ok;
    proto::Pull pull;
    pull.rid = "p";
    pull.worker_id = hello.worker_id;
    pull.targets = hello.targets;
    pull.installed = hello.installed;
    pull.wait_ms = 30000;
    send_multipart(sockets.back(), proto::frames_of(proto::kWorkerProtocol, pull));
  }
  std::this_thread::sleep_for(500ms);
  const double rss1 = rss_bytes(stack.broker_pid());
  if (hello_ok < n) throw BenchError("workers: only " + std::to_string(hello_ok) + " HELLOs answered");
  table.row({"broker RSS with " + fmt(static_cast<double>(n)) + " connected workers (HELLO + held PULL)",
             fmt(rss1 / 1048576.0, 1) + " MiB",
             "idle " + fmt(rss0 / 1048576.0, 1) + " MiB; " + fmt((rss1 - rss0) / static_cast<double>(n) / 1024.0, 1) +
                 " KiB per worker"});
  record("qg.broker_rss_mib.workers" + std::to_string(n), rss1 / 1048576.0);
  record("qg.broker_rss_kib_per_worker", (rss1 - rss0) / static_cast<double>(n) / 1024.0);
  admin.flushall();
}

int run(int argc, char** argv) {
  auto args =
      Args::parse(argc, argv, "qg_bench_scale", "Redis CPU and memory per job, cost vs queue depth, broker memory");
  Table summary("Scale: Redis CPU per job, broker memory", {"measurement", "value", "detail"});
  Table sweep("Scale: cost with N jobs queued (JobStore on Redis, one connection; µs per call p50 / p99)",
              {"jobs queued", "submit 1 job", "claim a group (≤50 jobs)", "report 1 job",
               "p50 vs the 10^3 store, same moments (submit / claim / report)", "Redis bytes per queued job",
               "fill jobs/s (1,000-test batches)"});
  sweep.note(
      "The sweep uses a private redis-server without persistence (filling 10^6 jobs with AOF on would time "
      "the disk); claims and reports are measured on live groups: 5 rounds of 40 submits, 10 claims and a "
      "report per claimed job, the queue refilled to its level after each round. Every call takes turns with "
      "the same call on a reference store held at 10^3 jobs on a second redis-server, both servers on one CPU; "
      "the ratio of the two medians is what depth costs, with the host's busy spells cancelled out.");
  std::unique_ptr<BenchRedis> redis;
  const bool shared = args.wants("cpu") || args.wants("calls") || args.wants("workers");
  if (shared) redis = std::make_unique<BenchRedis>(args, true);
  if (args.wants("cpu")) cpu(args, redis->url(), summary);
  if (args.wants("calls")) calls(args, redis->url(), summary);
  if (args.wants("workers")) workers(args, redis->url(), summary);
  if (args.wants("depth")) depth(args, sweep);
  if (shared) summary.print();
  if (args.wants("depth")) sweep.print();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

// qg_bench_scale's depth part: the cost of submit, claim and report on the JobStore with 10^3
// to 10^6 jobs queued, and Redis memory per queued job, each call taking turns with the same
// call on a reference store held at 10^3 jobs (bench_scale.cpp says more).

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "harness/bench.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/scheduler/job_store.hpp"
#include "scale/parts.hpp"

namespace qg::bench::scale {

namespace {

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

}  // namespace

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

}  // namespace qg::bench::scale

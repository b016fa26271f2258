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

#include <memory>

#include "harness/bench.hpp"
#include "scale/parts.hpp"

namespace qg::bench {
namespace {

using namespace scale;

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

// CURVE's cost: the real qg-broker on the memory store, once with keys (--curve-cert, every
// connection encrypted and authenticated) and once without, in the same run. Two figures per
// broker:
//
//   throughput — SUBMITs of one job on ONE connection with 50 in flight (the pipelined row of
//                qg_bench_submit), jobs/s;
//   idle p50   — one SUBMIT at a time on an idle broker, the median round trip.
//
// Paired rounds: each round measures both brokers back to back, the side going first
// alternating by round, so that this shared host's drift falls on both sides alike; the
// verdict is on the median of the rounds' ratios (throughput) and differences (p50). The
// memory store is the harsh case: with Redis behind it the broker's own cost, CURVE's
// included, is a smaller part of every request.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "harness/bench.hpp"
#include "qg/common/curve_cert.hpp"
#include "qg/testing/process.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

struct Side {
  std::string name;  // "off" or "on"
  CurveClientKeys keys;
  std::unique_ptr<Stack> stack;
};

struct Figures {
  double jobs_per_s = 0;
  double p50_us = 0;
};

Figures measure(Side& side, std::size_t requests, std::size_t idle_samples, std::size_t round) {
  set_client_curve(side.keys);
  zmq::context_t context(1);
  Figures f;
  const auto endpoint = side.stack->client_endpoint();
  auto make = [&](std::size_t i, std::size_t slot) {
    return proto::encode(make_submit(slot_rid(slot), "org-" + std::to_string(i % 7),
                                     "r" + std::to_string(round) + "-app-" + std::to_string(i % 100), 1));
  };
  const auto load = pipelined(context, endpoint, 50, requests, make, 300s);
  if (load.errors != 0) throw BenchError("curve " + side.name + ": " + std::to_string(load.errors) + " errors");
  f.jobs_per_s = static_cast<double>(load.requests) / load.seconds;
  auto socket = connect_dealer(context, endpoint);
  Samples idle;
  for (std::size_t i = 0; i < idle_samples + 20; ++i) {  // the first 20 warm the connection
    const auto rid = "idle-" + std::to_string(i);
    const auto body = proto::encode(make_submit(rid, "org-idle", "idle-app-" + std::to_string(round), 1));
    const double start = now_us();
    const auto reply = roundtrip(socket, proto::kClientProtocol, "SUBMIT", body, 5s);
    const double took = now_us() - start;
    if (reply.size() != 3 || reply[1] != "SUBMIT") throw BenchError("curve " + side.name + ": idle submit failed");
    if (i >= 20) idle.add(took);
  }
  f.p50_us = idle.percentile(50);
  return f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int run(int argc, char** argv) {
  const auto args = Args::parse(argc, argv, "qg_bench_curve",
                                "submit throughput and idle p50 with CURVE on against off, paired rounds");
  set_results_file(args.results);
  // Keys as an operator makes them: the broker's, and one admin client key admitted.
  testing::TempDir dir;
  const std::filesystem::path root(dir.path());
  std::filesystem::create_directories(root / "clients");
  std::filesystem::create_directories(root / "workers");
  (void)write_curve_cert((root / "broker").string(), new_curve_cert({}), true);
  const auto admin = write_curve_cert((root / "ops").string(), new_curve_cert({{"role", "admin"}}), true);
  std::filesystem::copy_file(admin.public_file, root / "clients" / "ops.key");

  Side off{"off", {}, nullptr};
  Side on{"on", load_curve_client_keys(admin.secret_file.string(), (root / "broker.key").string()), nullptr};
  set_client_curve(off.keys);
  off.stack = std::make_unique<Stack>(StackOptions{});
  StackOptions keyed;
  keyed.broker_args = {"--curve-cert",  (root / "broker.key_secret").string(),
                       "--clients-dir", (root / "clients").string(),
                       "--workers-dir", (root / "workers").string()};
  set_client_curve(on.keys);
  on.stack = std::make_unique<Stack>(keyed);

  const std::size_t rounds = args.quick ? 1 : 5;
  const std::size_t requests = args.quick ? 2000 : 40000;
  const std::size_t idle_samples = args.quick ? 100 : 1000;
  Table table("CURVE on against off: memory store, one connection",
              {"round", "first", "jobs/s off", "jobs/s on", "on/off", "idle p50 off", "idle p50 on", "p50 added"});
  std::vector<double> ratios, added;
  for (std::size_t round = 1; round <= rounds; ++round) {
    const bool off_first = round % 2 == 1;
    Figures f_off, f_on;
    if (off_first) {
      f_off = measure(off, requests, idle_samples, round);
      f_on = measure(on, requests, idle_samples, round);
    } else {
      f_on = measure(on, requests, idle_samples, round);
      f_off = measure(off, requests, idle_samples, round);
    }
    const double ratio = f_on.jobs_per_s / f_off.jobs_per_s;
    const double plus_us = f_on.p50_us - f_off.p50_us;
    ratios.push_back(ratio);
    added.push_back(plus_us);
    table.row({std::to_string(round), off_first ? "off" : "on", fmt(f_off.jobs_per_s), fmt(f_on.jobs_per_s),
               fmt(ratio * 100, 1) + " %", fmt_us(f_off.p50_us), fmt_us(f_on.p50_us), fmt_us(plus_us)});
    const auto key = "qg.curve.round" + std::to_string(round);
    record(key + ".off.jobs_per_s", f_off.jobs_per_s);
    record(key + ".on.jobs_per_s", f_on.jobs_per_s);
    record(key + ".off.p50_ms", f_off.p50_us / 1000);
    record(key + ".on.p50_ms", f_on.p50_us / 1000);
  }
  const double ratio = median(ratios);
  const double plus_us = median(added);
  table.row({"median", "", "", "", fmt(ratio * 100, 1) + " %", "", "", fmt_us(plus_us)});
  table.note("Targets: throughput with CURVE at least 85 % of without; idle p50 at most 0.1 ms more. " +
             std::string(ratio >= 0.85 && plus_us <= 100 ? "Both met." : "Not both met: see docs/benchmarks.md."));
  table.print();
  record("qg.curve.throughput_ratio", ratio);
  record("qg.curve.p50_added_ms", plus_us / 1000);
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

// qgjob stats: STATS as a table (farm-wide counts, then one row per org, target and window),
// or as one JSON document with --json (the same document as the gateway's GET /api/v1/stats).
#include <cstdio>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/wait_logic.hpp"
#include "support.hpp"

namespace qg::cli {
namespace {

std::string percent(double rate) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", rate * 100.0);
  return buf;
}

std::string ratio(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// "passed 9, failed 1" (statuses with a count only).
std::string statuses(const std::map<std::string, std::uint64_t>& by_status) {
  std::string out;
  for (const auto& [status, n] : by_status) {
    if (n == 0) continue;
    if (!out.empty()) out += ", ";
    out += status + " " + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

std::string duration_or_dash(std::int64_t ms, bool known) { return known ? format_duration(ms) : "-"; }

}  // namespace

int run_stats(const GlobalConfig& g, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::StatsRequest req;
    req.rid = client.new_rid();
    auto reply = client.call<proto::StatsReply>(req, g.request_timeout);
    if (g.json) {
      io.out << dump_json(client::stats_json(reply)) << "\n";
      return exit_code::ok;
    }
    if (!reply.by_status.empty()) {
      io.out << "jobs by status: " << statuses(reply.by_status) << "; finished " << ratio(reply.jobs_per_sec)
             << "/s over the last minute\n";
    }
    if (reply.farm.empty()) {
      io.out << "no job finished in the last day and none queued\n";
      return exit_code::ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : reply.farm) {
      const auto judged = f.finished - (f.by_status.contains("cancelled") ? f.by_status.at("cancelled") : 0);
      rows.push_back(
          {f.org_id, std::string(proto::to_string(f.target)), f.window, std::to_string(f.finished),
           statuses(f.by_status), judged == 0 ? "-" : percent(f.success_rate),
           duration_or_dash(f.test_p50_ms, f.tests_run > 0), duration_or_dash(f.test_p95_ms, f.tests_run > 0),
           duration_or_dash(f.install_p50_ms, f.installs > 0), f.installs == 0 ? "-" : ratio(f.tests_per_install),
           f.oldest_queued_ms > 0 ? format_duration(f.oldest_queued_ms) : "-"});
    }
    print_table(io.out,
                {"ORG", "TARGET", "WINDOW", "FINISHED", "BY STATUS", "SUCCESS", "TEST P50", "TEST P95", "INSTALL P50",
                 "TESTS/INSTALL", "OLDEST QUEUED"},
                rows);
    io.out << "(durations from log-spaced bins: within 9.1 %)\n";
    return exit_code::ok;
  });
}

}  // namespace qg::cli

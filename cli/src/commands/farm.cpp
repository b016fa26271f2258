// The qgjob commands on the farm: workers (list; drain ID; forget ID; unquarantine ID) and health. Each sends one
// request and prints the answer as a table, or as one JSON document with --json.
#include <algorithm>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/clock.hpp"
#include "support.hpp"

namespace qg::cli {

namespace {

std::string ago(std::int64_t now, std::int64_t then) {
  return then > 0 ? format_duration(std::max<std::int64_t>(now - then, 0)) + " ago" : "-";
}

std::string megabytes(std::uint64_t bytes) { return std::to_string((bytes + (1U << 19)) >> 20) + " MiB"; }

Json processes_json(const std::vector<proto::ProcessInfo>& processes) {
  Json out = Json::array();
  for (const auto& p : processes) {
    out.push_back({{"id", p.id},
                   {"host", p.host},
                   {"pid", p.pid},
                   {"started_at_ms", p.started_at_ms},
                   {"expires_at_ms", p.expires_at_ms}});
  }
  return out;
}

int print_workers(const GlobalConfig& g, Client& client, bool all, Io io) {
  proto::WorkersRequest req;
  req.rid = client.new_rid();
  req.all = all;
  auto reply = client.call<proto::WorkersReply>(req, g.request_timeout);
  auto now = SystemClock::instance().now_ms();
  if (g.json) {
    Json workers = Json::array();
    for (const auto& wk : reply.workers) {
      std::vector<std::string> targets;
      for (auto t : wk.targets) targets.emplace_back(proto::to_string(t));
      workers.push_back({{"worker_id", wk.worker_id},
                         {"device_id", wk.device_id},
                         {"targets", targets},
                         {"labels", wk.labels},
                         {"installed", wk.installed},
                         {"state", wk.state},
                         {"lease_id", wk.lease_id},
                         {"group_key", wk.group_key},
                         {"last_seen_ms", wk.last_seen_ms}});
    }
    io.out << dump_json({{"workers", std::move(workers)}}) << "\n";
    return exit_code::ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& wk : reply.workers) {
    std::string targets, labels;
    for (auto t : wk.targets) targets += (targets.empty() ? "" : ",") + std::string(proto::to_string(t));
    for (const auto& [k, v] : wk.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    rows.push_back({wk.worker_id, wk.device_id.empty() ? "-" : wk.device_id, wk.state, targets,
                    wk.group_key.empty() ? "-" : wk.group_key, std::to_string(wk.installed.size()),
                    labels.empty() ? "-" : labels, ago(now, wk.last_seen_ms)});
  }
  print_table(io.out, {"WORKER", "DEVICE", "STATE", "TARGETS", "GROUP", "BUILDS", "LABELS", "SEEN"}, rows);
  return exit_code::ok;
}

// `workers unquarantine ID`: exit 0 when the quarantine ended, 1 when the worker was not quarantined.
int end_quarantine(const GlobalConfig& g, Client& client, const std::string& worker_id, Io io) {
  proto::WorkersRequest req;
  req.rid = client.new_rid();
  req.unquarantine = worker_id;
  auto reply = client.call<proto::WorkersReply>(req, g.request_timeout);
  if (g.json) {
    io.out << dump_json({{"worker_id", worker_id}, {"unquarantined", reply.unquarantined}}) << "\n";
  } else if (reply.unquarantined) {
    io.out << "worker " << printable(worker_id) << ": quarantine ended; it gets work again\n";
  } else {
    io.out << "worker " << printable(worker_id) << " was not quarantined\n";
  }
  return reply.unquarantined ? exit_code::ok : exit_code::failed;
}

}  // namespace

int run_workers(const GlobalConfig& g, const WorkersConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    if (c.action.empty()) return print_workers(g, client, c.all, io);
    if (c.action == "unquarantine") return end_quarantine(g, client, c.worker_id, io);
    std::string done;
    if (c.action == "drain") {
      proto::DrainWorkerRequest req;
      req.rid = client.new_rid();
      req.worker_id = c.worker_id;
      client.call<proto::DrainWorkerReply>(req, g.request_timeout);
      done = "worker " + c.worker_id + " asked to drain: it finishes its running test, hands back the rest and leaves";
    } else {
      proto::ForgetWorkerRequest req;
      req.rid = client.new_rid();
      req.worker_id = c.worker_id;
      client.call<proto::ForgetWorkerReply>(req, g.request_timeout);
      done = "worker " + c.worker_id + " forgotten (qgjob workers --all still lists it)";
    }
    if (g.json) {
      io.out << dump_json({{"worker_id", c.worker_id}, {"action", c.action}, {"done", true}}) << "\n";
    } else {
      io.out << printable(done) << "\n";
    }
    return exit_code::ok;
  });
}

int run_health(const GlobalConfig& g, bool detailed, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::HealthRequest req;
    req.rid = client.new_rid();
    req.detailed = detailed;
    auto h = client.call<proto::HealthReply>(req, g.request_timeout);
    const auto now = SystemClock::instance().now_ms();
    if (g.json) {
      Json doc = {{"ok", h.ok},
                  {"store", h.store},
                  {"store_reachable", h.store_reachable},
                  {"version", h.version},
                  {"protocol", h.protocol},
                  {"uptime_ms", h.uptime_ms},
                  {"queue_depth", h.queue_depth},
                  {"broker_id", h.broker_id},
                  {"detail", h.detail},
                  {"schedulers_alive", h.schedulers_alive}};
      if (detailed) {
        doc["schedulers"] = processes_json(h.schedulers);
        doc["brokers"] = processes_json(h.brokers);
        doc["live_workers"] = h.live_workers;
        doc["oldest_queued_age_ms"] = h.oldest_queued_age_ms;
        doc["store_used_bytes"] = h.store_used_bytes;
        doc["store_max_bytes"] = h.store_max_bytes;
        doc["warnings"] = h.warnings;
      }
      io.out << dump_json(doc) << "\n";
    } else {
      std::vector<std::vector<std::string>> rows = {
          {"ok", h.ok ? "yes" : "no"},
          {"broker", h.broker_id + " at " + g.broker},
          {"store", h.store + (h.store_reachable ? " (reachable)" : " (UNREACHABLE)")},
          {"schedulers alive", std::to_string(h.schedulers_alive)},
          {"version", h.version + " (protocol " + std::to_string(h.protocol) + ")"},
          {"uptime", format_duration(h.uptime_ms)},
          {"queued jobs", std::to_string(h.queue_depth)}};
      if (detailed) {
        auto names = [&](const std::vector<proto::ProcessInfo>& processes) {
          std::string out;
          for (const auto& p : processes) {
            out += (out.empty() ? "" : ", ") + p.id + " (" + p.host + " pid " + std::to_string(p.pid) + ", up " +
                   format_duration(std::max<std::int64_t>(now - p.started_at_ms, 0)) + ")";
          }
          return out.empty() ? std::string("none") : out;
        };
        std::string live;
        for (const auto& [target, n] : h.live_workers)
          live += (live.empty() ? "" : ", ") + std::to_string(n) + " " + target;
        rows.push_back({"schedulers", names(h.schedulers)});
        rows.push_back({"brokers", names(h.brokers)});
        rows.push_back({"live workers", live.empty() ? "none" : live});
        rows.push_back({"oldest queued", h.queue_depth == 0 ? "-" : format_duration(h.oldest_queued_age_ms)});
        if (h.store_used_bytes > 0) {
          rows.push_back(
              {"store memory", megabytes(h.store_used_bytes) + " of " +
                                   (h.store_max_bytes == 0 ? "no limit (maxmemory 0)"
                                                           : megabytes(h.store_max_bytes) + " (maxmemory)")});
        }
      }
      print_table(io.out, {"FIELD", "VALUE"}, rows);
      if (!h.detail.empty()) io.out << printable_lines(h.detail) << "\n";
      for (const auto& w : h.warnings) io.out << "warning: " << printable(w) << "\n";
    }
    if (!h.ok) {
      io.err << "qgjob: broker is not healthy" << (h.detail.empty() ? "" : ": " + printable(h.detail)) << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

// The read-only qgjob commands: status, list, queue, workers and health. Each sends one request
// and prints the answer as a table, or as one JSON document with --json.
#include <algorithm>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/clock.hpp"
#include "support.hpp"

namespace qg::cli {

int run_status(const GlobalConfig& g, const StatusConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    auto reply = fetch_status(client, c.job_ids, g.request_timeout);
    if (g.json) {
      io.out << dump_json({{"jobs", jobs_json(reply.jobs)}, {"missing", reply.missing}}) << "\n";
    } else {
      print_jobs(io.out, reply.jobs);
      for (const auto& j : reply.jobs) {
        if (!j.last_error.empty()) io.out << printable(j.id) << ": " << printable_lines(j.last_error) << "\n";
      }
    }
    if (!reply.missing.empty()) {
      io.err << "qgjob: no such job:";
      for (const auto& m : reply.missing) io.err << " " << printable(m);
      io.err << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

int run_list(const GlobalConfig& g, const ListConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::ListRequest req;
    req.rid = client.new_rid();
    req.org_id = c.org_id;
    req.app_version_id = c.app_version_id;
    req.status = c.status;
    req.target = c.target;
    req.limit = c.limit;
    req.cursor = c.cursor;
    auto reply = client.call<proto::ListReply>(req, g.request_timeout);
    if (g.json) {
      io.out << dump_json({{"jobs", jobs_json(reply.jobs)}, {"next_cursor", reply.next_cursor}}) << "\n";
    } else {
      print_jobs(io.out, reply.jobs);
      if (!reply.next_cursor.empty())
        io.err << "more: qgjob list --cursor " << printable(shell_word(reply.next_cursor)) << " ...\n";
    }
    return exit_code::ok;
  });
}

int run_queue(const GlobalConfig& g, const QueueConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::QueueRequest req;
    req.rid = client.new_rid();
    req.limit = c.limit;
    req.cursor = c.cursor;
    auto reply = client.call<proto::QueueReply>(req, g.request_timeout);
    if (g.json) {
      Json groups = Json::array();
      for (const auto& gr : reply.groups) {
        groups.push_back({{"key", gr.key},
                          {"org_id", gr.org_id},
                          {"app_version_id", gr.app_version_id},
                          {"target", proto::to_string(gr.target)},
                          {"depth", gr.depth},
                          {"highest_priority", proto::to_string(gr.highest_priority)},
                          {"oldest_age_ms", gr.oldest_age_ms},
                          {"claimable", gr.claimable}});
      }
      io.out << dump_json({{"groups", std::move(groups)},
                           {"by_status", reply.by_status},
                           {"by_priority", reply.by_priority},
                           {"next_cursor", reply.next_cursor}})
             << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& gr : reply.groups) {
        rows.push_back({gr.org_id + "/" + gr.app_version_id, std::string(proto::to_string(gr.target)),
                        std::to_string(gr.depth), std::string(proto::to_string(gr.highest_priority)),
                        format_duration(gr.oldest_age_ms), gr.claimable ? "yes" : "batching"});
      }
      print_table(io.out, {"BUILD", "TARGET", "QUEUED", "TOP PRIORITY", "OLDEST", "CLAIMABLE"}, rows);
      std::string line;
      for (const auto& [k, v] : reply.by_status) line += (line.empty() ? "" : ", ") + std::to_string(v) + " " + k;
      io.out << "jobs: " << (line.empty() ? "none" : printable(line)) << "\n";
      if (!reply.next_cursor.empty())
        io.err << "more: qgjob queue --cursor " << printable(shell_word(reply.next_cursor)) << "\n";
    }
    return exit_code::ok;
  });
}

int run_unquarantine(const GlobalConfig& g, const std::string& worker_id, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::WorkersRequest req;
    req.rid = client.new_rid();
    req.unquarantine = worker_id;
    auto reply = client.call<proto::WorkersReply>(req, g.request_timeout);
    if (g.json) {
      io.out << dump_json({{"worker_id", worker_id}, {"unquarantined", reply.unquarantined}}) << "\n";
    } else if (reply.unquarantined) {
      io.out << "worker " << worker_id << ": quarantine ended; it gets work again\n";
    } else {
      io.out << "worker " << worker_id << " was not quarantined\n";
    }
    return reply.unquarantined ? exit_code::ok : exit_code::failed;
  });
}

int run_workers(const GlobalConfig& g, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::WorkersRequest req;
    req.rid = client.new_rid();
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
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& wk : reply.workers) {
        std::string targets, labels;
        for (auto t : wk.targets) targets += (targets.empty() ? "" : ",") + std::string(proto::to_string(t));
        for (const auto& [k, v] : wk.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
        rows.push_back(
            {wk.worker_id, wk.device_id.empty() ? "-" : wk.device_id, wk.state, targets,
             wk.group_key.empty() ? "-" : wk.group_key, std::to_string(wk.installed.size()),
             labels.empty() ? "-" : labels,
             wk.last_seen_ms > 0 ? format_duration(std::max<std::int64_t>(now - wk.last_seen_ms, 0)) + " ago" : "-"});
      }
      print_table(io.out, {"WORKER", "DEVICE", "STATE", "TARGETS", "GROUP", "BUILDS", "LABELS", "SEEN"}, rows);
    }
    return exit_code::ok;
  });
}

int run_health(const GlobalConfig& g, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::HealthRequest req;
    req.rid = client.new_rid();
    auto h = client.call<proto::HealthReply>(req, g.request_timeout);
    if (g.json) {
      io.out << dump_json({{"ok", h.ok},
                           {"store", h.store},
                           {"store_reachable", h.store_reachable},
                           {"version", h.version},
                           {"protocol", h.protocol},
                           {"uptime_ms", h.uptime_ms},
                           {"queue_depth", h.queue_depth},
                           {"broker_id", h.broker_id},
                           {"detail", h.detail}})
             << "\n";
    } else {
      print_table(io.out, {"FIELD", "VALUE"},
                  {{"ok", h.ok ? "yes" : "no"},
                   {"broker", h.broker_id + " at " + g.broker},
                   {"store", h.store + (h.store_reachable ? " (reachable)" : " (UNREACHABLE)")},
                   {"version", h.version + " (protocol " + std::to_string(h.protocol) + ")"},
                   {"uptime", format_duration(h.uptime_ms)},
                   {"queued jobs", std::to_string(h.queue_depth)}});
      if (!h.detail.empty()) io.out << printable_lines(h.detail) << "\n";
    }
    if (!h.ok) {
      io.err << "qgjob: broker is not healthy" << (h.detail.empty() ? "" : ": " + printable(h.detail)) << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

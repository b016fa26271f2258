// The read-only qgjob commands on jobs: status, list and queue (workers and health: farm.cpp).
// Each sends one request and prints the answer as a table, or as one JSON document with --json.
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
      Json doc = {{"jobs", jobs_json(reply.jobs)}, {"missing", reply.missing}, {"expired", reply.expired}};
      Json etas = Json::array();
      for (const auto& e : reply.etas) {
        Json one = {{"job_id", e.job_id}, {"queued_ahead", e.queued_ahead}};
        if (e.eta_ms) one["eta_ms"] = *e.eta_ms;
        etas.push_back(std::move(one));
      }
      doc["etas"] = std::move(etas);
      if (reply.queued_ahead) doc["queued_ahead"] = *reply.queued_ahead;
      if (reply.eta_ms) doc["eta_ms"] = *reply.eta_ms;
      io.out << dump_json(doc) << "\n";
    } else {
      print_jobs(io.out, reply.jobs);
      for (const auto& j : reply.jobs) {
        if (!j.last_error.empty()) io.out << printable(j.id) << ": " << printable_lines(j.last_error) << "\n";
      }
      // The estimates of the jobs not final, one line each, then for them all.
      for (const auto& e : reply.etas) {
        proto::StatusReply one;
        one.etas = {e};
        one.queued_ahead = e.queued_ahead;
        one.eta_ms = e.eta_ms;
        io.out << printable(e.job_id) << ": " << eta_phrase(one) << "\n";
      }
      if (reply.etas.size() > 1) io.out << "all " << reply.etas.size() << " not final: " << eta_phrase(reply) << "\n";
    }
    if (!reply.missing.empty()) {
      print_missing(io.err, reply);
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
                          {"claimable", gr.claimable},
                          {"no_live_worker", gr.no_live_worker},
                          {"requires", gr.requirements.value_or(std::map<std::string, std::string>{})}});
      }
      io.out << dump_json({{"groups", std::move(groups)},
                           {"by_status", reply.by_status},
                           {"by_priority", reply.by_priority},
                           {"next_cursor", reply.next_cursor}})
             << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      std::size_t unserved = 0;
      for (const auto& gr : reply.groups) {
        const std::string target(proto::to_string(gr.target));
        rows.push_back(
            {gr.org_id + "/" + gr.app_version_id,
             printable(target + requirements_text(gr.requirements.value_or(std::map<std::string, std::string>{}), " ")),
             std::to_string(gr.depth), std::string(proto::to_string(gr.highest_priority)),
             format_duration(gr.oldest_age_ms), gr.claimable ? "yes" : "batching",
             gr.no_live_worker ? "NO LIVE WORKER" : "-"});
        unserved += gr.no_live_worker ? 1 : 0;
      }
      print_table(io.out, {"BUILD", "TARGET", "QUEUED", "TOP PRIORITY", "OLDEST", "CLAIMABLE", "NOTE"}, rows);
      if (unserved > 0) {
        io.err << "qgjob: " << unserved
               << " group(s) wait for a target (and labels) no live worker serves (NO LIVE WORKER): start a worker"
                  " for it, with --labels holding the group's requirements\n";
      }
      std::string line;
      for (const auto& [k, v] : reply.by_status) line += (line.empty() ? "" : ", ") + std::to_string(v) + " " + k;
      io.out << "jobs: " << (line.empty() ? "none" : printable(line)) << "\n";
      if (!reply.next_cursor.empty())
        io.err << "more: qgjob queue --cursor " << printable(shell_word(reply.next_cursor)) << "\n";
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

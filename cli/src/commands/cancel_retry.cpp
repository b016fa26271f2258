// The qgjob commands that change a job's fate: cancel (a job, or every unfinished job of a
// build) and retry (a dead job runs again).
#include <algorithm>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "support.hpp"

namespace qg::cli {

int run_cancel(const GlobalConfig& g, const CancelConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::CancelRequest req;
    req.rid = client.new_rid();
    req.job_id = c.job_id;
    req.org_id = c.org_id;
    req.app_version_id = c.app_version_id;
    auto reply = client.call<proto::CancelReply>(req, g.request_timeout);
    if (g.json) {
      Json results = Json::array();
      for (const auto& r : reply.results) {
        results.push_back({{"job_id", r.job_id}, {"outcome", r.outcome}, {"status", proto::to_string(r.status)}});
      }
      io.out << dump_json({{"results", std::move(results)}}) << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& r : reply.results)
        rows.push_back({r.job_id, r.outcome, std::string(proto::to_string(r.status))});
      print_table(io.out, {"JOB ID", "OUTCOME", "STATUS"}, rows);
    }
    bool any_not_found = std::any_of(reply.results.begin(), reply.results.end(),
                                     [](const proto::CancelResult& r) { return r.outcome == "not_found"; });
    if (reply.results.empty() || any_not_found) {
      io.err << "qgjob: nothing to cancel" << (any_not_found ? " for some of the ids" : "") << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

int run_retry(const GlobalConfig& g, const std::string& job_id, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::RetryRequest req;
    req.rid = client.new_rid();
    req.job_id = job_id;
    auto reply = client.call<proto::RetryReply>(req, g.request_timeout);
    if (g.json) {
      io.out << dump_json({{"job_id", reply.job_id}, {"status", proto::to_string(reply.status)}}) << "\n";
    } else {
      io.out << printable(reply.job_id) << "  " << proto::to_string(reply.status) << "\n";
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

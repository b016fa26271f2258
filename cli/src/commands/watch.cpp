// qgjob watch: prints live job and worker events (and heartbeats with --heartbeats) until
// Ctrl-C, one line each, or one JSON object per line with --json; a sequence gap is shown.
// Gaps are judged on what is received: everything (`job.` and `worker.`, no keys) by each
// source's seq, one org's or every org's job topics, or whatever a key may see, by the events'
// org_seq (docs/protocol.md 8.3).
#include <ctime>
#include <utility>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "support.hpp"

namespace qg::cli {

int run_watch(const GlobalConfig& g, const WatchConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    std::string prefix;
    if (g.curve.enabled()) {
      Client client(context, g.broker, g.curve);
      prefix = events_prefix(client, g.curve, g.request_timeout);
    }
    Subscriber events(context, g.events, g.curve, prefix);
    // One job is filtered here rather than by its topic: under its org's topics org_seq still
    // tells a lost event from another job's.
    const bool everything = c.org_id.empty() && c.job_id.empty();
    // With keys the broker sends a subscriber only what its key may see (an org key: its org's
    // job events), so a source's seq skips over the rest even for "everything": gaps are then
    // judged by org_seq, as under an org filter.
    const bool gaps_by_seq = everything && !g.curve.enabled();
    events.subscribe(c.org_id.empty() ? "job." : "job." + c.org_id + ".");
    if (everything) events.subscribe("worker.");
    if (c.heartbeats) events.subscribe("hb.");
    if (!g.json) io.err << "watching events from " << g.events << " (Ctrl-C to stop)\n";
    SeqTracker seqs;
    std::string missed_from;  // the source of a gap not shown yet
    while (io.interrupted == nullptr || !io.interrupted->load()) {
      auto event = events.next(milliseconds(200));
      if (!event) continue;
      auto stamp = [](std::int64_t ms) {
        std::time_t t = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
        return std::string(buf) + "." + std::to_string(1000 + ms % 1000).substr(1);
      };
      if (event->job) {
        const auto& e = *event->job;
        // A gap seen on another job's event is shown with the next event of the watched job.
        if (gaps_by_seq ? seqs.observe(e.source, e.seq) : seqs.observe_org(e.source, e.org_id, e.org_seq)) {
          missed_from = e.source;
        }
        if (!c.job_id.empty() && e.job_id != c.job_id) continue;
        const std::string gap_source = std::exchange(missed_from, {});
        const bool gap = !gap_source.empty();
        if (g.json) {
          io.out << dump_json({{"type", "job"},
                               {"source", e.source},
                               {"seq", e.seq},
                               {"gap", gap},
                               {"job_id", e.job_id},
                               {"org_id", e.org_id},
                               {"app_version_id", e.app_version_id},
                               {"attempt", e.attempt},
                               {"status", proto::to_string(e.status)},
                               {"worker_id", e.worker_id},
                               {"message", e.message},
                               {"at_ms", e.at_ms},
                               {"org_seq", e.org_seq},
                               {"test_path", e.test_path},
                               {"target", e.target ? std::string(proto::to_string(*e.target)) : std::string()},
                               {"priority", e.priority ? std::string(proto::to_string(*e.priority)) : std::string()}})
                 << "\n"
                 << std::flush;
        } else {
          if (gap) io.out << "(missed events from " << printable(gap_source) << ")\n";
          io.out << printable(stamp(e.at_ms) + "  " + e.job_id + "  " + std::string(proto::to_string(e.status)) + "  " +
                              e.org_id + "/" + e.app_version_id + (e.test_path.empty() ? "" : "  " + e.test_path) +
                              "  attempt " + std::to_string(e.attempt) +
                              (e.worker_id.empty() ? "" : "  on " + e.worker_id) +
                              (e.message.empty() ? "" : "  " + e.message) + "  [" + e.source + "]")
                 << "\n"
                 << std::flush;
        }
      } else if (event->worker) {
        const auto& e = *event->worker;
        if (g.json) {
          io.out << dump_json({{"type", "worker"},
                               {"source", e.source},
                               {"seq", e.seq},
                               {"worker_id", e.worker_id},
                               {"state", e.state},
                               {"lease_id", e.lease_id},
                               {"at_ms", e.at_ms}})
                 << "\n"
                 << std::flush;
        } else {
          io.out << printable(stamp(e.at_ms) + "  worker " + e.worker_id + " " + e.state +
                              (e.lease_id.empty() ? "" : " (lease " + e.lease_id + ")"))
                 << "\n"
                 << std::flush;
        }
      } else if (event->heartbeat) {
        const auto& h = *event->heartbeat;
        if (g.json) {
          io.out << dump_json({{"type", "heartbeat"},
                               {"worker_id", h.worker_id},
                               {"state", h.state},
                               {"group_key", h.group_key},
                               {"jobs", static_cast<std::uint64_t>(h.jobs.size())},
                               {"seq", h.seq},
                               {"at_ms", h.sent_at_ms}})
                 << "\n"
                 << std::flush;
        } else {
          io.out << printable(stamp(h.sent_at_ms) + "  heartbeat " + h.worker_id + " " + h.state +
                              (h.group_key.empty() ? "" : " " + h.group_key))
                 << " jobs=" << h.jobs.size() << "\n"
                 << std::flush;
        }
      }
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

// qgjob submit and qgjob wait: submit sends one SUBMIT (resent with the same idempotency key
// while the broker does not answer or cannot reach its store), then, with --wait, waits like
// `qgjob wait`: subscribe to the jobs' events, read their status, print each job as it
// finishes, re-read on a final-looking event, a sequence gap or every 2 s, and exit with
// wait_exit_code(). A wait that ends early (--timeout, SIGINT, SIGTERM) cancels the jobs still
// unfinished unless --keep-on-exit, and exits 2 (timeout) or 128 + the signal.
#include <signal.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "cancel_on_exit.hpp"
#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/junit.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/clock.hpp"
#include "support.hpp"

namespace qg::cli {

namespace {

using proto::Job;
using proto::JobStatus;

constexpr std::int64_t kRefreshMs = 2000;    // wait's safety-net STATUS
constexpr std::int64_t kMinRefreshMs = 100;  // at most this often when events ask for one
constexpr std::int64_t kEtaEveryMs = 10000;  // a changed estimate is printed at most this often
// Submits refused for a quota or rate are sent this many times at most without --timeout
// (with it, for as long as the next one starts before it).
constexpr int kLimitedAttempts = 5;

std::string finish_line(const Job& j) {
  std::string line = std::string(proto::to_string(j.status));
  std::transform(line.begin(), line.end(), line.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  line.resize(std::max<std::size_t>(line.size(), 10), ' ');
  line += j.test_path + "  " + build_of(j) + "  " + j.id;
  if (j.status != JobStatus::cancelled && j.status != JobStatus::dead) line += "  " + format_duration(j.duration_ms);
  if (!j.worker_id.empty()) line += "  on " + j.worker_id;
  if (j.flaky) line += "  (flaky: passed after a failed attempt)";
  if (!j.last_error.empty() && j.status != JobStatus::passed) line += "  — " + j.last_error;
  return line;
}

// The body of `wait` (also `submit --wait`). `deadline_ms` is a steady_ms() value, 0 = none.
int wait_for(const GlobalConfig& g, Client& client, zmq::context_t& context, const WaitConfig& c,
             std::int64_t deadline_ms, Io io) {
  std::ostream& progress = g.json ? io.err : io.out;
  // Subscribe first, then read: a job that finishes in between is seen by the read.
  Subscriber events(context, g.events, g.curve, events_prefix(client, g.curve, g.request_timeout));
  std::set<std::string> wanted(c.job_ids.begin(), c.job_ids.end());
  if (c.org_id.empty()) {
    events.subscribe("job.");
  } else {
    for (const auto& id : c.job_ids) events.subscribe("job." + c.org_id + "." + id);
  }
  auto first = fetch_status(client, c.job_ids, g.request_timeout);
  if (!first.missing.empty()) {
    print_missing(io.err, first);
    return exit_code::usage;
  }
  if (c.org_id.empty()) {
    std::set<std::string> topics;
    for (const auto& j : first.jobs) topics.insert("job." + j.org_id + "." + j.id);
    for (const auto& t : topics) events.subscribe(t);
    events.unsubscribe("job.");
  }
  std::map<std::string, Job> jobs;
  for (auto& j : first.jobs) jobs[j.id] = j;
  std::set<std::string> announced;
  auto announce = [&] {
    for (const auto& id : c.job_ids) {
      const auto& j = jobs[id];
      if (proto::is_final(j.status) && announced.insert(id).second) {
        progress << printable(finish_line(j)) << "\n" << std::flush;
      }
    }
  };
  auto ordered = [&] {
    std::vector<Job> v;
    for (const auto& id : c.job_ids) v.push_back(jobs[id]);
    return v;
  };
  announce();
  // The queue place and expected finish, on the first line and again when its words change
  // (at most every kEtaEveryMs).
  std::string eta_said = eta_phrase(first);
  std::int64_t eta_said_ms = steady_ms();
  if (!g.json && !all_final(ordered())) {
    progress << "waiting for " << c.job_ids.size() - announced.size() << " of " << c.job_ids.size()
             << " job(s): " << summarize(ordered()) << (eta_said.empty() ? "" : "; " + eta_said) << "\n"
             << std::flush;
  }

  SeqTracker seqs;
  auto now = steady_ms();
  std::int64_t next_refresh = now + kRefreshMs;
  std::int64_t last_refresh = now;
  std::int64_t last_contact = now;
  const std::int64_t unreachable_after = std::max<std::int64_t>(30000, 3 * g.request_timeout.count());
  bool warned = false;
  bool gave_up = false;
  bool interrupted = false;
  while (!all_final(ordered())) {
    now = steady_ms();
    if (deadline_ms > 0 && now >= deadline_ms) {
      gave_up = true;
      break;
    }
    if (io.interrupted != nullptr && io.interrupted->load()) {
      interrupted = true;
      break;
    }
    if (now >= next_refresh) {
      std::vector<std::string> open;
      for (const auto& id : c.job_ids) {
        if (!proto::is_final(jobs[id].status)) open.push_back(id);
      }
      try {
        auto timeout = g.request_timeout;
        if (deadline_ms > 0) timeout = std::min(timeout, milliseconds(std::max<std::int64_t>(deadline_ms - now, 1)));
        auto reply = fetch_status(client, open, timeout);
        for (auto& j : reply.jobs) jobs[j.id] = j;
        if (auto said = eta_phrase(reply); !g.json && !said.empty() && said != eta_said &&
                                           steady_ms() - eta_said_ms >= kEtaEveryMs && !all_final(ordered())) {
          progress << said << "\n" << std::flush;
          eta_said = std::move(said);
          eta_said_ms = steady_ms();
        }
        last_contact = steady_ms();
        if (warned) progress << "broker reachable again\n";
        warned = false;
      } catch (const BrokerUnreachable&) {
        if (steady_ms() - last_contact > unreachable_after) throw;
        if (!warned) io.err << "qgjob: no answer from the broker at " << g.broker << "; still trying\n";
        warned = true;
      }
      announce();
      last_refresh = steady_ms();
      next_refresh = last_refresh + kRefreshMs;
      continue;
    }
    auto wait_ms = next_refresh - now;
    if (deadline_ms > 0) wait_ms = std::min(wait_ms, deadline_ms - now);
    auto event = events.next(milliseconds(std::clamp<std::int64_t>(wait_ms, 1, 200)));
    if (!event || !event->job) continue;
    const auto& e = *event->job;
    bool gap = seqs.observe(e.source, e.seq);
    if (wanted.count(e.job_id) == 0 && !gap) continue;
    // Events are hints: the broker's STATUS decides what is final (a failed attempt may be
    // retried), so a final-looking event or a gap brings the next read forward.
    if (gap || proto::is_final(e.status)) {
      next_refresh = std::min(next_refresh, std::max(steady_ms(), last_refresh + kMinRefreshMs));
    } else if (wanted.count(e.job_id) != 0) {
      auto& j = jobs[e.job_id];
      if (!proto::is_final(j.status)) j.status = e.status;
      if (!e.worker_id.empty() && !proto::is_final(j.status)) j.worker_id = e.worker_id;
    }
  }

  auto final_jobs = ordered();
  int code = wait_exit_code(final_jobs, true);
  int stop_signal = 0;
  if (interrupted) {
    stop_signal = io.stop_signal != nullptr && io.stop_signal->load() != 0 ? io.stop_signal->load() : SIGINT;
    code = exit_code::signalled(stop_signal);
  }
  std::vector<Job> unfinished;
  for (const auto& j : final_jobs) {
    if (!proto::is_final(j.status)) unfinished.push_back(j);
  }
  std::vector<std::string> cancelled;
  if ((gave_up || interrupted) && !c.keep_on_exit) {
    // The exit code stays that of the timeout or signal: the run did not finish.
    for (const auto& r : cancel_unfinished(client, unfinished, g.request_timeout, io.err)) {
      if (r.outcome != "cancelled" && r.outcome != "cancel_requested") continue;
      cancelled.push_back(r.job_id);
      if (auto it = jobs.find(r.job_id); it != jobs.end()) it->second.status = r.status;
    }
    final_jobs = ordered();
  }
  if (!c.junit.empty()) write_junit_file(c.junit, final_jobs);
  if (g.json) {
    io.out << dump_json({{"jobs", jobs_json(final_jobs)},
                         {"summary", summarize(final_jobs)},
                         {"exit_code", code},
                         {"timed_out", gave_up},
                         {"cancelled", cancelled}})
           << "\n";
  } else {
    io.out << "\n";
    print_jobs(io.out, final_jobs);
    io.out << summarize(final_jobs) << "\n";
  }
  if (code == exit_code::failed) {
    std::size_t bad = 0;
    for (const auto& j : final_jobs) bad += j.status != JobStatus::passed ? 1 : 0;
    io.err << "qgjob: " << bad << " of " << final_jobs.size() << " job(s) did not pass (" << summarize(final_jobs)
           << ")\n";
  } else if (gave_up || interrupted) {
    io.err << "qgjob: "
           << (interrupted ? std::string("interrupted by ") + (stop_signal == SIGTERM ? "SIGTERM" : "SIGINT")
                           : "timed out")
           << " with " << unfinished.size() << " job(s) unfinished";
    if (!cancelled.empty()) io.err << ", " << cancelled.size() << " cancelled or being stopped";
    io.err << " (" << summarize(final_jobs) << ")\n";
  }
  return code;
}

}  // namespace

int run_submit(const GlobalConfig& g, const SubmitConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    proto::SubmitRequest req;
    req.rid = client.new_rid();
    req.org_id = c.org_id;
    req.app_version_id = c.app_version_id;
    req.tests = c.tests;
    req.priority = c.priority;
    req.target = c.target;
    req.retries = c.retries;
    if (!c.requirements.empty()) req.requirements = c.requirements;
    // A key makes a resent submit safe: the broker answers it with the same job ids.
    req.idempotency_key = c.idempotency_key.empty() ? "qgjob-" + client.new_rid() : c.idempotency_key;
    const auto start = steady_ms();
    const std::int64_t overall = c.timeout.count() > 0 ? start + c.timeout.count() : 0;
    std::int64_t submit_deadline = overall > 0 ? overall : start + 3 * g.request_timeout.count();
    proto::SubmitReply reply;
    for (int attempt = 1;; ++attempt) {
      auto left = submit_deadline - steady_ms();
      try {
        reply = client.call<proto::SubmitReply>(
            req, std::min(g.request_timeout, milliseconds(std::max<std::int64_t>(left, 1))));
        break;
      } catch (const BrokerUnreachable&) {
        if (steady_ms() >= submit_deadline) throw;
        io.err << "qgjob: no answer to submit (attempt " << attempt << "); sending it again with idempotency key "
               << req.idempotency_key << "\n";
      } catch (const RequestFailed& e) {
        // Over the org's quota or rate: nothing was created; sent again when the broker says.
        if (e.error().retry_after_ms) {
          const auto wait = static_cast<std::int64_t>(*e.error().retry_after_ms);
          const bool in_time = overall > 0 ? steady_ms() + wait < overall : attempt < kLimitedAttempts;
          io.err << "qgjob: " << printable(e.error().code) << ": " << printable(e.error().message) << "\n";
          if (!in_time) {
            io.err << "qgjob: giving up after " << attempt << " attempt(s)"
                   << (overall > 0 ? " (the next would pass --timeout)" : "") << "\n";
            throw;
          }
          io.err << "qgjob: sending the submit again in " << wait << " ms (attempt " << attempt << ")\n";
          std::this_thread::sleep_for(milliseconds(wait));
          if (overall == 0) submit_deadline += wait;  // the wait does not count against answers
          continue;
        }
        // The broker's store is unreachable (Redis restarting): nothing was created; try again.
        if (e.error().code != proto::errc::unavailable || steady_ms() >= submit_deadline) throw;
        io.err << "qgjob: the broker cannot reach its store (attempt " << attempt
               << "); sending the submit again with idempotency key " << req.idempotency_key << "\n";
        std::this_thread::sleep_for(milliseconds(std::min<std::int64_t>(100LL << std::min(attempt, 4), 1000)));
      }
    }
    if (g.json && !c.wait) {
      io.out << dump_json({{"submission_id", reply.submission_id},
                           {"job_ids", reply.job_ids},
                           {"duplicate", reply.duplicate},
                           {"idempotency_key", req.idempotency_key},
                           {"warning", reply.warning}})
             << "\n";
    } else if (!g.json) {
      std::vector<std::vector<std::string>> rows;
      for (std::size_t i = 0; i < reply.job_ids.size(); ++i) {
        rows.push_back({reply.job_ids[i], i < c.tests.size() ? c.tests[i] : ""});
      }
      print_table(io.out, {"JOB ID", "TEST"}, rows);
      io.out << std::flush;
    }
    io.err << "qgjob: " << reply.job_ids.size() << " job(s) submitted for " << c.org_id << "/" << c.app_version_id
           << " on " << proto::to_string(c.target) << printable(requirements_text(c.requirements, " with "))
           << (reply.duplicate ? " (already submitted earlier)" : "") << "\n";
    if (!reply.warning.empty()) io.err << "qgjob: warning: " << printable(reply.warning) << "\n";
    if (!c.wait) return exit_code::ok;
    WaitConfig w;
    w.job_ids = reply.job_ids;
    w.junit = c.junit;
    w.org_id = c.org_id;
    w.keep_on_exit = c.keep_on_exit;
    return wait_for(g, client, context, w, overall, io);
  });
}

int run_wait(const GlobalConfig& g, const WaitConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker, g.curve);
    std::int64_t deadline = c.timeout.count() > 0 ? steady_ms() + c.timeout.count() : 0;
    return wait_for(g, client, context, c, deadline, io);
  });
}

}  // namespace qg::cli

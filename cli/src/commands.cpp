#include "qg/cli/commands.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "qg/cli/client.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/junit.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/clock.hpp"

namespace qg::cli {

namespace {

using proto::Job;
using proto::JobStatus;

constexpr std::size_t kStatusBatch = 1000;
constexpr std::int64_t kRefreshMs = 2000;    // wait's safety-net STATUS
constexpr std::int64_t kMinRefreshMs = 100;  // at most this often when events ask for one

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// Runs `body`, turning the client's exceptions into an exit code and one line on stderr.
int guarded(const GlobalConfig& g, Io io, const std::function<int()>& body) {
  try {
    return body();
  } catch (const BrokerUnreachable& e) {
    io.err << "qgjob: cannot reach the broker at " << g.broker << ": no answer within "
           << seconds_text(g.request_timeout) << " s (is qg-broker running? see --broker / QGJOB_BROKER)\n";
    return exit_code::unreachable;
  } catch (const RequestFailed& e) {
    io.err << "qgjob: the broker refused the request: " << e.what() << "\n";
    return exit_code_for_error(e.error().code);
  } catch (const BadReply& e) {
    io.err << "qgjob: unreadable reply from the broker at " << g.broker << ": " << e.what() << "\n";
    return exit_code::failed;
  } catch (const zmq::error_t& e) {
    io.err << "qgjob: cannot use endpoint " << g.broker << " / " << g.events << ": " << e.what() << "\n";
    return exit_code::usage;
  } catch (const std::exception& e) {
    io.err << "qgjob: " << e.what() << "\n";
    return exit_code::failed;
  }
}

std::string build_of(const Job& j) { return j.org_id + "/" + j.app_version_id; }

std::vector<std::vector<std::string>> job_rows(const std::vector<Job>& jobs) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& j : jobs) {
    bool ran = proto::is_final(j.status) && j.status != JobStatus::cancelled && j.attempt > 0;
    rows.push_back({j.id, std::string(proto::to_string(j.status)) + (j.flaky ? " (flaky)" : ""),
                    std::to_string(j.attempt), j.test_path, build_of(j), std::string(proto::to_string(j.target)),
                    j.worker_id.empty() ? "-" : j.worker_id, ran ? format_duration(j.duration_ms) : "-",
                    ran && j.status != JobStatus::error ? std::to_string(j.exit_code) : "-"});
  }
  return rows;
}

// An ERROR column (the last error of jobs that did not pass, e.g. why a job is dead) is
// added when any job has one.
void print_jobs(std::ostream& out, const std::vector<Job>& jobs) {
  std::vector<std::string> header = {"JOB ID", "STATUS", "ATTEMPT", "TEST", "BUILD",
                                     "TARGET", "WORKER", "TIME",    "EXIT"};
  auto rows = job_rows(jobs);
  auto shown_error = [](const Job& j) {
    if (j.status == JobStatus::passed || j.last_error.empty()) return std::string("-");
    auto text = j.last_error.substr(0, j.last_error.find('\n'));
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    return text;
  };
  bool any_error = std::any_of(jobs.begin(), jobs.end(), [&](const Job& j) { return shown_error(j) != "-"; });
  if (any_error) {
    header.push_back("ERROR");
    for (std::size_t i = 0; i < jobs.size(); ++i) rows[i].push_back(shown_error(jobs[i]));
  }
  print_table(out, header, rows);
}

// STATUS for any number of ids (batched); jobs in request order.
proto::StatusReply fetch_status(Client& client, const std::vector<std::string>& ids, milliseconds timeout) {
  proto::StatusReply all;
  for (std::size_t i = 0; i < ids.size(); i += kStatusBatch) {
    proto::StatusRequest req;
    req.rid = client.new_rid();
    req.job_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                       ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kStatusBatch)));
    auto reply = client.call<proto::StatusReply>(req, timeout);
    all.jobs.insert(all.jobs.end(), reply.jobs.begin(), reply.jobs.end());
    all.missing.insert(all.missing.end(), reply.missing.begin(), reply.missing.end());
  }
  return all;
}

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
  Subscriber events(context, g.events);
  std::set<std::string> wanted(c.job_ids.begin(), c.job_ids.end());
  if (c.org_id.empty()) {
    events.subscribe("job.");
  } else {
    for (const auto& id : c.job_ids) events.subscribe("job." + c.org_id + "." + id);
  }
  auto first = fetch_status(client, c.job_ids, g.request_timeout);
  if (!first.missing.empty()) {
    io.err << "qgjob: unknown job id(s):";
    for (const auto& m : first.missing) io.err << " " << m;
    io.err << "\n";
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
      if (proto::is_final(j.status) && announced.insert(id).second) progress << finish_line(j) << "\n" << std::flush;
    }
  };
  auto ordered = [&] {
    std::vector<Job> v;
    for (const auto& id : c.job_ids) v.push_back(jobs[id]);
    return v;
  };
  announce();
  if (!g.json && !all_final(ordered())) {
    progress << "waiting for " << c.job_ids.size() - announced.size() << " of " << c.job_ids.size()
             << " job(s): " << summarize(ordered()) << "\n"
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
  if (interrupted) code = exit_code::timeout;
  if (!c.junit.empty()) write_junit_file(c.junit, final_jobs);
  if (g.json) {
    JsonWriter w;
    w.begin_object();
    write_jobs(w, "jobs", final_jobs);
    w.field("summary", summarize(final_jobs)).field("exit_code", code).field("timed_out", gave_up).end_object();
    io.out << w.str() << "\n";
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
  } else if (code == exit_code::timeout) {
    io.err << "qgjob: " << (interrupted ? "interrupted" : "timed out") << " with "
           << std::count_if(final_jobs.begin(), final_jobs.end(),
                            [](const Job& j) { return !proto::is_final(j.status); })
           << " job(s) unfinished (" << summarize(final_jobs) << ")\n";
  }
  return code;
}

}  // namespace

int exit_code_for_error(const std::string& code) {
  namespace e = proto::errc;
  if (code == e::bad_frames || code == e::bad_protocol || code == e::unknown_command || code == e::too_large ||
      code == e::bad_body || code == e::missing_field || code == e::invalid_field || code == e::unavailable) {
    return exit_code::usage;
  }
  return exit_code::failed;
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print(header);
  for (const auto& r : rows) print(r);
}

std::string format_duration(std::int64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>((ms / 1000) % 60));
  }
  return buf;
}

int run_submit(const GlobalConfig& g, const SubmitConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    proto::SubmitRequest req;
    req.rid = client.new_rid();
    req.org_id = c.org_id;
    req.app_version_id = c.app_version_id;
    req.tests = c.tests;
    req.priority = c.priority;
    req.target = c.target;
    req.retries = c.retries;
    // A key makes a resent submit safe: the broker answers it with the same job ids.
    req.idempotency_key = c.idempotency_key.empty() ? "qgjob-" + client.new_rid() : c.idempotency_key;
    const auto start = steady_ms();
    const std::int64_t overall = c.timeout.count() > 0 ? start + c.timeout.count() : 0;
    const std::int64_t submit_deadline = overall > 0 ? overall : start + 3 * g.request_timeout.count();
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
        // The broker's store is unreachable (Redis restarting): nothing was created; try again.
        if (e.error().code != proto::errc::unavailable || steady_ms() >= submit_deadline) throw;
        io.err << "qgjob: the broker cannot reach its store (attempt " << attempt
               << "); sending the submit again with idempotency key " << req.idempotency_key << "\n";
        std::this_thread::sleep_for(milliseconds(std::min<std::int64_t>(100LL << std::min(attempt, 4), 1000)));
      }
    }
    if (g.json && !c.wait) {
      JsonWriter w;
      w.begin_object()
          .field("submission_id", reply.submission_id)
          .field("job_ids", reply.job_ids)
          .field("duplicate", reply.duplicate)
          .field("idempotency_key", req.idempotency_key)
          .end_object();
      io.out << w.str() << "\n";
    } else if (!g.json) {
      std::vector<std::vector<std::string>> rows;
      for (std::size_t i = 0; i < reply.job_ids.size(); ++i) {
        rows.push_back({reply.job_ids[i], i < c.tests.size() ? c.tests[i] : ""});
      }
      print_table(io.out, {"JOB ID", "TEST"}, rows);
      io.out << std::flush;
    }
    io.err << "qgjob: " << reply.job_ids.size() << " job(s) submitted for " << c.org_id << "/" << c.app_version_id
           << " on " << proto::to_string(c.target) << (reply.duplicate ? " (already submitted earlier)" : "") << "\n";
    if (!c.wait) return exit_code::ok;
    WaitConfig w;
    w.job_ids = reply.job_ids;
    w.junit = c.junit;
    w.org_id = c.org_id;
    return wait_for(g, client, context, w, overall, io);
  });
}

int run_wait(const GlobalConfig& g, const WaitConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    std::int64_t deadline = c.timeout.count() > 0 ? steady_ms() + c.timeout.count() : 0;
    return wait_for(g, client, context, c, deadline, io);
  });
}

int run_status(const GlobalConfig& g, const StatusConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    auto reply = fetch_status(client, c.job_ids, g.request_timeout);
    if (g.json) {
      JsonWriter w;
      w.begin_object();
      write_jobs(w, "jobs", reply.jobs);
      w.field("missing", reply.missing).end_object();
      io.out << w.str() << "\n";
    } else {
      print_jobs(io.out, reply.jobs);
      for (const auto& j : reply.jobs) {
        if (!j.last_error.empty()) io.out << j.id << ": " << j.last_error << "\n";
      }
    }
    if (!reply.missing.empty()) {
      io.err << "qgjob: no such job:";
      for (const auto& m : reply.missing) io.err << " " << m;
      io.err << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

int run_cancel(const GlobalConfig& g, const CancelConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    proto::CancelRequest req;
    req.rid = client.new_rid();
    req.job_id = c.job_id;
    req.org_id = c.org_id;
    req.app_version_id = c.app_version_id;
    auto reply = client.call<proto::CancelReply>(req, g.request_timeout);
    if (g.json) {
      JsonWriter w;
      w.begin_object().key("results").begin_array();
      for (const auto& r : reply.results) {
        w.begin_object()
            .field("job_id", r.job_id)
            .field("outcome", r.outcome)
            .field("status", proto::to_string(r.status))
            .end_object();
      }
      w.end_array().end_object();
      io.out << w.str() << "\n";
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
    Client client(context, g.broker);
    proto::RetryRequest req;
    req.rid = client.new_rid();
    req.job_id = job_id;
    auto reply = client.call<proto::RetryReply>(req, g.request_timeout);
    if (g.json) {
      JsonWriter w;
      w.begin_object().field("job_id", reply.job_id).field("status", proto::to_string(reply.status)).end_object();
      io.out << w.str() << "\n";
    } else {
      io.out << reply.job_id << "  " << proto::to_string(reply.status) << "\n";
    }
    return exit_code::ok;
  });
}

int run_list(const GlobalConfig& g, const ListConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
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
      JsonWriter w;
      w.begin_object();
      write_jobs(w, "jobs", reply.jobs);
      w.field("next_cursor", reply.next_cursor).end_object();
      io.out << w.str() << "\n";
    } else {
      print_jobs(io.out, reply.jobs);
      if (!reply.next_cursor.empty()) io.err << "more: qgjob list --cursor " << reply.next_cursor << " ...\n";
    }
    return exit_code::ok;
  });
}

int run_queue(const GlobalConfig& g, const QueueConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    proto::QueueRequest req;
    req.rid = client.new_rid();
    req.limit = c.limit;
    req.cursor = c.cursor;
    auto reply = client.call<proto::QueueReply>(req, g.request_timeout);
    if (g.json) {
      JsonWriter w;
      w.begin_object().key("groups").begin_array();
      for (const auto& gr : reply.groups) {
        w.begin_object()
            .field("key", gr.key)
            .field("org_id", gr.org_id)
            .field("app_version_id", gr.app_version_id)
            .field("target", proto::to_string(gr.target))
            .field("depth", gr.depth)
            .field("highest_priority", proto::to_string(gr.highest_priority))
            .field("oldest_age_ms", gr.oldest_age_ms)
            .field("claimable", gr.claimable)
            .end_object();
      }
      w.end_array()
          .field("by_status", reply.by_status)
          .field("by_priority", reply.by_priority)
          .field("next_cursor", reply.next_cursor)
          .end_object();
      io.out << w.str() << "\n";
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
      io.out << "jobs: " << (line.empty() ? "none" : line) << "\n";
      if (!reply.next_cursor.empty()) io.err << "more: qgjob queue --cursor " << reply.next_cursor << "\n";
    }
    return exit_code::ok;
  });
}

int run_workers(const GlobalConfig& g, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Client client(context, g.broker);
    proto::WorkersRequest req;
    req.rid = client.new_rid();
    auto reply = client.call<proto::WorkersReply>(req, g.request_timeout);
    auto now = SystemClock::instance().now_ms();
    if (g.json) {
      JsonWriter w;
      w.begin_object().key("workers").begin_array();
      for (const auto& wk : reply.workers) {
        std::vector<std::string> targets;
        for (auto t : wk.targets) targets.emplace_back(proto::to_string(t));
        w.begin_object()
            .field("worker_id", wk.worker_id)
            .field("device_id", wk.device_id)
            .field("targets", targets)
            .field("labels", wk.labels)
            .field("installed", wk.installed)
            .field("state", wk.state)
            .field("lease_id", wk.lease_id)
            .field("group_key", wk.group_key)
            .field("last_seen_ms", wk.last_seen_ms)
            .end_object();
      }
      w.end_array().end_object();
      io.out << w.str() << "\n";
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
    Client client(context, g.broker);
    proto::HealthRequest req;
    req.rid = client.new_rid();
    auto h = client.call<proto::HealthReply>(req, g.request_timeout);
    if (g.json) {
      JsonWriter w;
      w.begin_object()
          .field("ok", h.ok)
          .field("store", h.store)
          .field("store_reachable", h.store_reachable)
          .field("version", h.version)
          .field("protocol", h.protocol)
          .field("uptime_ms", h.uptime_ms)
          .field("queue_depth", h.queue_depth)
          .field("broker_id", h.broker_id)
          .field("detail", h.detail)
          .end_object();
      io.out << w.str() << "\n";
    } else {
      print_table(io.out, {"FIELD", "VALUE"},
                  {{"ok", h.ok ? "yes" : "no"},
                   {"broker", h.broker_id + " at " + g.broker},
                   {"store", h.store + (h.store_reachable ? " (reachable)" : " (UNREACHABLE)")},
                   {"version", h.version + " (protocol " + std::to_string(h.protocol) + ")"},
                   {"uptime", format_duration(h.uptime_ms)},
                   {"queued jobs", std::to_string(h.queue_depth)}});
      if (!h.detail.empty()) io.out << h.detail << "\n";
    }
    if (!h.ok) {
      io.err << "qgjob: broker is not healthy" << (h.detail.empty() ? "" : ": " + h.detail) << "\n";
      return exit_code::failed;
    }
    return exit_code::ok;
  });
}

int run_watch(const GlobalConfig& g, const WatchConfig& c, Io io) {
  return guarded(g, io, [&] {
    zmq::context_t context(1);
    Subscriber events(context, g.events);
    if (!c.org_id.empty() && !c.job_id.empty()) {
      events.subscribe("job." + c.org_id + "." + c.job_id);
    } else if (!c.org_id.empty()) {
      events.subscribe("job." + c.org_id + ".");
    } else {
      events.subscribe("job.");
    }
    if (c.org_id.empty() && c.job_id.empty()) events.subscribe("worker.");
    if (c.heartbeats) events.subscribe("hb.");
    if (!g.json) io.err << "watching events from " << g.events << " (Ctrl-C to stop)\n";
    SeqTracker seqs;
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
        if (!c.job_id.empty() && e.job_id != c.job_id) continue;
        bool gap = seqs.observe(e.source, e.seq);
        if (g.json) {
          JsonWriter w;
          w.begin_object()
              .field("type", "job")
              .field("source", e.source)
              .field("seq", e.seq)
              .field("gap", gap)
              .field("job_id", e.job_id)
              .field("org_id", e.org_id)
              .field("app_version_id", e.app_version_id)
              .field("attempt", e.attempt)
              .field("status", proto::to_string(e.status))
              .field("worker_id", e.worker_id)
              .field("message", e.message)
              .field("at_ms", e.at_ms)
              .end_object();
          io.out << w.str() << "\n" << std::flush;
        } else {
          if (gap) io.out << "(missed events from " << e.source << ")\n";
          io.out << stamp(e.at_ms) << "  " << e.job_id << "  " << proto::to_string(e.status) << "  " << e.org_id << "/"
                 << e.app_version_id << "  attempt " << e.attempt << (e.worker_id.empty() ? "" : "  on " + e.worker_id)
                 << (e.message.empty() ? "" : "  " + e.message) << "  [" << e.source << "]\n"
                 << std::flush;
        }
      } else if (event->worker) {
        const auto& e = *event->worker;
        if (g.json) {
          JsonWriter w;
          w.begin_object()
              .field("type", "worker")
              .field("source", e.source)
              .field("seq", e.seq)
              .field("worker_id", e.worker_id)
              .field("state", e.state)
              .field("lease_id", e.lease_id)
              .field("at_ms", e.at_ms)
              .end_object();
          io.out << w.str() << "\n" << std::flush;
        } else {
          io.out << stamp(e.at_ms) << "  worker " << e.worker_id << " " << e.state
                 << (e.lease_id.empty() ? "" : " (lease " + e.lease_id + ")") << "\n"
                 << std::flush;
        }
      } else if (event->heartbeat) {
        const auto& h = *event->heartbeat;
        if (g.json) {
          JsonWriter w;
          w.begin_object()
              .field("type", "heartbeat")
              .field("worker_id", h.worker_id)
              .field("state", h.state)
              .field("group_key", h.group_key)
              .field("jobs", static_cast<std::uint64_t>(h.jobs.size()))
              .field("seq", h.seq)
              .field("at_ms", h.sent_at_ms)
              .end_object();
          io.out << w.str() << "\n" << std::flush;
        } else {
          io.out << stamp(h.sent_at_ms) << "  heartbeat " << h.worker_id << " " << h.state
                 << (h.group_key.empty() ? "" : " " + h.group_key) << " jobs=" << h.jobs.size() << "\n"
                 << std::flush;
        }
      }
    }
    return exit_code::ok;
  });
}

}  // namespace qg::cli

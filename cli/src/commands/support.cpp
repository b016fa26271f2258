// What the qgjob commands share (contract in support.hpp), and the functions qg/cli/commands.hpp
// exports: exit_code_for_error, print_table, format_duration.
#include "support.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"

namespace qg::cli {

namespace {

using proto::Job;
using proto::JobStatus;

constexpr std::size_t kStatusBatch = 1000;

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

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

}  // namespace

int guarded(const GlobalConfig& g, Io io, const std::function<int()>& body) {
  try {
    return body();
  } catch (const BrokerUnreachable& e) {
    io.err << "qgjob: cannot reach the broker at " << g.broker << ": no answer within "
           << seconds_text(g.request_timeout) << " s (is qg-broker running? see --broker / QGJOB_BROKER"
           << (g.curve.enabled() ? "; with keys, also: does the broker admit this --curve-cert, and is --broker-key "
                                   "its key? its log names the keys it refuses"
                                 : "")
           << ")\n";
    return exit_code::unreachable;
  } catch (const RequestFailed& e) {
    io.err << "qgjob: the broker refused the request: " << printable(e.what()) << "\n";
    return exit_code_for_error(e.error().code);
  } catch (const BadReply& e) {
    io.err << "qgjob: unreadable reply from the broker at " << g.broker << ": " << printable(e.what()) << "\n";
    return exit_code::failed;
  } catch (const zmq::error_t& e) {
    io.err << "qgjob: cannot use endpoint " << g.broker << " / " << g.events << ": " << e.what() << "\n";
    return exit_code::usage;
  } catch (const std::exception& e) {
    io.err << "qgjob: " << printable(e.what()) << "\n";
    return exit_code::failed;
  }
}

std::string build_of(const Job& j) { return j.org_id + "/" + j.app_version_id; }

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

proto::StatusReply fetch_status(Client& client, const std::vector<std::string>& ids, milliseconds timeout) {
  proto::StatusReply all;
  for (std::size_t i = 0; i < ids.size(); i += kStatusBatch) {
    proto::StatusRequest req;
    req.rid = client.new_rid();
    req.job_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                       ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kStatusBatch)));
    join_status(all, client.call<proto::StatusReply>(req, timeout));
  }
  return all;
}

void print_missing(std::ostream& err, const proto::StatusReply& reply) {
  const std::set<std::string> expired(reply.expired.begin(), reply.expired.end());
  std::string unknown, gone;
  for (const auto& m : reply.missing) (expired.contains(m) ? gone : unknown) += " " + printable(m);
  if (!unknown.empty()) err << "qgjob: no such job:" << unknown << "\n";
  if (!gone.empty()) {
    err << "qgjob: expired (finished longer ago than the store's retention, and deleted):" << gone << "\n";
  }
}

int exit_code_for_error(const std::string& code) {
  namespace e = proto::errc;
  if (code == e::bad_frames || code == e::bad_protocol || code == e::unknown_command || code == e::too_large ||
      code == e::bad_body || code == e::missing_field || code == e::invalid_field || code == e::unavailable) {
    return exit_code::usage;
  }
  return exit_code::failed;
}

void print_table(std::ostream& out, const std::vector<std::string>& raw_header,
                 const std::vector<std::vector<std::string>>& raw_rows) {
  // Cells hold wire text: escaped before they are measured.
  std::vector<std::string> header;
  for (const auto& cell : raw_header) header.push_back(printable(cell));
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& raw : raw_rows) {
    auto& row = rows.emplace_back();
    for (const auto& cell : raw) row.push_back(printable(cell));
  }
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

std::string requirements_text(const std::map<std::string, std::string>& requirements, std::string_view prefix) {
  std::string out;
  for (const auto& [k, v] : requirements) out.append(out.empty() ? prefix : ",").append(k).append("=").append(v);
  return out;
}

}  // namespace qg::cli

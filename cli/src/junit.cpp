#include "qg/cli/junit.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qg::cli {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) {
          out += "\xEF\xBF\xBD";  // U+FFFD
        } else {
          out += c;
        }
    }
  }
  return out;
}

namespace {

std::string seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

bool is_failure(proto::JobStatus s) {
  using proto::JobStatus;
  return s == JobStatus::failed || s == JobStatus::timed_out || s == JobStatus::error || s == JobStatus::dead;
}

std::string failure_message(const proto::Job& j) {
  std::string m = std::string(proto::to_string(j.status));
  if (!j.last_error.empty()) {
    m += ": " + j.last_error;
  } else if (j.status == proto::JobStatus::failed) {
    m += " (exit code " + std::to_string(j.exit_code) + ")";
  }
  return m;
}

}  // namespace

void write_junit(std::ostream& out, const std::vector<proto::Job>& jobs) {
  std::vector<std::pair<std::string, std::string>> builds;
  for (const auto& j : jobs) {
    std::pair<std::string, std::string> b{j.org_id, j.app_version_id};
    if (std::find(builds.begin(), builds.end(), b) == builds.end()) builds.push_back(b);
  }
  std::size_t all_tests = 0, all_failures = 0, all_errors = 0, all_skipped = 0;
  std::int64_t all_ms = 0;
  std::ostringstream suites;
  for (const auto& [org, app] : builds) {
    std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    std::int64_t ms = 0;
    std::ostringstream cases;
    for (const auto& j : jobs) {
      if (j.org_id != org || j.app_version_id != app) continue;
      ++tests;
      ms += j.duration_ms;
      cases << "    <testcase name=\"" << xml_escape(j.test_path) << "\" classname=\"" << xml_escape(j.app_version_id)
            << "\" time=\"" << seconds(j.duration_ms) << "\"";
      if (j.status == proto::JobStatus::passed) {
        cases << "/>\n";
        continue;
      }
      cases << ">\n";
      if (is_failure(j.status)) {
        ++failures;
        cases << "      <failure message=\"" << xml_escape(failure_message(j)) << "\" type=\""
              << proto::to_string(j.status) << "\">" << xml_escape(j.log_tail) << "</failure>\n";
      } else if (j.status == proto::JobStatus::cancelled) {
        ++skipped;
        cases << "      <skipped message=\"cancelled\"/>\n";
      } else {
        ++errors;
        cases << "      <error message=\"did not finish (status " << proto::to_string(j.status)
              << ")\" type=\"unfinished\"/>\n";
      }
      cases << "      <system-out>job " << xml_escape(j.id) << " attempt " << j.attempt << " on worker "
            << xml_escape(j.worker_id) << "</system-out>\n";
      cases << "    </testcase>\n";
    }
    suites << "  <testsuite name=\"" << xml_escape(org + "/" + app) << "\" tests=\"" << tests << "\" failures=\""
           << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << seconds(ms)
           << "\">\n"
           << cases.str() << "  </testsuite>\n";
    all_tests += tests;
    all_failures += failures;
    all_errors += errors;
    all_skipped += skipped;
    all_ms += ms;
  }
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"qgjob\" tests=\"" << all_tests << "\" failures=\"" << all_failures << "\" errors=\""
      << all_errors << "\" skipped=\"" << all_skipped << "\" time=\"" << seconds(all_ms) << "\">\n"
      << suites.str() << "</testsuites>\n";
}

void write_junit_file(const std::string& path, const std::vector<proto::Job>& jobs) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + path);
    write_junit(out, jobs);
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("cannot write " + path + ": " + ec.message());
}

}  // namespace qg::cli

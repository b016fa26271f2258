#pragma once
// JUnit XML for CI systems: one <testsuite> per (org_id, app_version_id) build, one
// <testcase> per job named by its test_path with the app version as classname and the run
// time in seconds. failed, timed_out, error and dead jobs carry <failure message=...> with
// the log tail as text; cancelled jobs are <skipped/>; jobs not final (wait gave up) carry
// <error message="did not finish ...">. Everything is XML-escaped; characters XML 1.0 cannot
// carry (control characters other than tab, newline, carriage return) become U+FFFD.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::cli {

// Escapes & < > " ' and replaces characters XML 1.0 forbids.
std::string xml_escape(std::string_view text);

// Writes the whole document (with the XML declaration) to `out`. Suites appear in the order
// their builds first appear in `jobs`; test cases keep the order of `jobs`.
void write_junit(std::ostream& out, const std::vector<proto::Job>& jobs);

// write_junit() into a file, replaced atomically (written beside it, then renamed). Throws
// std::runtime_error with the path when it cannot be written.
void write_junit_file(const std::string& path, const std::vector<proto::Job>& jobs);

}  // namespace qg::cli

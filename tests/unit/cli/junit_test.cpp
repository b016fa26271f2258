#include <gtest/gtest.h>

#include <sstream>

#include "qg/cli/junit.hpp"

namespace qg::cli {
namespace {

using proto::Job;
using proto::JobStatus;

Job job(std::string id, std::string app, std::string test, JobStatus status, std::int64_t ms = 1500) {
  Job j;
  j.id = std::move(id);
  j.org_id = "acme";
  j.app_version_id = std::move(app);
  j.test_path = std::move(test);
  j.status = status;
  j.duration_ms = ms;
  j.attempt = 1;
  return j;
}

std::string render(const std::vector<Job>& jobs) {
  std::ostringstream out;
  write_junit(out, jobs);
  return out.str();
}

TEST(XmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(xml_escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  EXPECT_EQ(xml_escape("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
}

TEST(XmlEscape, ReplacesCharactersXmlCannotCarry) {
  EXPECT_EQ(xml_escape(std::string("a\x01") + "b\x1b[31m"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD[31m");
  EXPECT_EQ(xml_escape(std::string("\0", 1)), "\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("é ✓"), "é ✓");
}

TEST(Junit, OneSuitePerBuildOneCasePerJob) {
  auto xml = render({job("J1", "v1", "tests/a.spec.ts", JobStatus::passed),
                     job("J2", "v2", "tests/b.spec.ts", JobStatus::passed),
                     job("J3", "v1", "tests/c.spec.ts", JobStatus::passed, 250)});
  EXPECT_NE(xml.find("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), std::string::npos);
  EXPECT_NE(xml.find("<testsuite name=\"acme/v1\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\" "
                     "time=\"1.750\">"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<testsuite name=\"acme/v2\" tests=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase name=\"tests/c.spec.ts\" classname=\"v1\" time=\"0.250\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testsuites name=\"qgjob\" tests=\"3\""), std::string::npos);
}

TEST(Junit, FailuresCarryEscapedMessageAndLogTail) {
  auto failed = job("J1", "v1", "tests/<fail>&.spec.ts", JobStatus::failed);
  failed.exit_code = 1;
  failed.log_tail = "expected <b> & got \"c\"\n";
  auto timed_out = job("J2", "v1", "tests/hang.spec.ts", JobStatus::timed_out);
  timed_out.last_error = "killed after 900 s";
  auto error = job("J3", "v1", "tests/x.spec.ts", JobStatus::error);
  error.last_error = "install failed <exit 1>";
  auto xml = render({failed, timed_out, error});
  EXPECT_NE(xml.find("name=\"tests/&lt;fail&gt;&amp;.spec.ts\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure message=\"failed (exit code 1)\" type=\"failed\">expected &lt;b&gt; &amp; got "
                     "&quot;c&quot;\n</failure>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<failure message=\"timed_out: killed after 900 s\" type=\"timed_out\">"), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"error: install failed &lt;exit 1&gt;\" type=\"error\">"), std::string::npos);
  EXPECT_NE(xml.find("failures=\"3\""), std::string::npos);
  EXPECT_EQ(xml.find("<fail>"), std::string::npos);
}

TEST(Junit, CancelledIsSkippedAndUnfinishedIsAnError) {
  auto xml = render({job("J1", "v1", "a", JobStatus::cancelled), job("J2", "v1", "b", JobStatus::running)});
  EXPECT_NE(xml.find("<skipped message=\"cancelled\"/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<error message=\"did not finish (status running)\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("errors=\"1\" skipped=\"1\""), std::string::npos) << xml;
}

}  // namespace
}  // namespace qg::cli

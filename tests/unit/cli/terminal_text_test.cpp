// Wire text on a terminal: the escaping rules, and qgjob's human output against a fake broker
// whose answers are full of terminal escapes.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "one_shot_broker.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::cli {
namespace {

using namespace std::chrono_literals;

// True when `text` holds a byte a terminal may act on: C0 controls other than '\n', DEL, or the
// UTF-8 form of a C1 control (C2 80..C2 9F).
bool has_raw_control(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F &&
        static_cast<unsigned char>(text[i + 1]) >= 0x80) {
      return true;
    }
  }
  return false;
}

TEST(TerminalText, OrdinaryTextIsUnchanged) {
  EXPECT_EQ(printable("tests/login.spec.ts"), "tests/login.spec.ts");
  EXPECT_EQ(printable("é ü 日本 😀 a\\b"), "é ü 日本 😀 a\\b");
  EXPECT_EQ(printable(""), "");
}

TEST(TerminalText, C0ControlsAndDelAreEscaped) {
  EXPECT_EQ(printable("\x1b[2J\x1b]0;title\x07"), "\\x1b[2J\\x1b]0;title\\x07");
  EXPECT_EQ(printable("ok\rFAIL"), "ok\\x0dFAIL");
  EXPECT_EQ(printable("a\nb\tc\bd\x7f"), "a\\x0ab\\x09c\\x08d\\x7f");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
}

TEST(TerminalText, C1ControlsInUtf8AreEscaped) {
  EXPECT_EQ(printable("x\xc2\x9b"
                      "31mred"),
            "x\\u009b31mred");
  EXPECT_EQ(printable("\xc2\x80\xc2\x9f\xc2\xa0"), "\\u0080\\u009f\xc2\xa0");  // U+00A0 is not a control
}

TEST(TerminalText, DirectionOverridesAreEscaped) {
  EXPECT_EQ(printable("a\xe2\x80\xae"
                      "cba"),
            "a\\u202ecba");
  EXPECT_EQ(printable("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069");
}

TEST(TerminalText, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(printable("\x9b"
                      "31m"),
            "\\x9b31m");                                             // a raw 8-bit CSI
  EXPECT_EQ(printable("\xc3"), "\\xc3");                             // truncated
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
}

TEST(TerminalText, LinesKeepNewlinesAndTabsOnly) {
  EXPECT_EQ(printable_lines("line 1\n\tline 2\r\x1b[1A\n"), "line 1\n\tline 2\\x0d\\x1b[1A\n");
}

TEST(TerminalText, TableCellsAreEscapedAndAligned) {
  std::ostringstream out;
  print_table(out, {"ID", "TEST"}, {{"J\x1b", "a\rb"}, {"J2", "c"}});
  EXPECT_EQ(out.str(), "ID     TEST\nJ\\x1b  a\\x0db\nJ2     c\n");
}

TEST(TerminalText, StatusPrintsHostileJobFieldsEscaped) {
  zmq::context_t context(1);
  OneShotBroker broker(context);
  broker.answer_once([](const std::string& rid) {
    proto::StatusReply reply;
    reply.rid = rid;
    proto::Job j;
    j.id = "J1";
    j.org_id = "acme";
    j.app_version_id = "v1";
    j.test_path = "tests/\x1b[2J\x1b]0;pwned\x07.spec.ts";
    j.status = proto::JobStatus::failed;
    j.attempt = 1;
    j.worker_id =
        "w\xc2\x9b"
        "1m";
    j.last_error = "first line\rOVERWRITTEN\nsecond \x1b[31mline";
    reply.jobs = {j};
    reply.missing = {"J\x1b[0m"};
    return proto::frames_of(proto::kClientProtocol, reply);
  });
  GlobalConfig g;
  g.broker = broker.endpoint();
  g.request_timeout = 5s;
  std::ostringstream out, err;
  StatusConfig c;
  c.job_ids = {"J1", "J2"};
  EXPECT_EQ(run_status(g, c, Io{out, err}), exit_code::failed);
  EXPECT_FALSE(has_raw_control(out.str())) << out.str();
  EXPECT_FALSE(has_raw_control(err.str())) << err.str();
  EXPECT_NE(out.str().find("tests/\\x1b[2J\\x1b]0;pwned\\x07.spec.ts"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("w\\u009b1m"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("J1: first line\\x0dOVERWRITTEN\nsecond \\x1b[31mline\n"), std::string::npos) << out.str();
  EXPECT_NE(err.str().find("J\\x1b[0m"), std::string::npos) << err.str();
}

TEST(TerminalText, ABrokerErrorIsPrintedEscaped) {
  zmq::context_t context(1);
  OneShotBroker broker(context);
  broker.answer_once([](const std::string& rid) {
    proto::ErrorReply e;
    e.rid = rid;
    e.error = {std::string(proto::errc::invalid_field), "bad \x1b[8mhidden", "tests[0]"};
    return proto::frames_of(proto::kClientProtocol, e);
  });
  GlobalConfig g;
  g.broker = broker.endpoint();
  g.request_timeout = 5s;
  std::ostringstream out, err;
  EXPECT_EQ(run_retry(g, "J1", Io{out, err}), exit_code::usage);
  EXPECT_FALSE(has_raw_control(err.str())) << err.str();
  EXPECT_NE(err.str().find("\\x1b[8mhidden"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace qg::cli

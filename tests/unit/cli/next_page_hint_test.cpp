// The next-page hint of `qgjob list` and `qgjob queue` is a command the user can paste: the
// cursor is one shell word (a cursor such as `5|1` printed bare would run as a pipe).
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "one_shot_broker.hpp"
#include "qg/cli/commands.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"

namespace qg::cli {
namespace {

using namespace std::chrono_literals;

// What /bin/sh makes of `word` as the argument of printf %s.
std::string shell_reads(const std::string& word) {
  const std::string command = "printf %s " + word;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "<popen failed>";
  std::string out;
  char buf[256];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

TEST(NextPageHint, ShellWordQuotesWhatAShellWouldInterpret) {
  EXPECT_EQ(shell_word("5|1"), "'5|1'");
  EXPECT_EQ(shell_word("abc-01J0:x/y.z"), "abc-01J0:x/y.z");
  EXPECT_EQ(shell_word(""), "''");
  EXPECT_EQ(shell_word("it's"), "'it'\\''s'");
}

TEST(NextPageHint, AShellReadsEveryShellWordBackUnchanged) {
  for (std::string value : {"5|1", "1718000000000|01J0S0B9Z7E4RT1GQ7K3M5N8PB", "a b", "$(echo x)", "`id`", "a;b&c",
                            "it's", "''", "*", "~", "a\\b", "-n", "x>y<z", "#c", "!x", "{a,b}"}) {
    EXPECT_EQ(shell_reads(shell_word(value)), value) << shell_word(value);
  }
}

TEST(NextPageHint, ListPrintsItsCursorAsOneShellWord) {
  zmq::context_t context(1);
  OneShotBroker broker(context);
  broker.answer_once([](const std::string& rid) {
    proto::ListReply reply;
    reply.rid = rid;
    reply.next_cursor = "5|1";
    return proto::frames_of(proto::kClientProtocol, reply);
  });
  GlobalConfig g;
  g.broker = broker.endpoint();
  g.request_timeout = 5s;
  std::ostringstream out, err;
  ListConfig c;
  c.limit = 1;
  EXPECT_EQ(run_list(g, c, Io{out, err}), exit_code::ok);
  EXPECT_NE(err.str().find("more: qgjob list --cursor '5|1' ..."), std::string::npos) << err.str();
}

TEST(NextPageHint, QueuePrintsItsCursorAsOneShellWord) {
  zmq::context_t context(1);
  OneShotBroker broker(context);
  broker.answer_once([](const std::string& rid) {
    proto::QueueReply reply;
    reply.rid = rid;
    reply.next_cursor = "7|acme/v1|emulator";
    return proto::frames_of(proto::kClientProtocol, reply);
  });
  GlobalConfig g;
  g.broker = broker.endpoint();
  g.request_timeout = 5s;
  std::ostringstream out, err;
  QueueConfig c;
  EXPECT_EQ(run_queue(g, c, Io{out, err}), exit_code::ok);
  EXPECT_NE(err.str().find("more: qgjob queue --cursor '7|acme/v1|emulator'\n"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace qg::cli

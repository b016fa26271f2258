// qg-broker as a process, on network exposure: a network endpoint without --insecure ends it
// at start with the reason (before it waits for anything), and with --insecure it serves and
// says at start what that risks. Network endpoints here are bound on port 0 only, and every
// request goes to 127.0.0.1.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::bin_dir;

std::vector<std::string> broker_argv(const std::string& client_endpoint, std::vector<std::string> extra) {
  std::vector<std::string> argv = {bin_dir() + "/qg-broker", "--client-endpoint", client_endpoint,
                                   "--worker-endpoint",      "tcp://127.0.0.1:0", "--events-in",
                                   "tcp://127.0.0.1:0",      "--events-out",      "tcp://127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(BrokerProcessExposure, ANetworkEndpointEndsTheBrokerAtStartWithTheReason) {
  const auto result = qg::testing::run_command(broker_argv("tcp://0.0.0.0:0", {"--store", "memory"}), 10s);
  EXPECT_EQ(result.exit_code, 3) << result.output << result.error;
  EXPECT_NE(result.error.find("refusing to bind tcp://0.0.0.0:0 (clients)"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("--insecure"), std::string::npos) << result.error;
}

TEST(BrokerProcessExposure, TheRefusalComesBeforeWaitingForRedis) {
  const std::string absent_redis = "redis://127.0.0.1:" + std::to_string(qg::testing::free_port());
  const auto result = qg::testing::run_command(broker_argv("tcp://*:0", {"--redis-url", absent_redis}), 10s);
  EXPECT_EQ(result.exit_code, 3) << result.output << result.error;
  EXPECT_NE(result.error.find("refusing to bind tcp://*:0 (clients)"), std::string::npos) << result.error;
  EXPECT_LT(result.elapsed, 5s);
}

TEST(BrokerProcessExposure, WithInsecureItServesAndWarnsWhatAnyoneCanDo) {
  qg::testing::TempDir dir;
  const std::string log_path = dir.path() + "/broker.log";
  qg::testing::ChildProcess broker(broker_argv("tcp://0.0.0.0:0", {"--store", "memory", "--insecure"}), log_path);
  const auto log = [&] {
    std::ifstream in(log_path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  static const std::regex serving("serving clients on tcp://0\\.0\\.0\\.0:([0-9]+)");
  std::smatch match;
  std::string text;
  ASSERT_TRUE(qg::testing::wait_until(
      [&] {
        text = log();
        return std::regex_search(text, match, serving);
      },
      10s, 10ms))
      << text;
  const std::string port = match[1];
  EXPECT_NE(text.find("--insecure: tcp://0.0.0.0:0 (clients) accept connections from the network"), std::string::npos)
      << text;
  EXPECT_NE(text.find("forge results"), std::string::npos) << text;

  const auto health = qg::testing::run_command(
      {bin_dir() + "/qgjob", "--broker", "tcp://127.0.0.1:" + port, "health", "--request-timeout", "5"}, 10s);
  EXPECT_EQ(health.exit_code, 0) << health.output << health.error;

  broker.signal(SIGTERM);
  EXPECT_EQ(broker.wait(5s), 0) << log();
}

}  // namespace

// Redis down under the real binaries: `qgjob status` and `qgjob health` say the store is
// unreachable (not the broker), exit as documented (status 3, health 1) and crash nothing; the
// broker logs "store reachable again" only once a store round trip has worked, never while
// Redis is still down (a health request that answered "store unreachable" is no proof).
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "cluster.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

TEST(EndToEndStoreDown, StatusAndHealthSayTheStoreIsDownAndTheBrokerLogsItsReturnOnlyAfterARoundTrip) {
  Cluster cluster;
  auto submitted = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output << submitted.error;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(submitted.output, match, std::regex("[0-9A-HJKMNP-TV-Z]{26}"))) << submitted.output;
  const std::string id = match.str();

  cluster.redis()->kill();
  // Requests answered while Redis stays away for more than a second (the broker asks the
  // store again at most once a second): each says so, none brings a false recovery.
  const auto down_until = std::chrono::steady_clock::now() + 2500ms;
  int rounds = 0;
  while (std::chrono::steady_clock::now() < down_until && rounds < 50) {
    ++rounds;
    auto status = cluster.qgjob({"status", "--job-id", id});
    EXPECT_EQ(status.exit_code, 3) << status.output << status.error;
    EXPECT_NE(status.error.find("qgjob: the broker refused the request: UNAVAILABLE: store unreachable"),
              std::string::npos)
        << status.error;
    EXPECT_EQ(status.error.find("cannot reach the broker"), std::string::npos) << status.error;
    EXPECT_EQ(status.output, "");

    auto health = cluster.qgjob({"health"});
    EXPECT_EQ(health.exit_code, 1) << health.output << health.error;
    EXPECT_NE(health.output.find("(UNREACHABLE)"), std::string::npos) << health.output;
    EXPECT_NE(health.error.find("qgjob: broker is not healthy: store unreachable"), std::string::npos) << health.error;

    auto json = cluster.qgjob({"health", "--json"});
    EXPECT_EQ(json.exit_code, 1) << json.output << json.error;
    EXPECT_NE(json.output.find("\"store_reachable\":false"), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"ok\":false"), std::string::npos) << json.output;
  }
  EXPECT_GE(rounds, 2);
  EXPECT_TRUE(cluster.broker(0).running()) << cluster.log("broker-0");
  EXPECT_TRUE(cluster.scheduler(0).running()) << cluster.log("scheduler-0");
  const std::string while_down = cluster.log("broker-0");
  EXPECT_NE(while_down.find("store unreachable"), std::string::npos) << while_down;
  EXPECT_EQ(while_down.find("store reachable again"), std::string::npos) << while_down;

  cluster.redis()->start();
  ASSERT_TRUE(qg::testing::wait_until([&] { return cluster.qgjob({"health"}).exit_code == 0; }, 30s, 200ms))
      << cluster.log("broker-0");
  // Logged once, after the outage's last line.
  std::string after;
  ASSERT_TRUE(qg::testing::wait_until(
      [&] {
        after = cluster.log("broker-0");
        return after.find("store reachable again") != std::string::npos;
      },
      10s, 100ms))
      << after;
  EXPECT_EQ(count_of(after, "store reachable again"), 1u) << after;
  EXPECT_GT(after.find("store reachable again"), after.rfind("store unreachable")) << after;
}

}  // namespace

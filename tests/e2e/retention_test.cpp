// Retention and a full store with the real binaries: a finished job's every key leaves Redis
// after --retention (Redis scanned for its ids afterwards) and its STATUS then says expired;
// a Redis at maxmemory refuses submits with STORE_FULL, never INTERNAL, while a job
// acknowledged before it filled still runs.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;

std::vector<std::string> ids_in(const std::string& text) {
  std::vector<std::string> out;
  const std::regex id("[0-9A-HJKMNP-TV-Z]{26}");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id); it != std::sregex_iterator(); ++it) {
    out.push_back(it->str());
  }
  return out;
}

class RedisPeek {
 public:
  explicit RedisPeek(const std::string& url)
      : conn_(qg::RedisAddress::parse(url), qg::RedisOptions{}, qg::null_logger()) {}
  qg::RedisValue operator()(std::vector<std::string> args) { return conn_.command(args); }

  // Keys whose name or contents (read by type) mention any of `needles`.
  std::set<std::string> keys_naming(const std::vector<std::string>& needles) {
    std::set<std::string> out;
    std::string cursor = "0";
    for (int page = 0; page < 10000; ++page) {
      const auto reply = (*this)({"SCAN", cursor, "COUNT", "1000"});
      cursor = reply[0].str();
      for (const auto& k : reply[1].array()) {
        const std::string key = k.str();
        std::string contents = key;
        const std::string type = (*this)({"TYPE", key}).str();
        std::vector<std::string> read;
        if (type == "string") read = {"GET", key};
        if (type == "list") read = {"LRANGE", key, "0", "-1"};
        if (type == "zset") read = {"ZRANGE", key, "0", "-1"};
        if (type == "hash") read = {"HGETALL", key};
        if (type == "set") read = {"SMEMBERS", key};
        if (!read.empty()) {
          const auto v = (*this)(read);
          if (v.is_array()) {
            for (const auto& e : v.array()) contents += " " + e.opt_str().value_or("");
          } else {
            contents += " " + v.opt_str().value_or("");
          }
        }
        for (const auto& n : needles) {
          if (contents.find(n) != std::string::npos) out.insert(key);
        }
      }
      if (cursor == "0") break;
    }
    return out;
  }

 private:
  qg::RedisConnection conn_;
};

TEST(EndToEndRetention, AFinishedJobsEveryKeyLeavesRedisAndItsStatusSaysExpired) {
  ClusterOptions options;
  options.scheduler_args = {"--retention", "2s", "--dead-retention", "2s"};
  options.broker_args = {"--retention", "2s", "--dead-retention", "2s"};
  Cluster cluster(options);
  qg::testing::WorkerOptions worker;
  worker.worker_id = "w1";
  cluster.add_worker(worker);
  auto suite = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts", "--test",
                              "b.spec.ts", "--wait", "--timeout", "60"},
                             90s);
  ASSERT_EQ(suite.exit_code, 0) << suite.output << suite.error;
  auto single = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b2", "--test", "c.spec.ts",
                               "--idempotency-key", "release-42", "--wait", "--timeout", "60"},
                              90s);
  ASSERT_EQ(single.exit_code, 0) << single.output << single.error;
  auto ids = ids_in(suite.output + single.output);
  ASSERT_GE(ids.size(), 3u) << suite.output << single.output;
  auto status = cluster.qgjob({"status", "--json", "--job-id", ids.back()});
  ASSERT_EQ(status.exit_code, 0) << status.output << status.error;

  RedisPeek redis(cluster.redis_url());
  ASSERT_FALSE(redis.keys_naming(ids).empty()) << "the jobs are in Redis while kept";
  std::set<std::string> left;
  const bool gone = qg::testing::wait_until(
      [&] {
        left = redis.keys_naming(ids);
        return left.empty();
      },
      30s, 200ms);
  std::string listed;
  for (const auto& k : left) listed += " " + k;
  EXPECT_TRUE(gone) << "keys still naming the jobs:" << listed << "\n" << cluster.log("scheduler-0");
  EXPECT_TRUE(redis.keys_naming({"release-42"}).empty()) << "the idempotency key went with its job";

  auto expired = cluster.qgjob({"status", "--job-id", ids.back()});
  EXPECT_NE(expired.exit_code, 0);
  EXPECT_NE(expired.error.find("expired"), std::string::npos) << expired.output << expired.error;
  auto json = cluster.qgjob({"status", "--json", "--job-id", ids.back()});
  EXPECT_NE(json.output.find("\"expired\":[\"" + ids.back() + "\"]"), std::string::npos) << json.output;
  // An id that is not of the store's form is unknown, not expired.
  auto unknown = cluster.qgjob({"status", "--job-id", "no-such-job"});
  EXPECT_EQ(unknown.error.find("expired"), std::string::npos) << unknown.error;
  EXPECT_NE(unknown.error.find("no such job"), std::string::npos) << unknown.error;
}

TEST(EndToEndRetention, AFullRedisRefusesSubmitsWithStoreFullAndLosesNothingAcknowledged) {
  ClusterOptions options;
  options.redis_args = {"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"};
  Cluster cluster(options);
  RedisPeek redis(cluster.redis_url());

  auto first = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "before", "--test", "kept.spec.ts"});
  ASSERT_EQ(first.exit_code, 0) << first.output << first.error;
  const auto kept = ids_in(first.output);
  ASSERT_FALSE(kept.empty()) << first.output;

  // Fill Redis with device jobs (no worker serves devices) until a submit is refused.
  const std::string long_path = "tests/" + std::string(400, 'p') + ".spec.ts";
  std::size_t acknowledged = 1;
  qg::testing::CommandResult refused;
  for (int i = 0; i < 200 && refused.exit_code == -1; ++i) {
    std::vector<std::string> args = {"submit",   "--org-id", "acme", "--app-version-id", "fill-" + std::to_string(i),
                                     "--target", "device"};
    for (int t = 0; t < 200; ++t) {
      args.push_back("--test");
      args.push_back(long_path + std::to_string(t));
    }
    auto r = cluster.qgjob(args);
    if (r.exit_code == 0) {
      acknowledged += 200;
    } else {
      refused = r;
    }
  }
  ASSERT_NE(refused.exit_code, -1) << "Redis never filled";
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.error.find("STORE_FULL"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("maxmemory"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("--retention"), std::string::npos) << refused.error;
  EXPECT_EQ(refused.error.find("INTERNAL"), std::string::npos) << refused.error;
  EXPECT_EQ(refused.error.find("EXECABORT"), std::string::npos) << refused.error;
  EXPECT_TRUE(ids_in(refused.output).empty()) << "a refused submit prints no job id: " << refused.output;
  // Exactly the acknowledged jobs are stored: nothing of the refused submission.
  EXPECT_EQ(redis({"KEYS", "qg:j:*"}).size(), acknowledged);

  // The job acknowledged before the store filled still runs to its end.
  qg::testing::WorkerOptions worker;
  worker.worker_id = "w1";
  cluster.add_worker(worker);
  auto waited = cluster.qgjob({"wait", "--job-id", kept[0], "--timeout", "60"}, 90s);
  EXPECT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("broker-0");

  // With room again, submits go through.
  redis({"CONFIG", "SET", "maxmemory", "0"});
  auto after = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "after", "--test", "t.spec.ts"});
  EXPECT_EQ(after.exit_code, 0) << after.output << after.error;
  EXPECT_NE(cluster.log("broker-0").find("store accepts writes again"), std::string::npos) << cluster.log("broker-0");
}

}  // namespace

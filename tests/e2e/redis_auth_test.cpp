// qg-broker and qg-scheduler as processes against a Redis that wants credentials: a password
// in --redis-url, an ACL user with --redis-password-file, and refusals that end the process
// at start with exit 3. No password ever reaches their output.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "cluster.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;

// Submits one test of `app` and waits for it; true when it passed.
bool one_job_runs(Cluster& cluster, const std::string& app) {
  auto submitted = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", app, "--test", "t.spec.ts"});
  EXPECT_EQ(submitted.exit_code, 0) << submitted.output << submitted.error;
  std::smatch id;
  if (!std::regex_search(submitted.output, id, std::regex("[0-9A-HJKMNP-TV-Z]{26}"))) return false;
  auto waited = cluster.qgjob({"wait", "--job-id", id.str(), "--timeout", "60"}, 90s);
  EXPECT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("broker-0");
  return waited.exit_code == 0;
}

qg::testing::WorkerOptions one_worker() {
  qg::testing::WorkerOptions options;
  options.worker_id = "w1";
  return options;
}

std::string write_password_file(const std::string& dir, const std::string& password) {
  const auto path = dir + "/redis-password";
  std::ofstream(path) << password << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

TEST(EndToEndRedisAuth, APasswordInTheUrlWorksAndStaysOutOfTheLogs) {
  const std::string secret = "e2e-url-secret-4711";
  ClusterOptions options;
  options.redis_args = {"--requirepass", secret};
  options.redis_userinfo = ":" + secret;
  Cluster cluster(options);
  cluster.add_worker(one_worker());
  EXPECT_TRUE(one_job_runs(cluster, "build-A"));
  const auto broker_log = cluster.log("broker-0");
  EXPECT_NE(broker_log.find("redis://:***@127.0.0.1:"), std::string::npos) << broker_log;
  for (const auto& name : {"broker-0", "scheduler-0"}) {
    EXPECT_EQ(cluster.log(name).find(secret), std::string::npos) << name << ":\n" << cluster.log(name);
  }
}

TEST(EndToEndRedisAuth, AnAclUserWithAPasswordFileWorksAndStaysOutOfTheLogs) {
  const std::string secret = "e2e-file-secret-0815";
  qg::testing::TempDir secrets;
  const auto file = write_password_file(secrets.path(), secret);
  ClusterOptions options;
  // Keys and channels limited to the store's prefix (qg:), as docs/operations.md suggests.
  options.redis_args = {
      "--requirepass", "default-user-secret", "--user", "qg-e2e", "on", ">" + secret, "~qg:*", "&qg:*", "+@all"};
  options.redis_userinfo = "qg-e2e:stale-url-secret";  // the file's password wins
  options.broker_args = {"--redis-password-file", file};
  options.scheduler_args = {"--redis-password-file", file};
  Cluster cluster(options);
  cluster.add_worker(one_worker());
  EXPECT_TRUE(one_job_runs(cluster, "build-B"));
  for (const auto& name : {"broker-0", "scheduler-0"}) {
    const auto text = cluster.log(name);
    EXPECT_EQ(text.find(secret), std::string::npos) << name << ":\n" << text;
    EXPECT_EQ(text.find("stale-url-secret"), std::string::npos) << name << ":\n" << text;
  }
}

TEST(EndToEndRedisAuth, RefusedCredentialsEndBrokerAndSchedulerAtStartWithExit3) {
  qg::testing::RedisServer redis(false, "everysec", {"--requirepass", "the-right-one"});
  const std::string url = "redis://:wrong-e2e-secret@127.0.0.1:" + std::to_string(redis.port());
  const auto port = [] { return "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port()); };
  const auto bin = qg::testing::bin_dir();
  auto broker = qg::testing::run_command({bin + "/qg-broker", "--redis-url", url, "--client-endpoint", port(),
                                          "--worker-endpoint", port(), "--events-in", port(), "--events-out", port()},
                                         10s);
  auto scheduler = qg::testing::run_command({bin + "/qg-scheduler", "--redis-url", url, "--events", ""}, 10s);
  for (const auto* result : {&broker, &scheduler}) {
    EXPECT_EQ(result->exit_code, 3) << result->output << result->error;
    EXPECT_NE(result->error.find("refused the credentials for the default user"), std::string::npos) << result->error;
    EXPECT_EQ((result->output + result->error).find("wrong-e2e-secret"), std::string::npos) << result->error;
  }
}

TEST(EndToEndRedisAuth, APasswordFileFromTheEnvironmentThatIsMissingIsAConfigError) {
  qg::testing::TempDir dir;
  const auto missing = dir.path() + "/no-such-password";
  auto result = qg::testing::run_command(
      {qg::testing::bin_dir() + "/qg-scheduler", "--redis-url", "redis://127.0.0.1:1", "--events", ""}, 10s,
      {{"QG_REDIS_PASSWORD_FILE", missing}});
  EXPECT_EQ(result.exit_code, 3) << result.output << result.error;
  EXPECT_NE(result.error.find(missing), std::string::npos) << result.error;
}

}  // namespace

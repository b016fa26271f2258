// What a worker does with input it must not trust: an ASSIGN whose fields break the protocol's
// rules runs nothing, the job's values reach the command through the environment, secrets in
// the environment are masked in what it reports, and unsafe settings stop it at construction.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "worker_fixture.hpp"

namespace qg::worker {
namespace {

using namespace std::chrono_literals;
using proto::JobStatus;
using test::assign;
using test::WorkerTest;

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

TEST_F(WorkerTest, AJobThatBreaksTheRulesIsAnErrorAndRunsNothing) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts", "tests/\x1b]0;owned\x07.spec.ts", "-rf"}));
  auto reports = broker.collect_reports(3);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::passed);
  for (const char* id : {"Jv11", "Jv12"}) {
    EXPECT_EQ(reports[id].status, JobStatus::error) << id;
    EXPECT_NE(reports[id].error.find("refused"), std::string::npos) << reports[id].error;
    EXPECT_NE(reports[id].error.find("test_path"), std::string::npos) << reports[id].error;
    EXPECT_EQ(reports[id].log_tail, "");
  }
  EXPECT_EQ(stop_and_join(), 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/logs/Jv10.1.log"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/logs/Jv11.1.log"));
}

TEST_F(WorkerTest, AGroupWithABadBuildIdIsRefusedWholeWithoutInstalling) {
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "..", {"tests/a.spec.ts", "tests/b.spec.ts"}));
  auto reports = broker.collect_reports(2);
  ASSERT_EQ(reports.size(), 2u);
  for (const auto& [id, r] : reports) {
    EXPECT_EQ(r.status, JobStatus::error) << id;
    EXPECT_NE(r.error.find("app_version_id"), std::string::npos) << r.error;
  }
  // The worker is free again: it pulls for the next group.
  EXPECT_TRUE(broker.expect_decoded<proto::Pull>().has_value());
  EXPECT_EQ(stop_and_join(), 0);
  EXPECT_EQ(worker->counters().installs_run, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/installs.log"));
}

TEST_F(WorkerTest, TheCommandReadsTheJobFromItsEnvironment) {
  settings.run_cmd =
      "sh -c 'echo \"$QG_JOB_ID|$QG_JOB_TEST_PATH|$QG_JOB_APP_VERSION_ID|$QG_JOB_ORG_ID|$QG_JOB_TARGET\"'";
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/a b;$(id).spec.ts"}));
  auto reports = broker.collect_reports(1);
  EXPECT_EQ(reports["Jv10"].log_tail, "Jv10|tests/a b;$(id).spec.ts|v1|acme|emulator\n");
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, SecretsInTheEnvironmentAreMaskedInTheLogTail) {
  ScopedEnv token("QG_UNIT_API_TOKEN", "tok-0123456789");
  ScopedEnv custom("QG_UNIT_DEPLOY_CRED", "cred-abcdef");
  settings.mask_env = {"*_cred"};
  settings.run_cmd = "echo token $QG_UNIT_API_TOKEN cred $QG_UNIT_DEPLOY_CRED; exit 1";
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts"}));
  auto reports = broker.collect_reports(1);
  EXPECT_EQ(reports["Jv10"].status, JobStatus::failed);
  EXPECT_EQ(reports["Jv10"].log_tail, "token *** cred ***\n");
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, DefaultMasksCanBeTurnedOff) {
  ScopedEnv token("QG_UNIT_API_TOKEN", "tok-0123456789");
  settings.default_masks = false;
  settings.run_cmd = "echo token $QG_UNIT_API_TOKEN";
  start();
  auto pull = broker.handshake();
  broker.reply(assign(pull, "v1", {"tests/a.spec.ts"}));
  EXPECT_EQ(broker.collect_reports(1)["Jv10"].log_tail, "token tok-0123456789\n");
  EXPECT_EQ(stop_and_join(), 0);
}

TEST_F(WorkerTest, AnUnsafeTemplateOrDeviceIdStopsTheWorkerBeforeItStarts) {
  settings.run_cmd = "npx appwright test '{test_path}'";
  EXPECT_THROW(Worker(settings, context, null_logger()), UnsafeTemplate);
  settings.run_cmd = "true";
  settings.install_cmd = "sh -c {app_version_id}";
  EXPECT_THROW(Worker(settings, context, null_logger()), UnsafeTemplate);
  settings.install_cmd.clear();
  settings.device_id = "dev\x1b[2J";
  EXPECT_THROW(Worker(settings, context, null_logger()), ConfigError);
}

}  // namespace
}  // namespace qg::worker

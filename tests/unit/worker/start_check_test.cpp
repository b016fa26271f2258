// The qg-worker binary's start-up refusals: an unsafe command template exits 2 before anything
// connects, with a message that shows the safe forms; the README's example starts.
#include <gtest/gtest.h>

#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;

// Runs qg-worker with `args` against a port nobody listens on; exit code -1 = still running
// after `timeout` (then killed).
qg::testing::CommandResult start_worker(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10s) {
  qg::testing::TempDir dir;
  std::vector<std::string> argv = {qg::testing::bin_dir() + "/qg-worker", "--broker",
                                   "tcp://127.0.0.1:" + std::to_string(qg::testing::free_port()), "--workdir",
                                   dir.path() + "/w"};
  argv.insert(argv.end(), args.begin(), args.end());
  return qg::testing::run_command(argv, timeout);
}

TEST(WorkerStartCheck, AQuotedPlaceholderExitsTwoShowingTheSafeForms) {
  auto result = start_worker({"--run-cmd", "npx appwright test '{test_path}'"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.error.find("--run-cmd puts {test_path} inside quotes"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("sh -c 'npx appwright test \"$QG_JOB_TEST_PATH\"'"), std::string::npos) << result.error;
}

TEST(WorkerStartCheck, APlaceholderInShellCTextExitsTwo) {
  auto result = start_worker({"--install-cmd", "bash -c \"adb install {app_version_id}.apk\"", "--run-cmd", "true"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.error.find("--install-cmd"), std::string::npos) << result.error;
}

TEST(WorkerStartCheck, TheReadmeExampleIsAccepted) {
  auto result = start_worker(
      {"--device-id", "emulator-5554", "--install-cmd", "adb -s {device_id} install -r builds/{app_version_id}.apk",
       "--run-cmd", "npx appwright test {test_path} --project {target}"},
      1500ms);
  EXPECT_EQ(result.exit_code, -1) << "it should still be running, waiting for the broker: " << result.error;
}

}  // namespace

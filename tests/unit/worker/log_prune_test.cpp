// prune_logs: old per-job logs go, recent ones and other files stay, at most `max` per call.

#include "qg/worker/log_prune.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "qg/testing/process.hpp"

namespace qg::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(LogPrune, DeletesLogsOlderThanTheRetentionAtMostMaxPerCall) {
  qg::testing::TempDir dir;
  const auto now = fs::file_time_type::clock::now();
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::file_clock::to_sys(now).time_since_epoch())
          .count();
  auto make = [&](const std::string& name, std::chrono::hours age) {
    const auto path = fs::path(dir.path()) / name;
    std::ofstream(path) << "output\n";
    fs::last_write_time(path, now - age);
    return path;
  };
  const auto old1 = make("JOB1.1.log", 200h);
  const auto old2 = make("JOB2.1.log", 190h);
  const auto old3 = make("install-a-b-L.log", 170h);
  const auto fresh = make("JOB3.1.log", 1h);
  const auto other = make("installed-builds.txt", 500h);
  fs::create_directory(fs::path(dir.path()) / "sub.log");

  auto first = prune_logs(dir.path(), 168h, now_ms, 2);
  EXPECT_EQ(first.deleted, 2u);
  EXPECT_TRUE(first.more);
  auto second = prune_logs(dir.path(), 168h, now_ms, 2);
  EXPECT_EQ(second.deleted, 1u);
  EXPECT_FALSE(second.more);
  EXPECT_FALSE(fs::exists(old1) || fs::exists(old2) || fs::exists(old3));
  EXPECT_TRUE(fs::exists(fresh)) << "a log younger than the retention stays";
  EXPECT_TRUE(fs::exists(other)) << "only *.log files are the worker's logs";
  EXPECT_TRUE(fs::is_directory(fs::path(dir.path()) / "sub.log"));
  EXPECT_EQ(prune_logs(dir.path() + "/missing", 168h, now_ms, 10).deleted, 0u);
}

}  // namespace
}  // namespace qg::worker

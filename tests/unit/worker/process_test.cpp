#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "qg/common/clock.hpp"
#include "qg/testing/process.hpp"
#include "qg/worker/log_tail.hpp"
#include "qg/worker/process.hpp"

namespace qg::worker {
namespace {

using namespace std::chrono_literals;

// Alive means present and not a zombie (an orphaned zombie may linger until init reaps it).
bool alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = content.rfind(')');
  return paren != std::string::npos && paren + 2 < content.size() && content[paren + 2] != 'Z';
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ProcessTest : ::testing::Test {
  qg::testing::TempDir dir;
  std::string log = dir.path() + "/job.log";
  CommandSpec spec(std::string command, std::chrono::milliseconds timeout = 0ms) {
    CommandSpec s;
    s.command = std::move(command);
    s.log_path = log;
    s.timeout = timeout;
    s.kill_grace = 200ms;
    return s;
  }
};

TEST_F(ProcessTest, ExitZeroIsAnOrdinaryExit) {
  auto out = run_to_completion(spec("echo hello; echo oops >&2"));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::exited);
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(read_file(log), "hello\noops\n");
}

TEST_F(ProcessTest, NonZeroExitIsReported) {
  auto out = run_to_completion(spec("echo failing; exit 7"));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::exited);
  EXPECT_EQ(out.exit_code, 7);
  EXPECT_EQ(tail_file(log), "failing\n");
}

TEST_F(ProcessTest, AProgramEndedByASignalIsReportedWithThatSignal) {
  auto out = run_to_completion(spec("kill -USR1 $$"));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::signalled);
  EXPECT_EQ(out.exit_code, 128 + SIGUSR1);
}

// The program gets stdin, stdout and stderr, and none of the worker's other descriptors: not
// a file it left open without close-on-exec, nor the pipe its guard watches.
TEST_F(ProcessTest, TheProgramInheritsOnlyItsStandardStreams) {
  const std::string marker = dir.path() + "/worker-only";
  const int stray = ::open(marker.c_str(), O_WRONLY | O_CREAT, 0644);  // not close-on-exec
  ASSERT_GE(stray, 0);
  const std::string pid_file = dir.path() + "/pid";
  RunningCommand cmd(spec("echo $$ > " + pid_file + ".tmp; mv " + pid_file + ".tmp " + pid_file + "; exec sleep 30"));
  ::close(stray);
  ASSERT_TRUE(qg::testing::wait_until([&] { return !read_file(pid_file).empty(); }, 5s));
  const int program = std::stoi(read_file(pid_file));
  std::set<std::string> targets;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(program) + "/fd")) {
    std::error_code ec;
    targets.insert(std::filesystem::read_symlink(entry.path(), ec).string());
  }
  EXPECT_EQ(targets.count(marker), 0u);
  EXPECT_TRUE(
      std::none_of(targets.begin(), targets.end(), [](const std::string& t) { return t.rfind("pipe:", 0) == 0; }));
  EXPECT_EQ(targets.count(log), 1u);
}

// A killed guard takes the program with it (it dies with its parent, the group's leader).
TEST_F(ProcessTest, TheGroupsLeaderIsAGuardThatTheProgramDiesWith) {
  RunningCommand cmd(
      spec("echo $$ > " + dir.path() + "/pid.tmp; mv " + dir.path() + "/pid.tmp " + dir.path() + "/pid; sleep 30"));
  ASSERT_TRUE(qg::testing::wait_until([&] { return !read_file(dir.path() + "/pid").empty(); }, 5s));
  const int program = std::stoi(read_file(dir.path() + "/pid"));
  EXPECT_NE(program, cmd.pid());
  EXPECT_EQ(getpgid(program), cmd.pid());
  ::kill(cmd.pid(), SIGKILL);
  EXPECT_TRUE(qg::testing::wait_until([&] { return !alive(program); }, 5s));
  auto outcome = cmd.wait_for(5s);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->exit_code, 128 + SIGKILL);
}

TEST_F(ProcessTest, ExtraEnvironmentReachesTheCommand) {
  auto s = spec("printf '%s' \"$QG_JOB_TEST_PATH\"");
  s.env["QG_JOB_TEST_PATH"] = "a b.ts";
  EXPECT_EQ(run_to_completion(s).exit_code, 0);
  EXPECT_EQ(read_file(log), "a b.ts");
}

TEST_F(ProcessTest, AnArgvRunsWithoutAShell) {
  auto s = spec("");
  s.argv = {"printf", "%s|", "$HOME; echo no", "a b"};
  EXPECT_EQ(run_to_completion(s).exit_code, 0);
  EXPECT_EQ(read_file(log), "$HOME; echo no|a b|");
}

TEST_F(ProcessTest, AnArgvProgramIsLookedUpInThePathOfTheChildEnvironment) {
  {
    std::ofstream script(dir.path() + "/qg-test-tool");
    script << "#!/bin/sh\necho tool \"$1\"\n";
  }
  ASSERT_EQ(::chmod((dir.path() + "/qg-test-tool").c_str(), 0755), 0);
  auto s = spec("");
  s.argv = {"qg-test-tool", "x y"};
  s.env["PATH"] = "/nonexistent:" + dir.path() + ":/usr/bin:/bin";
  EXPECT_EQ(run_to_completion(s).exit_code, 0);
  EXPECT_EQ(read_file(log), "tool x y\n");
}

TEST_F(ProcessTest, AMissingOrUnrunnableProgramExitsLikeAShellWouldSay) {
  auto s = spec("");
  s.argv = {"qg-no-such-program-here"};
  EXPECT_EQ(run_to_completion(s).exit_code, 127);
  EXPECT_NE(read_file(log).find("command not found: qg-no-such-program-here"), std::string::npos);
  std::ofstream(dir.path() + "/not-executable") << "data\n";
  s.argv = {dir.path() + "/not-executable"};
  EXPECT_EQ(run_to_completion(s).exit_code, 126);
}

TEST_F(ProcessTest, RunsInItsOwnProcessGroup) {
  RunningCommand cmd(spec("sleep 5"));
  EXPECT_EQ(getpgid(cmd.pid()), cmd.pid());
  EXPECT_NE(getpgid(cmd.pid()), getpgrp());
}

TEST_F(ProcessTest, TimeoutKillsTheWholeProcessGroup) {
  auto out = run_to_completion(spec("sleep 100 & echo $!; sleep 100", 300ms));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::timed_out);
  EXPECT_GE(out.duration_ms, 300);
  EXPECT_LT(out.duration_ms, 5000);
  auto background = std::stoi(read_file(log));
  EXPECT_TRUE(qg::testing::wait_until([&] { return !alive(background); }, 5s)) << "background sleep survived";
}

TEST_F(ProcessTest, TermIgnoringCommandIsKilledAfterTheGrace) {
  auto out = run_to_completion(spec("trap '' TERM; sleep 100 & echo $!; wait", 200ms));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::timed_out);
  EXPECT_EQ(out.exit_code, 128 + SIGKILL);
  auto background = std::stoi(read_file(log));
  EXPECT_TRUE(qg::testing::wait_until([&] { return !alive(background); }, 5s));
}

TEST_F(ProcessTest, CancelStopsTheCommandPromptly) {
  RunningCommand cmd(spec("sleep 100"));
  EXPECT_FALSE(cmd.poll().has_value());
  cmd.cancel();
  std::optional<CommandOutcome> out;
  ASSERT_TRUE(qg::testing::wait_until([&] { return (out = cmd.poll()).has_value(); }, 5s));
  EXPECT_EQ(out->kind, CommandOutcome::Kind::cancelled);
  EXPECT_LT(out->duration_ms, 1000);
}

TEST_F(ProcessTest, LeftoverBackgroundProcessesDieWithTheLeader) {
  auto out = run_to_completion(spec("sleep 100 & echo $!; exit 0"));
  EXPECT_EQ(out.kind, CommandOutcome::Kind::exited);
  auto background = std::stoi(read_file(log));
  EXPECT_TRUE(qg::testing::wait_until([&] { return !alive(background); }, 5s));
}

TEST_F(ProcessTest, DestructorKillsARunningCommand) {
  int pid = 0;
  {
    RunningCommand cmd(spec("sleep 100"));
    pid = cmd.pid();
    EXPECT_TRUE(alive(pid));
  }
  EXPECT_FALSE(alive(pid));
}

TEST_F(ProcessTest, UnwritableLogFileThrows) {
  auto s = spec("true");
  s.log_path = dir.path() + "/missing/dir/job.log";
  EXPECT_THROW(RunningCommand{s}, std::system_error);
}

TEST_F(ProcessTest, ExitFdBecomesReadableWhenTheCommandEnds) {
  RunningCommand cmd(spec("exit 4"));
  ASSERT_GE(cmd.exit_fd(), 0) << "this kernel has no pidfd_open";
  pollfd item{cmd.exit_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&item, 1, 10'000), 1);
  auto out = cmd.poll();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->exit_code, 4);
  EXPECT_EQ(cmd.exit_fd(), -1);  // closed with the outcome: nothing left to wait for
}

TEST_F(ProcessTest, ExitFdStaysQuietWhileTheCommandRuns) {
  RunningCommand cmd(spec("sleep 100"));
  ASSERT_GE(cmd.exit_fd(), 0);
  pollfd item{cmd.exit_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&item, 1, 0), 0);
  cmd.cancel();
  ASSERT_EQ(::poll(&item, 1, 10'000), 1);
  ASSERT_TRUE(cmd.poll().has_value());
}

TEST_F(ProcessTest, NextDeadlineIsTheTimeoutThenTheEndOfTheKillGrace) {
  RunningCommand cmd(spec("trap '' TERM; echo ready; sleep 100", 100'000ms));
  auto first = cmd.next_deadline_ms();
  ASSERT_TRUE(first.has_value());
  EXPECT_GE(*first - steady_ms(), 90'000);
  // SIGTERM only once the shell ignores it, so that the grace has to run out.
  ASSERT_TRUE(qg::testing::wait_until([&] { return read_file(log) == "ready\n"; }, 10s));
  cmd.cancel();
  auto grace_end = cmd.next_deadline_ms();
  ASSERT_TRUE(grace_end.has_value());
  EXPECT_LE(*grace_end - steady_ms(), 200);  // kill_grace of the spec
  auto out = cmd.wait_for(10s);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, CommandOutcome::Kind::cancelled);
  EXPECT_EQ(out->exit_code, 128 + SIGKILL);
  EXPECT_FALSE(cmd.next_deadline_ms().has_value());
}

TEST_F(ProcessTest, NoDeadlineWithoutATimeout) {
  RunningCommand cmd(spec("sleep 100"));
  EXPECT_FALSE(cmd.next_deadline_ms().has_value());
}

TEST_F(ProcessTest, WaitForGivesUpAfterItsTimeoutWhileTheCommandRuns) {
  RunningCommand cmd(spec("sleep 100"));
  EXPECT_FALSE(cmd.wait_for(20ms).has_value());
  EXPECT_FALSE(cmd.finished());
}

}  // namespace
}  // namespace qg::worker

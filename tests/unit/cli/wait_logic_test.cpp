#include <gtest/gtest.h>

#include "qg/cli/commands.hpp"
#include "qg/cli/wait_logic.hpp"

namespace qg::cli {
namespace {

using proto::JobStatus;

std::vector<proto::Job> jobs_with(std::initializer_list<JobStatus> statuses) {
  std::vector<proto::Job> jobs;
  for (auto s : statuses) {
    proto::Job j;
    j.status = s;
    jobs.push_back(j);
  }
  return jobs;
}

TEST(WaitExitCode, AllPassedIsZero) {
  EXPECT_EQ(wait_exit_code(jobs_with({JobStatus::passed, JobStatus::passed}), false), 0);
  EXPECT_EQ(wait_exit_code(jobs_with({JobStatus::passed}), true), 0);
}

TEST(WaitExitCode, AnyFinalNonPassIsOne) {
  for (auto bad : {JobStatus::failed, JobStatus::timed_out, JobStatus::error, JobStatus::cancelled, JobStatus::dead}) {
    EXPECT_EQ(wait_exit_code(jobs_with({JobStatus::passed, bad}), false), 1) << proto::to_string(bad);
  }
}

TEST(WaitExitCode, UnfinishedIsTwoOnlyAfterGivingUp) {
  for (auto open : {JobStatus::queued, JobStatus::assigned, JobStatus::installing, JobStatus::running}) {
    EXPECT_EQ(wait_exit_code(jobs_with({JobStatus::passed, open}), false), -1);
    EXPECT_EQ(wait_exit_code(jobs_with({JobStatus::failed, open}), true), 2);
  }
}

TEST(ExitCodeForError, InvalidRequestsAreUsageErrors) {
  EXPECT_EQ(exit_code_for_error("INVALID_FIELD"), 3);
  EXPECT_EQ(exit_code_for_error("MISSING_FIELD"), 3);
  EXPECT_EQ(exit_code_for_error("UNAVAILABLE"), 3);
  EXPECT_EQ(exit_code_for_error("NOT_FOUND"), 1);
  EXPECT_EQ(exit_code_for_error("CONFLICT"), 1);
}

TEST(Summarize, CountsInAFixedOrder) {
  EXPECT_EQ(summarize(jobs_with({JobStatus::running, JobStatus::passed, JobStatus::failed, JobStatus::passed})),
            "2 passed, 1 failed, 1 running");
  EXPECT_EQ(summarize({}), "no jobs");
}

TEST(SeqTracker, FirstEventAndConsecutiveEventsAreNoGap) {
  SeqTracker t;
  EXPECT_FALSE(t.observe("w1", 7));
  EXPECT_FALSE(t.observe("w1", 8));
  EXPECT_FALSE(t.observe("b1", 1));
  EXPECT_EQ(t.gaps(), 0u);
}

TEST(SeqTracker, SkippedNumberIsAGapPerSource) {
  SeqTracker t;
  t.observe("w1", 1);
  t.observe("w2", 1);
  EXPECT_TRUE(t.observe("w1", 3));
  EXPECT_FALSE(t.observe("w2", 2));
  EXPECT_FALSE(t.observe("w1", 4));
  EXPECT_EQ(t.gaps(), 1u);
}

TEST(SeqTracker, RestartedSourceIsNotAGap) {
  SeqTracker t;
  t.observe("w1", 50);
  EXPECT_FALSE(t.observe("w1", 1));
  EXPECT_FALSE(t.observe("w1", 2));
}

TEST(SeqTracker, OrgSeqIsCountedPerSourceAndOrg) {
  SeqTracker t;
  EXPECT_FALSE(t.observe_org("b1", "acme", 1));
  EXPECT_FALSE(t.observe_org("b1", "beta", 1));
  EXPECT_FALSE(t.observe_org("b1", "acme", 2));
  EXPECT_FALSE(t.observe_org("w1", "acme", 9));
  EXPECT_TRUE(t.observe_org("b1", "acme", 4));
  EXPECT_FALSE(t.observe_org("b1", "beta", 2));
  EXPECT_EQ(t.gaps(), 1u);
}

TEST(SeqTracker, OrgSeqZeroTellsNothingAndALowerOneIsARestart) {
  SeqTracker t;
  EXPECT_FALSE(t.observe_org("b1", "acme", 0));
  EXPECT_FALSE(t.observe_org("b1", "acme", 0));
  EXPECT_FALSE(t.observe_org("b1", "acme", 30));
  EXPECT_FALSE(t.observe_org("b1", "acme", 1));
  EXPECT_FALSE(t.observe_org("b1", "acme", 2));
  EXPECT_EQ(t.gaps(), 0u);
}

TEST(FormatDuration, PicksAReadableUnit) {
  EXPECT_EQ(format_duration(850), "850ms");
  EXPECT_EQ(format_duration(12345), "12.3s");
  EXPECT_EQ(format_duration(245000), "4m05s");
}

}  // namespace
}  // namespace qg::cli

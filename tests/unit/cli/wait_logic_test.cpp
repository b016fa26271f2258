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

TEST(WaitLogic, EtaPhraseSaysPlaceAndTimeInWords) {
  proto::StatusReply reply;
  EXPECT_EQ(eta_phrase(reply), "");  // every job final, or a broker without estimates
  reply.etas = {proto::JobEta{"a", 12, 240'000}, proto::JobEta{"b", 13, 250'000}};
  reply.queued_ahead = 12;
  reply.eta_ms = 250'000;
  EXPECT_EQ(eta_phrase(reply), "12 queued ahead, about 4 min");
  reply.queued_ahead = 0;
  reply.eta_ms = 40'000;
  EXPECT_EQ(eta_phrase(reply), "about 40 s left");
  reply.queued_ahead = 3;
  reply.eta_ms.reset();
  EXPECT_EQ(eta_phrase(reply), "3 queued ahead, no estimate (no live worker for the target)");
  EXPECT_EQ(about(4'000), "under 10 s");
  EXPECT_EQ(about(89'000), "89 s");
  EXPECT_EQ(about(95'000), "2 min");
  EXPECT_EQ(about(125 * 60'000), "2 h 5 min");
}

TEST(WaitLogic, JoinStatusTakesTheLeastPlaceAndTheLatestFinishAcrossBatches) {
  auto batch = [](std::vector<proto::JobEta> etas, std::optional<std::uint64_t> ahead,
                  std::optional<std::int64_t> eta) {
    proto::StatusReply r;
    r.etas = std::move(etas);
    r.queued_ahead = ahead;
    r.eta_ms = eta;
    return r;
  };
  proto::StatusReply all;
  join_status(all, batch({{"a", 5, 10'000}}, 5, 10'000));
  join_status(all, batch({}, std::nullopt, std::nullopt));  // a batch of final jobs
  join_status(all, batch({{"b", 2, 30'000}}, 2, 30'000));
  EXPECT_EQ(all.etas.size(), 2u);
  EXPECT_EQ(all.queued_ahead, 2u);
  EXPECT_EQ(all.eta_ms, 30'000);
  // One batch without a time: the whole has none.
  join_status(all, batch({{"c", 1, std::nullopt}}, 1, std::nullopt));
  EXPECT_EQ(all.queued_ahead, 1u);
  EXPECT_FALSE(all.eta_ms.has_value());
  join_status(all, batch({{"d", 0, 5'000}}, 0, 5'000));
  EXPECT_FALSE(all.eta_ms.has_value());
}

}  // namespace
}  // namespace qg::cli

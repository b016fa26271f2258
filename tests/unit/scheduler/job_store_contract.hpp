#pragma once
// The JobStore contract: one suite body, instantiated once per implementation
// (memory_store_test.cpp, tests/integration/redis_store_redistest.cpp). The fixture and the
// Backend a runner provides are in contract_fixture.hpp; the cases, by behaviour, in the
// contract_<behaviour>.hpp headers below. This header registers every case: a case added
// to one of them is added to the list here too (GoogleTest refuses a case defined but not
// registered).

#include "contract_cancel.hpp"
#include "contract_capabilities.hpp"
#include "contract_claim.hpp"
#include "contract_claim_order.hpp"
#include "contract_fair_share.hpp"
#include "contract_farm_stats.hpp"
#include "contract_fixture.hpp"
#include "contract_health.hpp"
#include "contract_org_queued.hpp"
#include "contract_queries.hpp"
#include "contract_races.hpp"
#include "contract_registry.hpp"
#include "contract_report.hpp"
#include "contract_retention.hpp"
#include "contract_retry.hpp"
#include "contract_retry_group.hpp"
#include "contract_submit.hpp"
#include "contract_time.hpp"
#include "contract_timing.hpp"

namespace qg::sched::contract {

REGISTER_TYPED_TEST_SUITE_P(
    JobStoreContract, SubmitThenGetReturnsQueuedJobs, IdempotentSubmitReturnsSameIdsAndWritesNothing,
    SubmissionEntersItsGroupWhole, WithinGroupHighBeforeMediumBeforeLowThenOldest, WithinGroupJobsGoByRankAcrossBands,
    GroupRanksByTheBestOfItsBands, BusyGroupDoesNotStarveItsLowJobs, CancelledEntriesAreSkippedAcrossBands,
    AcrossGroupsTierThenPriorityThenAge, PremiumBeforeEnterpriseBeforeStandard,
    LowGroupThatWaitedLongerThanHeadStartBeatsNewHighGroup, InstalledBuildWinsWithinAffinitySlack,
    GroupMaxCapsClaimSize, GroupWindowHoldsGroupUntilPromoteDue, GroupMaxOpensWindowEarly,
    SentBatchesFillingAGroupOpenItsWindowEarly, ClaimReturnsNothingWhenNothingIsClaimable,
    ClaimedJobIsNeverClaimedAgain, RacingClaimsNeverHandOutAJobTwice, ReportIsAcceptedOnceAndLaterReportsAreRejected,
    FinalStateNeverChanges, FailureWithRetriesLeftRequeuesAndPassMarksFlaky, InfrastructureErrorRequeuesAfterBackoff,
    ExhaustedAttemptsEndDeadAndRetryDeadRevives, LeaseExpiryRequeuesUnfinishedJobs,
    LeaseExpiryIsAppliedExactlyOnceWhenStoresRace, RenewLeaseKeepsLeaseAlive, RenewLeasesJudgesEachRenewalOnItsOwn,
    ProgressRecordsStatusOfHeldJobsOnly, ReportAndProgressNamingAnotherWorkersLeaseAreRefused,
    ReleaseHandsUnstartedJobsBackAtOnce, CancelQueuedRunningFinalAndUnknownJobs, CancelBuildCancelsEveryNonFinalJob,
    ListPagesNewestFirstWithFiltersCoveringAllJobsOnce, QueueAndStatsCount, WakeupFdBecomesReadableAfterSubmit,
    WorkerRegistryRoundTripsAndPingAnswers, SubmitManyAppliesEachInOrderAndRefusesOnlyTheBadOne,
    SentSubmitsComeBackInSendOrderAndLaterCallsSeeThemApplied, SentSubmitIsTakenOnceItsDescriptorSaysSo,
    SentSubmitsRefuseTakenAndRepeatedIdsAloneAndDuplicatesWriteNothing, SentBatchEndsAsSubmitManyDoes,
    SentBatchThatRepeatsAnIdempotencyKeyWritesTheFirstOnly, ReportManyWithoutJobsAppliesTheSame,
    ReportManyWithoutJobsJudgesALargeBatchInOrder, ReportManyJudgesEachReportOnItsOwn,
    SubmitAndClaimHandsTheNewGroupToTheWaitingWorker, MaxJobsTakesPartOfTheGroupFromItsHead,
    GroupClaimedInPartKeepsItsRank, CancelledQueuedJobsAreSkippedByClaims,
    EntriesLeftByCancelsAreNotCountedAndAnEmptiedGroupGoes,
    GroupHandedToAWaitingWorkerAtSubmitEndsAsIfQueuedThenClaimed,
    SubmitAndClaimStillTakesTheOlderGroupAndOnlyWhatTheClaimAsks, OrgQueuedCountFollowsSubmitsClaimsAndCancels,
    OrgQueuedCountFollowsRetriesBackoffExpiryAndRelease, OrgQueuedCountIsNotRaisedByAGroupHandedOffAtSubmit,
    FinishedJobsGoAfterRetentionWithTheirIdempotencyKeys, SweepDeletesAtMostItsBatchAndSaysWhenMoreAreDue,
    DeadJobsGoAfterDeadRetentionAndRetentionOffKeepsJobs, SweptCancelledQueuedJobLeavesNothingToClaim,
    ListCursorStaysValidAcrossASweep, WorkersLeaveAreForgottenSweptAndComeBack,
    AnnouncementsLastUntilTheirExpiryAndRenew, ProgressTakesAJobBackToAssignedOnlyFromInstalling,
    FarmStatsCountStatusesDurationsAndInstallsPerOrgAndTarget, FarmStatsLeaveTheHourAfterAnHourAndTheDayAfterADay,
    FairShareAlternatesOrgsOfOneTierOfEqualWeight, FairShareFollowsOrgWeights,
    FairShareFindsAnOrgBehindManyGroupsOfAnother, FairShareCountsOnlyLeasesStillHeld,
    FairShareKeepsTiersAndTheAgeingBound, RetriedGroupComesBackWholeAtOneDueTime,
    WorkerFailingInstallsInARowIsQuarantinedThenProbed, QuarantineOffNeverQuarantines,
    GroupWithRequirementsIsClaimedOnlyByAMatchingWorker, SameRequirementsShareAGroupAndOthersDoNot,
    RankOrderHoldsAcrossRequirementSetsAndRequeuesStayInTheirSet, FairShareAlternatesAcrossRequirementSets,
    SubmitAndClaimHandsAGroupWithRequirementsOnlyToAMatchingWorker,
    TimingHistoryRecordsTestsAndInstallsOfAcceptedReports, TimingHistoryKeepsAtMostItsBoundPerOrgDroppingTheOldest,
    TimingHistoryExpiresWithTheRetentionOfFinishedJobs, EstimatesPlaceQueuedJobsBehindTheGroupsAhead,
    EstimatesGiveATestNeverSeenTheMedianOfItsOrgsTests, EstimatesGiveQueuePlaceButNoTimeWithoutALiveWorker);

}  // namespace qg::sched::contract

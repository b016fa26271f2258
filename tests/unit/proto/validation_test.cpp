// Request value rules, each at its limit and one past it.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

template <class T>
Error error_of(const T& message) {
  const Expected<T> out = decode<T>(encode(message));
  if (out.ok()) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  return out.error();
}

template <class T>
bool accepts(const T& message) {
  const Expected<T> out = decode<T>(encode(message));
  if (!out.ok()) ADD_FAILURE() << out.error().code << " " << out.error().field << ": " << out.error().message;
  return out.ok();
}

void expect_error(const Error& e, std::string_view code, std::string_view field) {
  EXPECT_EQ(e.code, code);
  EXPECT_EQ(e.field, field);
  EXPECT_FALSE(e.message.empty());
}

SubmitRequest submit_with_org(std::string org_id) {
  SubmitRequest m = sample<SubmitRequest>();
  m.org_id = std::move(org_id);
  return m;
}

TEST(ProtoValidation, OrgIdAcceptsUpTo64NameCharacters) {
  EXPECT_TRUE(accepts(submit_with_org(std::string(64, 'a'))));
  EXPECT_TRUE(accepts(submit_with_org("Acme-Corp_2-eu")));
  expect_error(error_of(submit_with_org(std::string(65, 'a'))), errc::too_large, "org_id");
}

TEST(ProtoValidation, OrgIdRejectsEmptyAndBadCharacters) {
  expect_error(error_of(submit_with_org("")), errc::invalid_field, "org_id");
  for (const char* bad : {"a b", "a/b", "a:b", "a{b}", "é", "a\nb", "acme.eu"}) {
    expect_error(error_of(submit_with_org(bad)), errc::invalid_field, "org_id");
  }
}

TEST(ProtoValidation, AppVersionIdAcceptsUpTo128NameCharacters) {
  SubmitRequest m = sample<SubmitRequest>();
  m.app_version_id = std::string(128, '9');
  EXPECT_TRUE(accepts(m));
  m.app_version_id = std::string(129, '9');
  expect_error(error_of(m), errc::too_large, "app_version_id");
  m.app_version_id = "v1/2";
  expect_error(error_of(m), errc::invalid_field, "app_version_id");
  m.app_version_id = "";
  expect_error(error_of(m), errc::invalid_field, "app_version_id");
}

SubmitRequest submit_with_tests(std::vector<std::string> tests) {
  SubmitRequest m = sample<SubmitRequest>();
  m.tests = std::move(tests);
  return m;
}

TEST(ProtoValidation, TestsNeedAtLeastOneEntry) {
  expect_error(error_of(submit_with_tests({})), errc::invalid_field, "tests");
}

TEST(ProtoValidation, TestsAcceptUpTo10000Entries) {
  EXPECT_TRUE(accepts(submit_with_tests(std::vector<std::string>(10000, "tests/a.spec.ts"))));
  // One past: the default Limits already stop the array while unpacking...
  EXPECT_EQ(error_of(submit_with_tests(std::vector<std::string>(10001, "t"))).code, errc::too_large);
  // ...and with looser limits the rule itself names the field.
  Limits loose;
  loose.max_array_items = 20000;
  const Expected<SubmitRequest> out =
      decode<SubmitRequest>(encode(submit_with_tests(std::vector<std::string>(10001, "t"))), loose);
  ASSERT_FALSE(out.ok());
  expect_error(out.error(), errc::too_large, "tests");
}

TEST(ProtoValidation, TestPathAcceptsUpTo1024Bytes) {
  EXPECT_TRUE(accepts(submit_with_tests({std::string(1024, 'p')})));
  expect_error(error_of(submit_with_tests({"ok", std::string(1025, 'p')})), errc::too_large, "tests[1]");
}

TEST(ProtoValidation, TestPathAcceptsRelativePaths) {
  EXPECT_TRUE(accepts(submit_with_tests(
      {"tests/login.spec.ts", "a..b/c.ts", "..hidden/x", "x/y../z", "./x.ts", "dir with space/x.ts", "e2e\\win.ts"})));
}

TEST(ProtoValidation, TestPathRejectsDotDotSegments) {
  for (const char* bad : {"..", "../x", "a/../b", "a/..", "a\\..\\b", "tests/../../etc/passwd"}) {
    expect_error(error_of(submit_with_tests({"ok.ts", bad})), errc::invalid_field, "tests[1]");
  }
}

TEST(ProtoValidation, TestPathRejectsEmptyAbsoluteNulAndOptionLike) {
  expect_error(error_of(submit_with_tests({""})), errc::invalid_field, "tests[0]");
  expect_error(error_of(submit_with_tests({"/etc/passwd"})), errc::invalid_field, "tests[0]");
  expect_error(error_of(submit_with_tests({"\\share\\x"})), errc::invalid_field, "tests[0]");
  expect_error(error_of(submit_with_tests({std::string("a\0b", 3)})), errc::invalid_field, "tests[0]");
  expect_error(error_of(submit_with_tests({"--config=evil.js"})), errc::invalid_field, "tests[0]");
}

TEST(ProtoValidation, PriorityAndTargetMustBeKnownNames) {
  const std::string body = encode(sample<SubmitRequest>());
  auto out = decode<SubmitRequest>(test::with_key(body, "priority", test::packed_str("urgent")));
  ASSERT_FALSE(out.ok());
  expect_error(out.error(), errc::invalid_field, "priority");
  out = decode<SubmitRequest>(test::with_key(body, "target", test::packed_str("simulator")));
  ASSERT_FALSE(out.ok());
  expect_error(out.error(), errc::invalid_field, "target");
  out = decode<SubmitRequest>(test::with_key(body, "priority", test::packed_str("low")));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->priority, Priority::low);
}

TEST(ProtoValidation, RetriesAreAtMost10) {
  SubmitRequest m = sample<SubmitRequest>();
  m.retries = 10;
  EXPECT_TRUE(accepts(m));
  m.retries = 11;
  expect_error(error_of(m), errc::invalid_field, "retries");
}

TEST(ProtoValidation, MaxAttemptsAreAtMost20WithZeroMeaningDefault) {
  SubmitRequest m = sample<SubmitRequest>();
  m.max_attempts = 0;
  EXPECT_TRUE(accepts(m));
  m.max_attempts = 20;
  EXPECT_TRUE(accepts(m));
  m.max_attempts = 21;
  expect_error(error_of(m), errc::invalid_field, "max_attempts");
}

TEST(ProtoValidation, IdempotencyKeyIsAtMost256Bytes) {
  SubmitRequest m = sample<SubmitRequest>();
  m.idempotency_key = std::string(256, 'k');
  EXPECT_TRUE(accepts(m));
  m.idempotency_key = std::string(257, 'k');
  expect_error(error_of(m), errc::too_large, "idempotency_key");
}

TEST(ProtoValidation, RidIsOptionalAndAtMost128Bytes) {
  const std::string body = encode(sample<HealthRequest>());
  EXPECT_EQ(decode<HealthRequest>(test::without_key(body, "rid"))->rid, "");
  HealthRequest m;
  m.rid = std::string(128, 'r');
  EXPECT_TRUE(accepts(m));
  m.rid = std::string(129, 'r');
  expect_error(error_of(m), errc::too_large, "rid");
}

TEST(ProtoValidation, StatusJobIdsAre1To1000) {
  StatusRequest m;
  expect_error(error_of(m), errc::invalid_field, "job_ids");
  m.job_ids.assign(1000, "01J0JOB0000000000000000001");
  EXPECT_TRUE(accepts(m));
  m.job_ids.push_back("x");
  expect_error(error_of(m), errc::too_large, "job_ids");
}

TEST(ProtoValidation, JobIdsAreNonEmptyIdTokens) {
  StatusRequest m{"r", {"J1", ""}};
  expect_error(error_of(m), errc::invalid_field, "job_ids[1]");
  m.job_ids = {"J1", "job:{x} y"};
  expect_error(error_of(m), errc::invalid_field, "job_ids[1]");
  m.job_ids = {std::string(129, 'J')};
  expect_error(error_of(m), errc::too_large, "job_ids[0]");
  m.job_ids = {std::string(128, 'J')};
  EXPECT_TRUE(accepts(m));
}

TEST(ProtoValidation, ListLimitDefaultsTo50AndIsAtMost1000) {
  ListRequest m;
  m.limit = 0;
  EXPECT_EQ(decode<ListRequest>(encode(m))->limit, 50u);
  EXPECT_EQ(decode<ListRequest>(test::without_key(encode(m), "limit"))->limit, 50u);
  m.limit = 1;
  EXPECT_EQ(decode<ListRequest>(encode(m))->limit, 1u);
  m.limit = 1000;
  EXPECT_TRUE(accepts(m));
  m.limit = 1001;
  expect_error(error_of(m), errc::invalid_field, "limit");
}

TEST(ProtoValidation, ListFiltersAreCheckedWhenGiven) {
  ListRequest m;
  m.org_id = "bad org";
  expect_error(error_of(m), errc::invalid_field, "org_id");
  m.org_id = "";
  m.app_version_id = std::string(129, 'v');
  expect_error(error_of(m), errc::too_large, "app_version_id");
  const auto out = decode<ListRequest>(test::with_key(encode(ListRequest{}), "status", test::packed_str("lost")));
  ASSERT_FALSE(out.ok());
  expect_error(out.error(), errc::invalid_field, "status");
}

TEST(ProtoValidation, QueueLimitDefaultsTo50AndIsAtMost1000) {
  QueueRequest m;
  m.limit = 0;
  EXPECT_EQ(decode<QueueRequest>(encode(m))->limit, 50u);
  m.limit = 1000;
  EXPECT_TRUE(accepts(m));
  m.limit = 1001;
  expect_error(error_of(m), errc::invalid_field, "limit");
}

TEST(ProtoValidation, CancelNeedsAJobIdOrABuild) {
  expect_error(error_of(CancelRequest{"r", "", "", ""}), errc::missing_field, "job_id");
  expect_error(error_of(CancelRequest{"r", "", "acme", ""}), errc::missing_field, "app_version_id");
  expect_error(error_of(CancelRequest{"r", "", "", "v1"}), errc::missing_field, "org_id");
  expect_error(error_of(CancelRequest{"r", "J1", "acme", "v1"}), errc::invalid_field, "job_id");
  expect_error(error_of(CancelRequest{"r", "", "ac me", "v1"}), errc::invalid_field, "org_id");
  EXPECT_TRUE(accepts(CancelRequest{"r", "J1", "", ""}));
  EXPECT_TRUE(accepts(CancelRequest{"r", "", "acme", "v1"}));
}

TEST(ProtoValidation, WorkersUnquarantineIsOptionalAndAValidWorkerId) {
  EXPECT_TRUE(accepts(WorkersRequest{.rid = "r", .unquarantine = ""}));
  EXPECT_TRUE(accepts(WorkersRequest{.rid = "r", .unquarantine = "w-pixel-7:1"}));
  expect_error(error_of(WorkersRequest{.rid = "r", .unquarantine = "bad id"}), errc::invalid_field, "unquarantine");
}

TEST(ProtoValidation, RetryNeedsAValidJobId) {
  expect_error(error_of(RetryRequest{"r", ""}), errc::invalid_field, "job_id");
  EXPECT_TRUE(accepts(RetryRequest{"r", "J1"}));
}

Hello hello_with_worker(std::string worker_id) {
  Hello m = sample<Hello>();
  m.worker_id = std::move(worker_id);
  return m;
}

TEST(ProtoValidation, WorkerIdIs1To128IdCharacters) {
  EXPECT_TRUE(accepts(hello_with_worker(std::string(128, 'w'))));
  EXPECT_TRUE(accepts(hello_with_worker("host-1.dc:slot_2")));
  expect_error(error_of(hello_with_worker(std::string(129, 'w'))), errc::too_large, "worker_id");
  expect_error(error_of(hello_with_worker("")), errc::invalid_field, "worker_id");
  expect_error(error_of(hello_with_worker("w 1")), errc::invalid_field, "worker_id");
  expect_error(error_of(hello_with_worker("w/1")), errc::invalid_field, "worker_id");
}

TEST(ProtoValidation, WorkerIdIsCheckedInEveryWorkerMessage) {
  Pull p = sample<Pull>();
  p.worker_id = "bad id";
  expect_error(error_of(p), errc::invalid_field, "worker_id");
  Report r = sample<Report>();
  r.worker_id = "";
  expect_error(error_of(r), errc::invalid_field, "worker_id");
  Progress g = sample<Progress>();
  g.worker_id = "bad id";
  expect_error(error_of(g), errc::invalid_field, "worker_id");
  Heartbeat h = sample<Heartbeat>();
  h.worker_id = "bad id";
  expect_error(error_of(h), errc::invalid_field, "worker_id");
  Release l = sample<Release>();
  l.worker_id = "bad id";
  expect_error(error_of(l), errc::invalid_field, "worker_id");
  Bye b = sample<Bye>();
  b.worker_id = "bad id";
  expect_error(error_of(b), errc::invalid_field, "worker_id");
}

TEST(ProtoValidation, HelloTargetsAre1To3) {
  Hello m = sample<Hello>();
  m.targets = {};
  expect_error(error_of(m), errc::invalid_field, "targets");
  m.targets = {Target::emulator, Target::device, Target::browserstack};
  EXPECT_TRUE(accepts(m));
  m.targets.push_back(Target::device);
  expect_error(error_of(m), errc::too_large, "targets");
}

TEST(ProtoValidation, PullTargetsAreAtMost3) {
  Pull m = sample<Pull>();
  m.targets = {};
  EXPECT_TRUE(accepts(m));
  m.targets.assign(4, Target::device);
  expect_error(error_of(m), errc::too_large, "targets");
}

TEST(ProtoValidation, ReportStatusMustBeFinal) {
  Report m = sample<Report>();
  for (JobStatus s :
       {JobStatus::passed, JobStatus::failed, JobStatus::timed_out, JobStatus::error, JobStatus::cancelled}) {
    m.status = s;
    EXPECT_TRUE(accepts(m)) << to_string(s);
  }
  for (JobStatus s :
       {JobStatus::queued, JobStatus::assigned, JobStatus::installing, JobStatus::running, JobStatus::dead}) {
    m.status = s;
    expect_error(error_of(m), errc::invalid_field, "status");
  }
}

TEST(ProtoValidation, ReportNeedsLeaseAndJobIds) {
  Report m = sample<Report>();
  m.lease_id = "";
  expect_error(error_of(m), errc::invalid_field, "lease_id");
  m = sample<Report>();
  m.job_id = "a b";
  expect_error(error_of(m), errc::invalid_field, "job_id");
}

TEST(ProtoValidation, ProgressStatusMustNotBeFinal) {
  Progress m = sample<Progress>();
  for (JobStatus s : {JobStatus::assigned, JobStatus::installing, JobStatus::running}) {
    m.status = s;
    EXPECT_TRUE(accepts(m)) << to_string(s);
  }
  for (JobStatus s : {JobStatus::queued, JobStatus::passed, JobStatus::failed, JobStatus::dead}) {
    m.status = s;
    expect_error(error_of(m), errc::invalid_field, "status");
  }
}

TEST(ProtoValidation, HeartbeatLeaseIdMayBeEmptyWhenIdle) {
  Heartbeat m = sample<Heartbeat>();
  m.lease_id = "";
  m.jobs.clear();
  m.state = "idle";
  EXPECT_TRUE(accepts(m));
  m.lease_id = "bad lease";
  expect_error(error_of(m), errc::invalid_field, "lease_id");
}

TEST(ProtoValidation, ReleaseJobIdsAreValidIds) {
  Release m = sample<Release>();
  m.job_ids = {};
  EXPECT_TRUE(accepts(m));
  m.job_ids = {"J1", ""};
  expect_error(error_of(m), errc::invalid_field, "job_ids[1]");
}

TEST(ProtoValidation, CancelJobNeedsAValidJobId) {
  expect_error(error_of(CancelJob{"", 1}), errc::invalid_field, "job_id");
  EXPECT_TRUE(accepts(CancelJob{"J1", 0}));
}

TEST(ProtoValidation, RepliesAreNotValidated) {
  SubmitReply m;
  m.rid = std::string(1000, 'r');
  m.job_ids = {"", "with space"};
  EXPECT_TRUE(accepts(m));
}

}  // namespace
}  // namespace qg::proto

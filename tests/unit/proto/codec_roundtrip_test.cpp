// Every message type survives encode -> decode with every field intact; unknown keys are
// ignored; the encoding is the documented one (string keys, enum names, optional omission).

#include <algorithm>
#include <limits>
#include <type_traits>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

template <class T>
class ProtoRoundTrip : public ::testing::Test {};
TYPED_TEST_SUITE(ProtoRoundTrip, test::AllMessageTypes, test::TypeName);

TYPED_TEST(ProtoRoundTrip, DecodeOfEncodeReencodesToTheSameBytes) {
  const std::string body = encode(sample<TypeParam>());
  const Expected<TypeParam> decoded = decode<TypeParam>(body);
  ASSERT_TRUE(decoded.ok()) << decoded.error().code << " " << decoded.error().field << ": " << decoded.error().message;
  EXPECT_EQ(to_hex(encode(*decoded)), to_hex(body));
}

// Guards the test above: the sample must differ from a default-constructed message in
// every key, or a field dropped by decode would go unnoticed.
TYPED_TEST(ProtoRoundTrip, SampleHasNoFieldAtItsDefault) {
  const test::Entries defaults = test::entries_of(encode(TypeParam{}));
  const test::Entries sampled = test::entries_of(encode(sample<TypeParam>()));
  for (const auto& [key, value] : sampled) {
    // job_id and org_id + app_version_id exclude each other; CancelJobIdRoundTrips covers job_id.
    if (std::is_same_v<TypeParam, CancelRequest> && key == "job_id") continue;
    for (const auto& [default_key, default_value] : defaults) {
      if (key == default_key) {
        EXPECT_NE(to_hex(value), to_hex(default_value)) << "key " << key;
      }
    }
  }
  EXPECT_GE(sampled.size(), defaults.size());
}

TYPED_TEST(ProtoRoundTrip, UnknownKeysAreIgnored) {
  const std::string body = encode(sample<TypeParam>());
  std::string extended = test::with_key(body, "zz_future_scalar", test::packed_uint(7));
  extended = test::with_key(extended, "zz_future_map", from_hex("82 a1 61 c0 a1 62 92 01 c3"));
  extended = test::with_key(extended, "zz_future_bin", from_hex("c4 02 00 ff"));
  const Expected<TypeParam> decoded = decode<TypeParam>(extended);
  ASSERT_TRUE(decoded.ok()) << decoded.error().field << ": " << decoded.error().message;
  EXPECT_EQ(encode(*decoded), body);
}

TYPED_TEST(ProtoRoundTrip, KeyOrderDoesNotMatter) {
  test::Entries entries = test::entries_of(encode(sample<TypeParam>()));
  std::reverse(entries.begin(), entries.end());
  const Expected<TypeParam> decoded = decode<TypeParam>(test::body_of(entries));
  ASSERT_TRUE(decoded.ok()) << decoded.error().field << ": " << decoded.error().message;
  EXPECT_EQ(encode(*decoded), encode(sample<TypeParam>()));
}

TYPED_TEST(ProtoRoundTrip, EveryKeyIsTheSnakeCaseFieldNameAndAString) {
  for (const auto& [key, value] : test::entries_of(encode(sample<TypeParam>()))) {
    EXPECT_FALSE(key.empty());
    for (const char c : key) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << key;
  }
}

TEST(ProtoEncoding, SubmitRequestFieldsSurviveOneByOne) {
  const SubmitRequest in = sample<SubmitRequest>();
  const Expected<SubmitRequest> out = decode<SubmitRequest>(encode(in));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->rid, in.rid);
  EXPECT_EQ(out->org_id, in.org_id);
  EXPECT_EQ(out->app_version_id, in.app_version_id);
  EXPECT_EQ(out->tests, in.tests);
  EXPECT_EQ(out->priority, Priority::high);
  EXPECT_EQ(out->target, Target::browserstack);
  EXPECT_EQ(out->idempotency_key, in.idempotency_key);
  EXPECT_EQ(out->retries, 2u);
  EXPECT_EQ(out->max_attempts, 4u);
}

TEST(ProtoEncoding, CancelJobIdRoundTrips) {
  const Expected<CancelRequest> out = decode<CancelRequest>(encode(CancelRequest{"r", "J7", "", ""}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->job_id, "J7");
}

TEST(ProtoEncoding, NestedJobFieldsSurvive) {
  const Expected<StatusReply> out = decode<StatusReply>(encode(sample<StatusReply>()));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->jobs.size(), 1u);
  const Job& j = out->jobs[0];
  EXPECT_EQ(j.status, JobStatus::running);
  EXPECT_EQ(j.exit_code, -9);
  EXPECT_EQ(j.created_at_ms, 1718000000000);
  EXPECT_TRUE(j.flaky);
  EXPECT_EQ(j.log_tail, "line 1\nline 2\n");
  EXPECT_EQ(out->missing, std::vector<std::string>{"01J0JOB0000000000000000002"});
}

TEST(ProtoEncoding, EnumsAreWrittenAsLowerCaseNames) {
  Job job;
  job.status = JobStatus::timed_out;
  const std::string body = encode(StatusReply{"", {job}, {}, {}, {}, {}, {}});
  EXPECT_NE(body.find("timed_out"), std::string::npos);
  EXPECT_NE(body.find("emulator"), std::string::npos);
  EXPECT_NE(body.find("medium"), std::string::npos);
}

TEST(ProtoEncoding, EmptyOptionalFieldsAreOmitted) {
  const test::Entries entries = test::entries_of(encode(ListRequest{}));
  for (const auto& [key, value] : entries) {
    EXPECT_NE(key, "status");
    EXPECT_NE(key, "target");
  }
  EXPECT_EQ(entries.size(), 5u);  // rid, org_id, app_version_id, cursor, limit
}

TEST(ProtoEncoding, DefaultsAreWrittenToo) {
  EXPECT_EQ(to_hex(encode(NoWork{})), "81 a3 72 69 64 a0");
  EXPECT_EQ(to_hex(encode(ReleaseReply{})), "82 a3 72 69 64 a0 a8 72 65 6c 65 61 73 65 64 00");
}

TEST(ProtoEncoding, IntegersUseTheirShortestForm) {
  Heartbeat hb;
  hb.worker_id = "w";
  hb.seq = 0xffffffffffffffffull;
  hb.sent_at_ms = -1;
  const Expected<Heartbeat> out = decode<Heartbeat>(encode(hb));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->seq, 0xffffffffffffffffull);
  EXPECT_EQ(out->sent_at_ms, -1);
  const std::string body = encode(hb);
  EXPECT_NE(body.find(from_hex("a3 73 65 71 cf ff ff ff ff ff ff ff ff")), std::string::npos);
  EXPECT_NE(body.find(from_hex("aa 73 65 6e 74 5f 61 74 5f 6d 73 ff")), std::string::npos);
}

TEST(ProtoEncoding, ExtremeIntegersRoundTrip) {
  Report r = sample<Report>();
  r.exit_code = std::numeric_limits<std::int32_t>::min();
  r.duration_ms = std::numeric_limits<std::int64_t>::min();
  r.attempt = std::numeric_limits<std::uint32_t>::max();
  const Expected<Report> out = decode<Report>(encode(r));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, r.exit_code);
  EXPECT_EQ(out->duration_ms, r.duration_ms);
  EXPECT_EQ(out->attempt, r.attempt);
}

TEST(ProtoEncoding, ErrorReplyNestsTheErrorAsAMap) {
  const ErrorReply e{"r1", Error{"BAD_BODY", "m", ""}};
  EXPECT_EQ(to_hex(encode(e)),
            "82 a3 72 69 64 a2 72 31 a5 65 72 72 6f 72 83 a4 63 6f 64 65 a8 42 41 44 5f 42 4f 44 59 a7 6d 65 73 73 "
            "61 67 65 a1 6d a5 66 69 65 6c 64 a0");
}

TEST(ProtoEncoding, ARefusedSubmitsFiguresRoundTripInsideTheError) {
  ErrorReply quota{"r1", Error{"QUOTA_EXCEEDED", "m", ""}};
  quota.error.retry_after_ms = 2000;
  quota.error.queued = 10000;
  quota.error.limit = 10000;
  auto out = decode<ErrorReply>(encode(quota));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->error, quota.error);
  EXPECT_FALSE(out->error.rate.has_value());
  ErrorReply rate{"r2", Error{"RATE_LIMITED", "m", ""}};
  rate.error.retry_after_ms = 7;
  rate.error.rate = 0.5;
  rate.error.burst = 3;
  out = decode<ErrorReply>(encode(rate));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->error, rate.error);
  // Absent figures are left out: every other error keeps its three keys alone.
  const ErrorReply bare{"r3", Error{"BAD_BODY", "m", ""}};
  EXPECT_EQ(encode(bare).find("retry_after_ms"), std::string::npos);
  EXPECT_EQ(encode(quota).find("rate"), std::string::npos);
  EXPECT_NE(encode(quota).find("queued"), std::string::npos);
}

TEST(ProtoEncoding, StringsWithAnyBytesRoundTrip) {
  Report r = sample<Report>();
  r.log_tail = std::string("a\0b\xff\xfe", 5);
  const Expected<Report> out = decode<Report>(encode(r));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->log_tail, r.log_tail);
}

TEST(ProtoEncoding, FloatAndIntegerBothDecodeIntoADouble) {
  StatsReply s;
  s.jobs_per_sec = 2.25;
  EXPECT_DOUBLE_EQ(decode<StatsReply>(encode(s))->jobs_per_sec, 2.25);
  const std::string as_int = test::with_key(encode(s), "jobs_per_sec", test::packed_uint(3));
  EXPECT_DOUBLE_EQ(decode<StatsReply>(as_int)->jobs_per_sec, 3.0);
  const std::string as_f32 = test::with_key(encode(s), "jobs_per_sec", from_hex("ca 3f c0 00 00"));
  EXPECT_DOUBLE_EQ(decode<StatsReply>(as_f32)->jobs_per_sec, 1.5);
}

TEST(ProtoEncoding, FramesOfPutsProtocolCommandAndBodyInOrder) {
  const auto frames = frames_of(kClientProtocol, sample<StatusRequest>());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "QGC1");
  EXPECT_EQ(frames[1], "STATUS");
  EXPECT_EQ(frames[2], encode(sample<StatusRequest>()));
}

}  // namespace
}  // namespace qg::proto

// decode<T>() against every class of malformed body: it never throws, never allocates what a
// header merely claims, and names the rule broken (and the field, when there is one).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

template <class T>
Error decode_error(std::string_view body, const Limits& limits = {}) {
  Expected<T> result = Expected<T>(Error{});
  EXPECT_NO_THROW(result = decode<T>(body, limits));
  if (result.ok()) {
    ADD_FAILURE() << "decoded: " << to_hex(body.substr(0, 64));
    return {};
  }
  return result.error();
}

template <class T>
class ProtoDecodeMalformed : public ::testing::Test {};
TYPED_TEST_SUITE(ProtoDecodeMalformed, test::AllMessageTypes, test::TypeName);

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsEmptyBody) {
  EXPECT_EQ(decode_error<TypeParam>("").code, errc::bad_body);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsBodiesThatAreNotMaps) {
  for (const char* hex :
       {"c0", "01", "ff", "c3", "a1 78", "90", "91 80", "cb 3f f0 00 00 00 00 00 00", "c4 01 00", "d4 01 00"}) {
    EXPECT_EQ(decode_error<TypeParam>(from_hex(hex)).code, errc::bad_body) << hex;
  }
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsTruncationAtEveryByteOffset) {
  const std::string body = encode(sample<TypeParam>());
  for (std::size_t n = 0; n < body.size(); ++n) {
    const Error e = decode_error<TypeParam>(std::string_view(body).substr(0, n));
    EXPECT_EQ(e.code, errc::bad_body) << "truncated to " << n << " of " << body.size();
  }
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsTrailingBytes) {
  const std::string body = encode(sample<TypeParam>());
  EXPECT_EQ(decode_error<TypeParam>(body + '\xc0').code, errc::bad_body);
  EXPECT_EQ(decode_error<TypeParam>(body + body).code, errc::bad_body);
  EXPECT_EQ(decode_error<TypeParam>(body + std::string(1, '\0')).code, errc::bad_body);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsReservedByte) {
  EXPECT_EQ(decode_error<TypeParam>(from_hex("c1")).code, errc::bad_body);
  EXPECT_EQ(decode_error<TypeParam>(from_hex("81 a1 78 c1")).code, errc::bad_body);
}

// msgpack-c with default limits allocates ~96 GiB for these five bytes.
TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsHugeArrayHeaderWithoutAllocating) {
  EXPECT_EQ(decode_error<TypeParam>(from_hex("dd ff ff ff ff")).code, errc::too_large);
  EXPECT_EQ(decode_error<TypeParam>(from_hex("81 a1 78 dd ff ff ff ff")).code, errc::too_large);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsHugeMapHeaderWithoutAllocating) {
  EXPECT_EQ(decode_error<TypeParam>(from_hex("df ff ff ff ff")).code, errc::too_large);
  EXPECT_EQ(decode_error<TypeParam>(from_hex("81 a1 78 df ff ff ff ff")).code, errc::too_large);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsHugeStringBinAndExtHeadersWithNoPayload) {
  for (const char* hex : {"81 a3 72 69 64 db ff ff ff ff", "81 a1 78 db ff ff ff ff", "81 a1 78 c6 ff ff ff ff",
                          "81 a1 78 c9 ff ff ff ff 01", "81 a1 78 da ff ff", "81 db ff ff ff ff 01"}) {
    const Error e = decode_error<TypeParam>(from_hex(hex));
    EXPECT_TRUE(e.code == errc::bad_body || e.code == errc::too_large) << hex << " gave " << e.code;
  }
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsNestingDeeperThanMaxDepth) {
  // The body map is level 1; an unknown key holding 8 nested arrays makes 9 levels.
  const std::string too_deep = from_hex("81 a1 78 91 91 91 91 91 91 91 90");
  EXPECT_EQ(decode_error<TypeParam>(too_deep).code, errc::bad_body);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeAcceptsNestingAtMaxDepthInAnUnknownKey) {
  const std::string body = encode(sample<TypeParam>());
  const std::string at_limit = test::with_key(body, "zz", from_hex("91 91 91 91 91 91 90"));  // 8 levels
  EXPECT_TRUE(decode<TypeParam>(at_limit).ok());
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsNonStringKeys) {
  EXPECT_EQ(decode_error<TypeParam>(from_hex("81 01 c0")).code, errc::bad_body);
  EXPECT_EQ(decode_error<TypeParam>(from_hex("82 a3 72 69 64 a0 c3 c0")).code, errc::bad_body);
}

TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsDuplicateKeys) {
  const test::Entries entries = test::entries_of(encode(sample<TypeParam>()));
  test::Entries doubled = entries;
  doubled.push_back(entries.front());
  const Error e = decode_error<TypeParam>(test::body_of(doubled));
  EXPECT_EQ(e.code, errc::invalid_field);
  EXPECT_EQ(e.field, entries.front().first);
}

// Every key of every message, given a value of the wrong msgpack type, names itself.
TYPED_TEST(ProtoDecodeMalformed, DecodeRejectsAWrongTypeInEveryField) {
  const std::string body = encode(sample<TypeParam>());
  for (const auto& [key, value] : test::entries_of(body)) {
    const bool is_string = (static_cast<unsigned char>(value[0]) & 0xe0) == 0xa0 ||
                           static_cast<unsigned char>(value[0]) == 0xd9 || static_cast<unsigned char>(value[0]) == 0xda;
    const std::string wrong = is_string ? test::packed_uint(1) : test::packed_str("x");
    const Error e = decode_error<TypeParam>(test::with_key(body, key, wrong));
    EXPECT_EQ(e.code, errc::invalid_field) << key;
    EXPECT_EQ(e.field, key);
  }
}

TYPED_TEST(ProtoDecodeMalformed, DecodeTreatsNilAsAbsent) {
  const std::string body = encode(sample<TypeParam>());
  for (const auto& [key, value] : test::entries_of(body)) {
    const Expected<TypeParam> with_nil = decode<TypeParam>(test::with_key(body, key, from_hex("c0")));
    const Expected<TypeParam> without = decode<TypeParam>(test::without_key(body, key));
    ASSERT_EQ(with_nil.ok(), without.ok()) << key;
    if (with_nil.ok()) {
      EXPECT_EQ(encode(*with_nil), encode(*without)) << key;
    } else {
      EXPECT_EQ(with_nil.error(), without.error()) << key;
    }
  }
}

// The encoding of one Job record, cut out of a StatusReply.
std::string job_record(const Job& job) {
  for (const auto& [key, value] : test::entries_of(encode(StatusReply{"", {job}, {}, {}, {}, {}, {}}))) {
    if (key == "jobs") return value.substr(1);  // drop the array header 0x91
  }
  return {};
}

TEST(ProtoDecodeMalformedDetail, DecodeNamesANestedFieldWithItsPath) {
  const std::string good = job_record(Job{});
  const std::string bad = test::with_key(good, "attempt", test::packed_str("3"));
  const std::string body = test::with_key(encode(StatusReply{}), "jobs", from_hex("94") + good + good + good + bad);
  const Error e = decode_error<StatusReply>(body);
  EXPECT_EQ(e.code, errc::invalid_field);
  EXPECT_EQ(e.field, "jobs[3].attempt");
}

TEST(ProtoDecodeMalformedDetail, DecodeNamesANestedRecordThatIsNotAMap) {
  const std::string body = test::with_key(encode(StatusReply{}), "jobs", from_hex("92 80 a1 78"));
  const Error e = decode_error<StatusReply>(body);
  EXPECT_EQ(e.code, errc::invalid_field);
  EXPECT_EQ(e.field, "jobs[1]");
}

TEST(ProtoDecodeMalformedDetail, DecodeNamesAWrongTypeInsideAnArray) {
  const std::string body = test::with_key(encode(sample<SubmitRequest>()), "tests", from_hex("92 a1 61 05"));
  const Error e = decode_error<SubmitRequest>(body);
  EXPECT_EQ(e.code, errc::invalid_field);
  EXPECT_EQ(e.field, "tests[1]");
}

TEST(ProtoDecodeMalformedDetail, DecodeRejectsIntegersOutOfRangeOfTheField) {
  const std::string body = encode(sample<Report>());
  const auto error_for = [&](const std::string& key, const std::string& value) {
    return decode_error<Report>(test::with_key(body, key, value));
  };
  EXPECT_EQ(error_for("attempt", test::packed_uint(0x100000000ull)).field, "attempt");
  EXPECT_EQ(error_for("attempt", test::packed_uint(0x100000000ull)).code, errc::invalid_field);
  EXPECT_EQ(error_for("attempt", test::packed_int(-1)).code, errc::invalid_field);
  EXPECT_EQ(error_for("exit_code", test::packed_uint(0x80000000ull)).code, errc::invalid_field);
  EXPECT_EQ(error_for("exit_code", test::packed_int(-2147483649LL)).code, errc::invalid_field);
  EXPECT_EQ(error_for("duration_ms", test::packed_uint(0x8000000000000000ull)).code, errc::invalid_field);
  EXPECT_EQ(error_for("attempt", from_hex("cb 3f f0 00 00 00 00 00 00")).code, errc::invalid_field);  // 1.0
  EXPECT_EQ(error_for("attempt", from_hex("c3")).code, errc::invalid_field);                          // true

  EXPECT_EQ(decode<Report>(test::with_key(body, "attempt", test::packed_uint(0xffffffffull)))->attempt, 0xffffffffu);
  EXPECT_EQ(decode<Report>(test::with_key(body, "exit_code", test::packed_int(-2147483648LL)))->exit_code,
            -2147483647 - 1);
}

TEST(ProtoDecodeMalformedDetail, DecodeRejectsUnknownEnumSpellings) {
  const std::string body = encode(sample<Assign>());
  EXPECT_EQ(decode_error<Assign>(test::with_key(body, "target", test::packed_str("phone"))).field, "target");
  EXPECT_EQ(decode_error<Assign>(test::with_key(body, "target", test::packed_str("Device"))).code, errc::invalid_field);
  const std::string job =
      test::with_key(test::packed([](auto& pk) { pk.pack_map(0); }), "priority", test::packed_str("urgent"));
  const std::string jobs = from_hex("91") + job;
  EXPECT_EQ(decode_error<Assign>(test::with_key(body, "jobs", jobs)).field, "jobs[0].priority");
}

TEST(ProtoDecodeMalformedDetail, DecodeRejectsBadValuesInStringMaps) {
  const std::string body = encode(sample<Hello>());
  EXPECT_EQ(decode_error<Hello>(test::with_key(body, "labels", from_hex("81 a2 6f 73 07"))).field, "labels");
  EXPECT_EQ(decode_error<Hello>(test::with_key(body, "labels", from_hex("81 07 a1 61"))).code, errc::invalid_field);
  EXPECT_EQ(decode_error<Hello>(test::with_key(body, "labels", from_hex("82 a1 61 a1 62 a1 61 a1 63"))).code,
            errc::invalid_field);
}

// ---- limits: at the limit and one past --------------------------------------------------

TEST(ProtoDecodeLimits, DecodeAcceptsAStringAtMaxStringBytes) {
  Report r = sample<Report>();
  r.log_tail.assign(Limits{}.max_string_bytes, 'x');
  const Expected<Report> out = decode<Report>(encode(r));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->log_tail.size(), Limits{}.max_string_bytes);
}

TEST(ProtoDecodeLimits, DecodeRejectsAStringOnePastMaxStringBytes) {
  Report r = sample<Report>();
  r.log_tail.assign(Limits{}.max_string_bytes + 1, 'x');
  EXPECT_EQ(decode_error<Report>(encode(r)).code, errc::too_large);
}

TEST(ProtoDecodeLimits, StringLimitFollowsTheGivenLimits) {
  Limits small;
  small.max_string_bytes = 16;
  Report r{"r", "w", "L", "J", 1, JobStatus::passed, 0, 0, "", "", std::nullopt};
  r.log_tail.assign(16, 'x');
  EXPECT_TRUE(decode<Report>(encode(r), small).ok());
  r.log_tail.assign(17, 'x');
  EXPECT_EQ(decode_error<Report>(encode(r), small).code, errc::too_large);
  // Keys are strings too.
  r.log_tail = "x";
  EXPECT_TRUE(decode<Report>(test::with_key(encode(r), std::string(16, 'k'), "\x01"), small).ok());
  EXPECT_EQ(decode_error<Report>(test::with_key(encode(r), std::string(17, 'k'), "\x01"), small).code, errc::too_large);
}

TEST(ProtoDecodeLimits, DecodeAcceptsAnArrayAtMaxArrayItems) {
  Pull p = sample<Pull>();
  p.installed.assign(Limits{}.max_array_items, "acme/v1");
  const Expected<Pull> out = decode<Pull>(encode(p));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->installed.size(), Limits{}.max_array_items);
}

TEST(ProtoDecodeLimits, DecodeRejectsAnArrayOnePastMaxArrayItems) {
  Pull p = sample<Pull>();
  p.installed.assign(Limits{}.max_array_items + 1, "acme/v1");
  EXPECT_EQ(decode_error<Pull>(encode(p)).code, errc::too_large);
}

TEST(ProtoDecodeLimits, ArrayLimitAppliesToUnknownKeysToo) {
  Limits small;
  small.max_array_items = 4;
  const std::string body = encode(sample<ByeReply>());
  EXPECT_TRUE(decode<ByeReply>(test::with_key(body, "zz", from_hex("94 01 02 03 04")), small).ok());
  EXPECT_EQ(decode_error<ByeReply>(test::with_key(body, "zz", from_hex("95 01 02 03 04 05")), small).code,
            errc::too_large);
}

TEST(ProtoDecodeLimits, DecodeAcceptsAMapAtMaxMapItemsAndRejectsOnePast) {
  test::Entries entries = test::entries_of(encode(sample<ByeReply>()));
  while (entries.size() < Limits{}.max_map_items) entries.emplace_back("k" + std::to_string(entries.size()), "\x01");
  EXPECT_TRUE(decode<ByeReply>(test::body_of(entries)).ok());
  entries.emplace_back("one_more", "\x01");
  EXPECT_EQ(decode_error<ByeReply>(test::body_of(entries)).code, errc::too_large);
}

TEST(ProtoDecodeLimits, DepthLimitFollowsTheGivenLimits) {
  Limits shallow;
  shallow.max_depth = 3;
  const std::string body = encode(sample<ByeReply>());
  EXPECT_TRUE(decode<ByeReply>(test::with_key(body, "zz", from_hex("91 90")), shallow).ok());
  EXPECT_EQ(decode_error<ByeReply>(test::with_key(body, "zz", from_hex("91 91 90")), shallow).code, errc::bad_body);
}

TEST(ProtoDecodeLimits, DecodeRejectsABodyOverMaxFrameBytes) {
  const std::string body = encode(sample<Report>());
  Limits small;
  small.max_frame_bytes = body.size();
  EXPECT_TRUE(decode<Report>(body, small).ok());
  small.max_frame_bytes = body.size() - 1;
  EXPECT_EQ(decode_error<Report>(body, small).code, errc::too_large);
}

// ---- required and lenient ---------------------------------------------------------------

template <class T>
void expect_required(const std::vector<std::string>& keys) {
  const std::string body = encode(sample<T>());
  for (const auto& key : keys) {
    const Error e = decode_error<T>(test::without_key(body, key));
    EXPECT_EQ(e.code, errc::missing_field) << key;
    EXPECT_EQ(e.field, key);
  }
}

TEST(ProtoDecodeRequired, DecodeReportsEveryMissingRequiredField) {
  expect_required<SubmitRequest>({"org_id", "app_version_id", "tests"});
  expect_required<StatusRequest>({"job_ids"});
  expect_required<RetryRequest>({"job_id"});
  expect_required<Hello>({"worker_id", "targets"});
  expect_required<Pull>({"worker_id"});
  expect_required<Report>({"worker_id", "lease_id", "job_id", "attempt", "status"});
  expect_required<Progress>({"worker_id", "lease_id", "job_id", "attempt", "status"});
  expect_required<Heartbeat>({"worker_id"});
  expect_required<Release>({"worker_id", "lease_id"});
  expect_required<Bye>({"worker_id"});
  expect_required<CancelJob>({"job_id"});
}

TEST(ProtoDecodeRequired, DecodeOfAnEmptyMapNamesTheFirstRequiredField) {
  EXPECT_EQ(decode_error<SubmitRequest>(from_hex("80")).field, "org_id");
  EXPECT_EQ(decode_error<Report>(from_hex("80")).field, "worker_id");
  EXPECT_EQ(decode_error<CancelRequest>(from_hex("80")).field, "job_id");
}

TEST(ProtoDecodeRequired, OptionalOnlyRequestsDecodeFromAnEmptyMap) {
  EXPECT_TRUE(decode<WorkersRequest>(from_hex("80")).ok());
  EXPECT_TRUE(decode<HealthRequest>(from_hex("80")).ok());
  EXPECT_TRUE(decode<StatsRequest>(from_hex("80")).ok());
  EXPECT_EQ(decode<ListRequest>(from_hex("80"))->limit, 50u);
  EXPECT_EQ(decode<QueueRequest>(from_hex("80"))->limit, 50u);
}

template <class T>
void expect_lenient() {
  const Expected<T> out = decode<T>(from_hex("80"));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(encode(*out), encode(T{}));
}

TEST(ProtoDecodeRequired, RepliesAndEventsDecodeLenientlyWithDefaults) {
  expect_lenient<SubmitReply>();
  expect_lenient<StatusReply>();
  expect_lenient<ListReply>();
  expect_lenient<CancelReply>();
  expect_lenient<RetryReply>();
  expect_lenient<QueueReply>();
  expect_lenient<WorkersReply>();
  expect_lenient<HealthReply>();
  expect_lenient<StatsReply>();
  expect_lenient<HelloReply>();
  expect_lenient<Assign>();
  expect_lenient<NoWork>();
  expect_lenient<Confirm>();
  expect_lenient<ReleaseReply>();
  expect_lenient<ByeReply>();
  expect_lenient<ErrorReply>();
  expect_lenient<JobEvent>();
  expect_lenient<WorkerEvent>();
}

TEST(ProtoDecodeRequired, NestedRecordsTakeDefaultsForAbsentFields) {
  const Expected<StatusReply> out = decode<StatusReply>(from_hex("81 a4 6a 6f 62 73 91 80"));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->jobs.size(), 1u);
  EXPECT_EQ(out->jobs[0].max_attempts, 3u);
  EXPECT_EQ(out->jobs[0].priority, Priority::medium);
}

TEST(ProtoDecodeMalformedDetail, EachDecodeIsIndependentOfTheBodiesDecodedBeforeIt) {
  // Decoding reuses per-thread memory; a big body, a truncated one and a rejected one must
  // leave nothing behind that changes the next result.
  SubmitRequest big = sample<SubmitRequest>();
  big.tests.assign(5000, std::string(100, 't'));
  const std::string big_body = encode(big);
  const std::string small_body = encode(sample<SubmitRequest>());
  for (int round = 0; round < 3; ++round) {
    auto decoded_big = decode<SubmitRequest>(big_body);
    ASSERT_TRUE(decoded_big.ok()) << decoded_big.error().message;
    EXPECT_EQ(decoded_big->tests.size(), 5000u);
    EXPECT_EQ(decode_error<SubmitRequest>(big_body.substr(0, big_body.size() / 2)).code, errc::bad_body);
    EXPECT_EQ(decode_error<Pull>(small_body).code, errc::missing_field);
    auto decoded_small = decode<SubmitRequest>(small_body);
    ASSERT_TRUE(decoded_small.ok()) << decoded_small.error().message;
    EXPECT_EQ(decoded_small->tests, sample<SubmitRequest>().tests);
    EXPECT_EQ(peek_rid(small_body), sample<SubmitRequest>().rid);
  }
}

}  // namespace
}  // namespace qg::proto

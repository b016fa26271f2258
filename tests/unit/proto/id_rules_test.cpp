// The shapes every id is refused in (a leading '-', "." and ".."), control characters in test
// paths and device ids, each at its limit; and that decode<T>() applies them to the requests
// that carry those fields, naming the field.

#include <string>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::proto {
namespace {

using test::sample;

// The field named by the INVALID_FIELD error `check` returned; fails the test when it was fine
// or another code.
std::string invalid_field_of(const std::optional<Error>& e) {
  if (!e) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  EXPECT_EQ(e->code, errc::invalid_field) << e->message;
  EXPECT_FALSE(e->message.empty());
  return e->field;
}

template <class T>
Error decode_error(const T& message) {
  const Expected<T> out = decode<T>(encode(message));
  if (out.ok()) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  return out.error();
}

TEST(ProtoIdRules, NoIdMayStartWithADash) {
  for (const char* bad : {"-", "-x", "--help", "-1"}) {
    EXPECT_EQ(invalid_field_of(check_org_id(bad)), "org_id") << bad;
    EXPECT_EQ(invalid_field_of(check_app_version_id(bad)), "app_version_id") << bad;
    EXPECT_EQ(invalid_field_of(check_id(bad, "job_id")), "job_id") << bad;
    EXPECT_EQ(invalid_field_of(check_device_id(bad)), "device_id") << bad;
    EXPECT_EQ(invalid_field_of(check_idempotency_key(bad)), "idempotency_key") << bad;
  }
}

TEST(ProtoIdRules, ADashAfterTheFirstByteIsFine) {
  EXPECT_FALSE(check_org_id("a-"));
  EXPECT_FALSE(check_app_version_id("v-1"));
  EXPECT_FALSE(check_id("w:-1", "worker_id"));
  EXPECT_FALSE(check_device_id("emulator-5554"));
  EXPECT_FALSE(check_idempotency_key("ci--42"));
}

TEST(ProtoIdRules, NoIdMayBeDotOrDotDot) {
  for (const char* bad : {".", ".."}) {
    EXPECT_EQ(invalid_field_of(check_app_version_id(bad)), "app_version_id") << bad;
    EXPECT_EQ(invalid_field_of(check_id(bad, "lease_id")), "lease_id") << bad;
    EXPECT_EQ(invalid_field_of(check_device_id(bad)), "device_id") << bad;
    EXPECT_EQ(invalid_field_of(check_idempotency_key(bad)), "idempotency_key") << bad;
  }
}

TEST(ProtoIdRules, NamesThatOnlyBeginWithDotsAreOrdinary) {
  for (const char* ok : {".a", "..a", "...", "a.", "a..b"}) {
    EXPECT_FALSE(check_app_version_id(ok)) << ok;
    EXPECT_FALSE(check_id(ok, "job_id")) << ok;
    EXPECT_FALSE(check_device_id(ok)) << ok;
    EXPECT_FALSE(check_idempotency_key(ok)) << ok;
  }
}

TEST(ProtoIdRules, EmptyDeviceIdAndIdempotencyKeyMeanNone) {
  EXPECT_FALSE(check_device_id(""));
  EXPECT_FALSE(check_idempotency_key(""));
}

TEST(ProtoIdRules, DeviceIdIsFreeTextWithoutControlCharacters) {
  EXPECT_FALSE(check_device_id("Google Pixel 7 (Android 13) é"));
  EXPECT_FALSE(check_device_id(std::string("\x20~\x80\xff")));  // the bytes just outside the control ranges
  for (char c : {'\0', '\x01', '\t', '\n', '\r', '\x1b', '\x1f', '\x7f'}) {
    EXPECT_EQ(invalid_field_of(check_device_id(std::string("dev") + c + "1")), "device_id") << int(c);
  }
}

TEST(ProtoIdRules, TestPathRejectsEveryControlCharacter) {
  EXPECT_FALSE(check_test_path("tests/a b ~.spec.ts", "tests[0]"));
  for (int c = 0; c < 0x20; ++c) {
    EXPECT_EQ(invalid_field_of(check_test_path("tests/a" + std::string(1, static_cast<char>(c)) + ".ts", "tests[2]")),
              "tests[2]")
        << c;
  }
  EXPECT_EQ(invalid_field_of(check_test_path("tests/\x7f.ts", "tests[0]")), "tests[0]");
  EXPECT_FALSE(check_test_path("tests/\xc2\x9b.ts", "tests[0]"));  // U+009B: the CLI escapes it on display
}

TEST(ProtoIdRules, IdempotencyKeyKeepsItsLengthLimit) {
  EXPECT_FALSE(check_idempotency_key(std::string(256, 'k')));
  auto e = check_idempotency_key(std::string(257, 'k'));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, errc::too_large);
}

TEST(ProtoIdRules, SubmitNamesTheFieldThatBreaksARule) {
  auto m = sample<SubmitRequest>();
  m.org_id = "-acme";
  EXPECT_EQ(decode_error(m).field, "org_id");
  m = sample<SubmitRequest>();
  m.app_version_id = "..";
  EXPECT_EQ(decode_error(m).field, "app_version_id");
  m = sample<SubmitRequest>();
  m.idempotency_key = "-";
  EXPECT_EQ(decode_error(m).field, "idempotency_key");
  m = sample<SubmitRequest>();
  m.tests = {"ok.ts", "tests/\x1b[2Jx.ts"};
  EXPECT_EQ(decode_error(m).field, "tests[1]");
}

TEST(ProtoIdRules, WorkerMessagesCheckDeviceAndOtherIds) {
  auto h = sample<Hello>();
  h.device_id = "dev\n1";
  EXPECT_EQ(decode_error(h).field, "device_id");
  h = sample<Hello>();
  h.worker_id = "-w";
  EXPECT_EQ(decode_error(h).field, "worker_id");
  auto b = sample<Heartbeat>();
  b.device_id = "..";
  EXPECT_EQ(decode_error(b).field, "device_id");
  auto r = sample<Report>();
  r.lease_id = ".";
  EXPECT_EQ(decode_error(r).field, "lease_id");
  auto s = sample<StatusRequest>();
  s.job_ids = {"J1", "-J2"};
  EXPECT_EQ(decode_error(s).field, "job_ids[1]");
}

}  // namespace
}  // namespace qg::proto

// A body msgpack refuses as over a limit still gets an error that names the field and carries
// the request's rid (docs/protocol.md, section 9): 10,001 tests, a 65,537-byte log_tail, a map
// of 257 labels, and an array header claiming four billion items, with the rid before or after.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

Report report_with_log(std::size_t bytes) {
  Report r = sample<Report>();
  r.rid = "rep-7";
  r.log_tail = std::string(bytes, 'x');
  return r;
}

TEST(ProtoOverLimit, TenThousandAndOneTestsNameTestsAndKeepTheRid) {
  SubmitRequest s = sample<SubmitRequest>();
  s.rid = "sub-9";
  s.tests.assign(10001, "t.spec.ts");
  const auto body = encode(s);
  auto out = decode<SubmitRequest>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, errc::too_large);
  EXPECT_EQ(out.error().field, "tests");
  EXPECT_EQ(peek_rid(body), "sub-9");
  s.tests.resize(10000);  // at the limit: accepted
  EXPECT_TRUE(decode<SubmitRequest>(encode(s)).ok());
}

TEST(ProtoOverLimit, ALogTailOneByteOverNamesLogTailAndKeepsTheRid) {
  const auto body = encode(report_with_log(65537));
  auto out = decode<Report>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, errc::too_large);
  EXPECT_EQ(out.error().field, "log_tail");
  EXPECT_EQ(peek_rid(body), "rep-7");
  EXPECT_TRUE(decode<Report>(encode(report_with_log(65536))).ok());
}

TEST(ProtoOverLimit, TheRidIsFoundAfterTheOffendingField) {
  // rid written last: the scan steps over the long string to reach it.
  const std::string body = test::packed([](auto& pk) {
    pk.pack_map(3);
    pk.pack(std::string("worker_id"));
    pk.pack(std::string("w1"));
    pk.pack(std::string("log_tail"));
    pk.pack(std::string(70000, 'y'));
    pk.pack(std::string("rid"));
    pk.pack(std::string("late-rid"));
  });
  auto out = decode<Report>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().field, "log_tail");
  EXPECT_EQ(peek_rid(body), "late-rid");
}

TEST(ProtoOverLimit, AMapOverMaxMapItemsIsNamed) {
  Hello h = sample<Hello>();
  h.rid = "hello-3";
  for (int i = 0; i < 257; ++i) h.labels["k" + std::to_string(i)] = "v";
  const auto body = encode(h);
  auto out = decode<Hello>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, errc::too_large);
  EXPECT_EQ(out.error().field, "labels");
  EXPECT_EQ(peek_rid(body), "hello-3");
}

TEST(ProtoOverLimit, AHeaderClaimingFourBillionItemsIsNamedWithoutReadingThem) {
  const std::string body = test::packed([](auto& pk) {
                             pk.pack_map(2);
                             pk.pack(std::string("rid"));
                             pk.pack(std::string("huge-1"));
                             pk.pack(std::string("tests"));
                           }) +
                           std::string("\xdd\xff\xff\xff\xff", 5);
  auto out = decode<SubmitRequest>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, errc::too_large);
  EXPECT_EQ(out.error().field, "tests");
  EXPECT_EQ(peek_rid(body), "huge-1");
}

TEST(ProtoOverLimit, ANestedOverLimitValueIsNamedByItsPath) {
  const std::string body = test::packed([](auto& pk) {
    pk.pack_map(2);
    pk.pack(std::string("worker_id"));
    pk.pack(std::string("w1"));
    pk.pack(std::string("jobs"));
    pk.pack_array(2);
    pk.pack_map(1);
    pk.pack(std::string("job_id"));
    pk.pack(std::string("J1"));
    pk.pack_map(1);
    pk.pack(std::string("job_id"));
    pk.pack(std::string(70000, 'z'));
  });
  auto out = decode<Heartbeat>(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().field, "jobs[1].job_id");
}

}  // namespace
}  // namespace qg::proto

// REPORT's optional install_ms and STATS' farm records: round trip, absent by default, and
// the range rule.

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

Error decode_error(std::string_view body) {
  Expected<Report> result = decode<Report>(body);
  if (result.ok()) {
    ADD_FAILURE() << "decoded";
    return {};
  }
  return result.error();
}

TEST(ProtoReportInstallMs, IsLeftOutWhenAbsentAndRoundTripsWhenGiven) {
  Report r = sample<Report>();
  r.install_ms.reset();
  EXPECT_EQ(encode(r).find("install_ms"), std::string::npos);
  EXPECT_FALSE(decode<Report>(encode(r))->install_ms.has_value());
  r.install_ms = 0;
  ASSERT_TRUE(decode<Report>(encode(r))->install_ms.has_value());
  EXPECT_EQ(*decode<Report>(encode(r))->install_ms, 0);
  r.install_ms = 45'000;
  EXPECT_EQ(*decode<Report>(encode(r))->install_ms, 45'000);
}

TEST(ProtoReportInstallMs, NegativeOrLongerThanADayIsAnInvalidField) {
  const std::string body = encode(sample<Report>());
  for (const auto& value : {test::packed_int(-1), test::packed_uint(86'400'001ull), std::string("\xa1x")}) {
    const Error e = decode_error(test::with_key(body, "install_ms", value));
    EXPECT_EQ(e.code, errc::invalid_field);
    EXPECT_EQ(e.field, "install_ms");
  }
  EXPECT_EQ(*decode<Report>(test::with_key(body, "install_ms", test::packed_uint(86'400'000ull)))->install_ms,
            86'400'000);
}

TEST(ProtoStatsFarm, FarmRecordsRoundTrip) {
  StatsReply reply;
  FarmStat f;
  f.org_id = "acme";
  f.target = Target::device;
  f.window = "hour";
  f.by_status = {{"passed", 3}, {"failed", 1}};
  f.finished = 4;
  f.success_rate = 0.75;
  f.test_p50_ms = 1200;
  f.test_p95_ms = 9000;
  f.tests_run = 5;
  f.installs = 1;
  f.install_p50_ms = 30'000;
  f.tests_per_install = 5;
  f.oldest_queued_ms = 77;
  reply.farm.push_back(f);
  const auto out = decode<StatsReply>(encode(reply));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->farm.size(), 1u);
  EXPECT_EQ(out->farm[0].org_id, "acme");
  EXPECT_EQ(out->farm[0].target, Target::device);
  EXPECT_EQ(out->farm[0].by_status.at("failed"), 1u);
  EXPECT_DOUBLE_EQ(out->farm[0].success_rate, 0.75);
  EXPECT_EQ(out->farm[0].install_p50_ms, 30'000);
  EXPECT_EQ(out->farm[0].oldest_queued_ms, 77);
}

}  // namespace
}  // namespace qg::proto

// SUBMIT's `requires` (worker labels the jobs need): the rules of its keys, values and count,
// each at its limit and one past it, and hostile input (wrong types, duplicates, control bytes,
// option-like keys, oversized maps) refused with a structured error naming the field.

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::proto {
namespace {

using test::sample;
using Labels = std::map<std::string, std::string>;

SubmitRequest submit_requiring(Labels requirements) {
  SubmitRequest m = sample<SubmitRequest>();
  m.requirements = std::move(requirements);
  return m;
}

Error error_of(const SubmitRequest& m) {
  auto out = decode<SubmitRequest>(encode(m));
  if (out.ok()) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  return out.error();
}

Error error_of_body(const std::string& body) {
  auto out = decode<SubmitRequest>(body);
  if (out.ok()) {
    ADD_FAILURE() << "accepted";
    return {};
  }
  return out.error();
}

TEST(ProtoRequirements, RoundTripAndAnEmptyMapIsNone) {
  const Labels needs{{"model", "Pixel 7/8, a=b?"}, {"os", "android14"}, {"empty", ""}};
  auto out = decode<SubmitRequest>(encode(submit_requiring(needs)));
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->requirements, needs);
  auto none = decode<SubmitRequest>(encode(submit_requiring({})));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->requirements);
  SubmitRequest absent = sample<SubmitRequest>();
  absent.requirements.reset();
  auto plain = decode<SubmitRequest>(encode(absent));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->requirements);
}

TEST(ProtoRequirements, AtMostEightEntries) {
  Labels many;
  for (std::size_t i = 0; i < kMaxRequirements; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(decode<SubmitRequest>(encode(submit_requiring(many))).ok());
  many["one-more"] = "v";
  const Error e = error_of(submit_requiring(many));
  EXPECT_EQ(e.code, errc::too_large);
  EXPECT_EQ(e.field, "requires");
}

TEST(ProtoRequirements, KeysAreNamesOfUpTo64Bytes) {
  EXPECT_TRUE(decode<SubmitRequest>(encode(submit_requiring({{std::string(64, 'k'), "v"}}))).ok());
  const Error long_key = error_of(submit_requiring({{std::string(65, 'k'), "v"}}));
  EXPECT_EQ(long_key.code, errc::too_large);
  EXPECT_EQ(long_key.field, "requires.<key>");
  for (const char* bad : {"", "a b", "a=b", "a,b", "a/b", "a?b", "-x", ".", "..", "é", "a\nb", "a:b"}) {
    const Error e = error_of(submit_requiring({{bad, "v"}}));
    EXPECT_EQ(e.code, errc::invalid_field) << bad;
    EXPECT_EQ(e.field.rfind("requires.", 0), 0u) << bad;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(ProtoRequirements, ValuesAreUpTo64BytesWithoutControlBytes) {
  EXPECT_TRUE(decode<SubmitRequest>(encode(submit_requiring({{"model", std::string(64, 'v')}}))).ok());
  const Error long_value = error_of(submit_requiring({{"model", std::string(65, 'v')}}));
  EXPECT_EQ(long_value.code, errc::too_large);
  EXPECT_EQ(long_value.field, "requires.model");
  for (const std::string& bad :
       {std::string("a\nb"), std::string("a\0b", 3), std::string("\x7f"), std::string("\x1b[2J")}) {
    const Error e = error_of(submit_requiring({{"model", bad}}));
    EXPECT_EQ(e.code, errc::invalid_field);
    EXPECT_EQ(e.field, "requires.model");
  }
}

TEST(ProtoRequirements, HostileShapesAreRefusedAndNamed) {
  const std::string body = encode(sample<SubmitRequest>());
  // Not a map, a value not a string, a key not a string, a key given twice.
  for (const char* hex : {"92 a1 61 a1 62", "a2 6f 73", "81 a2 6f 73 07", "81 07 a1 61",
                          "82 a2 6f 73 a1 61 a2 6f 73 a1 62", "81 a2 6f 73 81 a1 61 a1 62"}) {
    const Error e = error_of_body(test::with_key(body, "requires", from_hex(hex)));
    EXPECT_EQ(e.code, errc::invalid_field) << hex;
    EXPECT_EQ(e.field.rfind("requires", 0), 0u) << hex << " named " << e.field;
  }
  // nil is absent, as for every optional field.
  auto nil = decode<SubmitRequest>(test::with_key(body, "requires", from_hex("c0")));
  ASSERT_TRUE(nil.ok());
  EXPECT_FALSE(nil->requirements);
  // A map header claiming four billion entries is refused without reading them.
  const Error huge = error_of_body(test::with_key(body, "requires", from_hex("df ff ff ff ff")));
  EXPECT_FALSE(huge.code.empty());
}

TEST(ProtoRequirements, LabelsSatisfyWhenEveryRequirementHoldsExactly) {
  const Labels labels{{"os", "android14"}, {"model", "pixel7"}, {"rack", "3"}};
  EXPECT_TRUE(labels_satisfy(labels, {}));
  EXPECT_TRUE(labels_satisfy(labels, {{"os", "android14"}, {"model", "pixel7"}}));
  EXPECT_FALSE(labels_satisfy(labels, {{"os", "android1"}}));
  EXPECT_FALSE(labels_satisfy(labels, {{"os", "Android14"}}));
  EXPECT_FALSE(labels_satisfy(labels, {{"gpu", ""}}));
  EXPECT_FALSE(labels_satisfy({}, {{"os", "android14"}}));
}

}  // namespace
}  // namespace qg::proto

#include <gtest/gtest.h>

#include "qg/common/errors.hpp"
#include "qg/worker/settings.hpp"

namespace qg::worker {
namespace {

TEST(ParseLabels, ReadsPairsAndTrimsSpaces) {
  auto labels = parse_labels("os=android, api = 34 ,model=Pixel 7,empty=");
  EXPECT_EQ(labels.size(), 4u);
  EXPECT_EQ(labels["os"], "android");
  EXPECT_EQ(labels["api"], "34");
  EXPECT_EQ(labels["model"], "Pixel 7");
  EXPECT_EQ(labels["empty"], "");
}

TEST(ParseLabels, ValueMayContainEquals) { EXPECT_EQ(parse_labels("k=a=b")["k"], "a=b"); }

TEST(ParseLabels, EmptyTextGivesNoLabels) { EXPECT_TRUE(parse_labels("").empty()); }

TEST(ParseLabels, RejectsMalformedItems) {
  EXPECT_THROW(parse_labels("novalue"), ConfigError);
  EXPECT_THROW(parse_labels("=v"), ConfigError);
  EXPECT_THROW(parse_labels("a=1,a=2"), ConfigError);
}

TEST(ParseTargets, ReadsKnownTargetsOnce) {
  auto t = parse_targets("emulator, device,emulator");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], proto::Target::emulator);
  EXPECT_EQ(t[1], proto::Target::device);
  EXPECT_THROW(parse_targets("phone"), ConfigError);
  EXPECT_THROW(parse_targets(""), ConfigError);
}

TEST(DefaultWorkerId, JoinsHostAndDeviceWithSafeCharacters) {
  EXPECT_EQ(default_worker_id("ci-host", "emulator-5554"), "ci-host-emulator-5554");
  EXPECT_EQ(default_worker_id("host", ""), "host");
  EXPECT_EQ(default_worker_id("my host", "dev:1/2"), "my-host-dev-1-2");
}

TEST(SecondsToMs, ConvertsAndRejectsNegative) {
  EXPECT_EQ(seconds_to_ms(900, "x").count(), 900000);
  EXPECT_EQ(seconds_to_ms(0.25, "x").count(), 250);
  EXPECT_THROW(seconds_to_ms(-1, "x"), ConfigError);
}

}  // namespace
}  // namespace qg::worker

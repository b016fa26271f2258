// parse_duration: the forms operators write (30s, 15m, 12h, 7d, 500ms, 0) and everything else
// refused with the option's name.
#include <gtest/gtest.h>

#include "qg/common/duration.hpp"
#include "qg/common/errors.hpp"

namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, ReadsEachUnit) {
  EXPECT_EQ(qg::parse_duration("30s", "--x"), milliseconds(30'000));
  EXPECT_EQ(qg::parse_duration("15m", "--x"), milliseconds(15 * 60'000));
  EXPECT_EQ(qg::parse_duration("12h", "--x"), milliseconds(12LL * 3'600'000));
  EXPECT_EQ(qg::parse_duration("7d", "--x"), milliseconds(7LL * 86'400'000));
  EXPECT_EQ(qg::parse_duration("250ms", "--x"), milliseconds(250));
  EXPECT_EQ(qg::parse_duration("0", "--x"), milliseconds(0));
  EXPECT_EQ(qg::parse_duration("0s", "--x"), milliseconds(0));
}

TEST(ParseDuration, RefusesWhatIsNotOneNumberAndOneUnit) {
  for (const char* bad : {"", "10", "s", "1.5h", "-1s", "+1s", " 1s", "1s ", "1h30m", "1w", "1S", "1 s", "1sec",
                          "0x10s", "9999999999999d"}) {
    try {
      qg::parse_duration(bad, "--forget-workers-after");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const qg::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--forget-workers-after"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseDuration, RefusesOverAHundredYears) {
  EXPECT_NO_THROW(qg::parse_duration("36500d", "--x"));
  EXPECT_THROW(qg::parse_duration("36501d", "--x"), qg::ConfigError);
}

TEST(FormatDurationOption, WritesTheLargestExactUnit) {
  EXPECT_EQ(qg::format_duration_option(milliseconds(600'000)), "10m");
  EXPECT_EQ(qg::format_duration_option(milliseconds(90'000)), "90s");
  EXPECT_EQ(qg::format_duration_option(milliseconds(7LL * 86'400'000)), "7d");
  EXPECT_EQ(qg::format_duration_option(milliseconds(1500)), "1500ms");
  EXPECT_EQ(qg::format_duration_option(milliseconds(0)), "0");
}

}  // namespace

#include "qg/common/duration.hpp"

#include <gtest/gtest.h>

#include "qg/common/errors.hpp"

namespace qg {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("250ms", "--x"), milliseconds(250));
  EXPECT_EQ(parse_duration("30s", "--x"), milliseconds(30'000));
  EXPECT_EQ(parse_duration("15m", "--x"), milliseconds(900'000));
  EXPECT_EQ(parse_duration("12h", "--x"), milliseconds(43'200'000));
  EXPECT_EQ(parse_duration("7d", "--x"), milliseconds(604'800'000));
  EXPECT_EQ(parse_duration("0s", "--x"), milliseconds(0));
}

TEST(Duration, RefusesWhatIsNotAWholeNumberAndAUnit) {
  for (const char* bad : {"", "10", "s", "-5s", "1.5h", "10 m", "10M", "10sec", "5mss", "99999999999999999999d",
                          "9999999999999999d"}) {
    SCOPED_TRACE(bad);
    try {
      parse_duration(bad, "--quarantine-cooldown");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--quarantine-cooldown"), std::string::npos);
    }
  }
}

TEST(Duration, FormatsInTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds(600'000)), "10m");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(parse_duration(format_duration(milliseconds(86'400'000 * 3)), "--x"), milliseconds(86'400'000 * 3));
}

}  // namespace
}  // namespace qg

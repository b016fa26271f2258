// parse_duration: the forms every duration option accepts, and hostile input refused with a
// message rather than a crash or a silently wrong value.

#include "qg/common/duration.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qg/common/errors.hpp"

namespace qg {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ReadsEachUnit) {
  EXPECT_EQ(parse_duration("30s").value, milliseconds(30'000));
  EXPECT_EQ(parse_duration("15m").value, milliseconds(15 * 60'000));
  EXPECT_EQ(parse_duration("12h").value, milliseconds(12 * 3'600'000LL));
  EXPECT_EQ(parse_duration("7d").value, milliseconds(7 * 86'400'000LL));
  EXPECT_EQ(parse_duration("250ms").value, milliseconds(250));
  EXPECT_EQ(parse_duration("0").value, milliseconds(0));
  EXPECT_EQ(parse_duration("0s").value, milliseconds(0));
  EXPECT_EQ(parse_duration("007m").value, milliseconds(7 * 60'000));
}

TEST(Duration, RefusesHostileInputWithAReason) {
  for (const std::string& bad : std::vector<std::string>{"",
                                                         "s",
                                                         "30",
                                                         "-5s",
                                                         "+5s",
                                                         "5 s",
                                                         " 5s",
                                                         "5s ",
                                                         "1.5h",
                                                         "5S",
                                                         "5sec",
                                                         "5w",
                                                         "5d5h",
                                                         "0x10s",
                                                         "ms",
                                                         "99999999999999999999999d",
                                                         "1000000000000000000s",
                                                         "36501d",
                                                         std::string("5\0s", 3),
                                                         std::string(100000, '9') + "s",
                                                         "\xff\xfes",
                                                         "5s\n"}) {
    auto parsed = parse_duration(bad);
    EXPECT_FALSE(parsed.value.has_value()) << "'" << bad << "' was read as " << parsed.value->count() << " ms";
    EXPECT_FALSE(parsed.error.empty()) << bad;
    EXPECT_LT(parsed.error.size(), 200U) << "the message quotes at most a short prefix";
  }
}

TEST(Duration, LongestAcceptedIsAHundredYears) {
  EXPECT_TRUE(parse_duration("36500d").value.has_value());
  EXPECT_FALSE(parse_duration("36501d").value.has_value());
}

TEST(Duration, OptionNamesItselfAndTakesTheOffWord) {
  EXPECT_EQ(duration_option("--retention", "off", "off"), std::nullopt);
  EXPECT_EQ(duration_option("--retention", "2h", "off"), milliseconds(7'200'000));
  try {
    duration_option("--retention", "7 days", "off");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--retention"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'off'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(duration_option("--log-retention", "off"), ConfigError);  // no off word: off is not a duration
}

TEST(Duration, FormatReadsBack) {
  for (long long ms : {0LL, 1LL, 999LL, 1000LL, 90'000LL, 3'600'000LL, 604'800'000LL, 1'500LL}) {
    const auto text = format_duration(milliseconds(ms));
    EXPECT_EQ(parse_duration(text).value, milliseconds(ms)) << text;
  }
  EXPECT_EQ(format_duration(milliseconds(604'800'000)), "7d");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
}

}  // namespace
}  // namespace qg

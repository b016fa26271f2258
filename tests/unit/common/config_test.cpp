#include <gtest/gtest.h>

#include <cstdlib>

#include "qg/common/config.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"

namespace {

struct Parsed {
  qg::ParseOutcome outcome;
  std::string endpoint = "default";
  int retries = 1;
};

Parsed parse(std::vector<const char*> args) {
  Parsed p;
  qg::po::options_description options;
  options.add_options()("broker-endpoint", qg::po::value(&p.endpoint)->default_value(p.endpoint), "where")(
      "retries", qg::po::value(&p.retries)->default_value(p.retries), "how often");
  args.insert(args.begin(), "prog");
  p.outcome = qg::parse_options(static_cast<int>(args.size()), args.data(), options, {"QGTEST_"}, "prog", "test");
  return p;
}

TEST(Config, DefaultsApplyWhenNothingIsGiven) {
  unsetenv("QGTEST_BROKER_ENDPOINT");
  auto p = parse({});
  EXPECT_TRUE(p.outcome.run);
  EXPECT_EQ(p.endpoint, "default");
  EXPECT_EQ(p.retries, 1);
}

TEST(Config, EnvironmentOverridesDefaultsAndFlagsOverrideTheEnvironment) {
  setenv("QGTEST_BROKER_ENDPOINT", "tcp://env:1", 1);
  auto from_env = parse({});
  EXPECT_EQ(from_env.endpoint, "tcp://env:1");
  auto from_flag = parse({"--broker-endpoint", "tcp://flag:2"});
  EXPECT_EQ(from_flag.endpoint, "tcp://flag:2");
  unsetenv("QGTEST_BROKER_ENDPOINT");
}

TEST(Config, ABadValueIsAUsageErrorWithExitCodeThree) {
  testing::internal::CaptureStderr();
  auto p = parse({"--retries", "many"});
  auto err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(p.outcome.run);
  EXPECT_EQ(p.outcome.exit_code, 3);
  EXPECT_NE(err.find("retries"), std::string::npos) << err;
}

TEST(Config, UnknownOptionIsRefused) {
  testing::internal::CaptureStderr();
  auto p = parse({"--frobnicate"});
  testing::internal::GetCapturedStderr();
  EXPECT_FALSE(p.outcome.run);
  EXPECT_EQ(p.outcome.exit_code, 3);
}

TEST(Config, HelpPrintsEveryOptionAndExitsZero) {
  testing::internal::CaptureStdout();
  auto p = parse({"--help"});
  auto out = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(p.outcome.run);
  EXPECT_EQ(p.outcome.exit_code, 0);
  EXPECT_NE(out.find("--broker-endpoint"), std::string::npos);
  EXPECT_NE(out.find("QGTEST_"), std::string::npos);
}

TEST(Config, VersionPrintsTheProgramAndItsVersionAndExitsZero) {
  testing::internal::CaptureStdout();
  auto p = parse({"--version"});
  auto out = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(p.outcome.run);
  EXPECT_EQ(p.outcome.exit_code, 0);
  EXPECT_EQ(out.rfind("prog ", 0), 0u) << out;
  EXPECT_GT(out.size(), std::string("prog \n").size()) << out;
}

TEST(Config, VersionIsNotTakenFromTheEnvironment) {
  setenv("QGTEST_VERSION", "1", 1);
  auto p = parse({});
  unsetenv("QGTEST_VERSION");
  EXPECT_TRUE(p.outcome.run);
}

TEST(Config, SplitListTrimsAndDropsEmptyItems) {
  EXPECT_EQ(qg::split_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(qg::split_list("").empty());
}

TEST(Logging, UnknownLevelIsAConfigError) {
  EXPECT_THROW(qg::make_logger("x", {.level = "loud", .json = false}), qg::ConfigError);
  EXPECT_NO_THROW(qg::make_logger("x", {.level = "debug", .json = true}));
}

}  // namespace

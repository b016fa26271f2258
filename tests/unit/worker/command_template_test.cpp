#include <gtest/gtest.h>

#include <filesystem>

#include "qg/testing/process.hpp"
#include "qg/worker/command_template.hpp"

namespace qg::worker {
namespace {

// What /bin/sh makes of `command`: printf prints each argument on its own line.
std::string shell_output(const std::string& command) {
  auto result = qg::testing::run_command({"/bin/sh", "-c", command}, std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 0) << result.error;
  return result.output;
}

TEST(ShellQuote, LeavesPlainWordsAlone) {
  EXPECT_EQ(shell_quote("tests/login.spec.ts"), "tests/login.spec.ts");
  EXPECT_EQ(shell_quote("org-1_a.b:c=d@e%f+g,h"), "org-1_a.b:c=d@e%f+g,h");
}

TEST(ShellQuote, QuotesEmptyAndSpecialValues) {
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$(id)"), "'$(id)'");
}

TEST(ShellQuote, HostileValuesReachTheCommandAsOneLiteralArgument) {
  for (std::string hostile : {"a b", "it's", "\"double\"", "$(touch /tmp/qg-pwned)", "`id`", "x; rm -rf /", "a\nb",
                              "'; echo pwned; '", "$HOME", "*", "-n", "back\\slash", "{test_path}"}) {
    EXPECT_EQ(shell_output("printf '%s\\n' " + shell_quote(hostile)), hostile + "\n") << hostile;
  }
}

TEST(RenderTemplate, SubstitutesEveryPlaceholderQuoted) {
  std::map<std::string, std::string> v = {{"org_id", "acme"},     {"app_version_id", "v1.2"}, {"test_path", "a b.ts"},
                                          {"target", "emulator"}, {"job_id", "J1"},           {"attempt", "2"},
                                          {"device_id", ""}};
  EXPECT_EQ(render_template("npx appwright test {test_path} --project {target}", v),
            "npx appwright test 'a b.ts' --project emulator");
  EXPECT_EQ(render_template("i {org_id}/{app_version_id} {job_id}#{attempt} [{device_id}]", v),
            "i acme/v1.2 J1#2 ['']");
}

TEST(RenderTemplate, LeavesUnknownBracesAndShellExpansionsUntouched) {
  std::map<std::string, std::string> v = {{"test_path", "t.ts"}};
  EXPECT_EQ(render_template("echo ${HOME} {nope} {test_path} { } {", v), "echo ${HOME} {nope} t.ts { } {");
}

TEST(RenderTemplate, ValueContainingAPlaceholderIsNotExpandedAgain) {
  std::map<std::string, std::string> v = {{"test_path", "{org_id}"}, {"org_id", "acme"}};
  EXPECT_EQ(render_template("{test_path}", v), "'{org_id}'");
}

TEST(RenderTemplate, HostileValueRunsNothing) {
  qg::testing::TempDir dir;
  auto marker = dir.path() + "/pwned";
  std::map<std::string, std::string> v = {{"test_path", "x$(touch " + marker + ")'; touch " + marker + "; '"}};
  auto out = shell_output(render_template("printf '%s\\n' {test_path}", v));
  EXPECT_EQ(out, v["test_path"] + "\n");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(UnknownPlaceholders, ReportsTyposButNotShellVariables) {
  EXPECT_TRUE(unknown_placeholders("npx appwright test {test_path} --project {target} ${HOME}").empty());
  EXPECT_EQ(unknown_placeholders("run {testpath} {target}"), std::vector<std::string>{"testpath"});
}

}  // namespace
}  // namespace qg::worker

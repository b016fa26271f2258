// The start-up check of command templates: every place a placeholder is refused, the forms that
// stay allowed, which templates run without a shell, and that a hostile value reaches the
// program as one literal argument either way.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "qg/testing/process.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/process.hpp"
#include "qg/worker/settings.hpp"

namespace qg::worker {
namespace {

using namespace std::chrono_literals;

// The message of the refusal, or "" with a failure when `text` was accepted.
std::string refusal(const std::string& text) {
  try {
    CommandTemplate t(text, "--run-cmd");
  } catch (const UnsafeTemplate& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

bool accepted(const std::string& text) {
  try {
    CommandTemplate t(text, "--run-cmd");
    return true;
  } catch (const UnsafeTemplate& e) {
    ADD_FAILURE() << e.what();
    return false;
  }
}

// What the program printed when run from `t` with `values` (stdout and stderr).
std::string run_output(const CommandTemplate& t, const std::map<std::string, std::string>& values) {
  qg::testing::TempDir dir;
  CommandSpec spec;
  spec.argv = t.argv(values);
  spec.log_path = dir.path() + "/out.log";
  EXPECT_EQ(run_to_completion(spec).exit_code, 0);
  std::ifstream in(spec.log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TemplateCheck, ReadmeAndDefaultTemplatesRunWithoutAShell) {
  CommandTemplate install("adb -s {device_id} install -r builds/{app_version_id}.apk", "--install-cmd");
  CommandTemplate run(std::string(kDefaultRunCmd), "--run-cmd");
  EXPECT_FALSE(install.uses_shell());
  EXPECT_FALSE(run.uses_shell());
  EXPECT_EQ(run.argv({{"test_path", "tests/a b;$(id).ts"}, {"target", "device"}}),
            (std::vector<std::string>{"npx", "appwright", "test", "tests/a b;$(id).ts", "--project", "device"}));
  EXPECT_EQ(install.argv({{"device_id", "emulator-5554"}, {"app_version_id", "v1"}}),
            (std::vector<std::string>{"adb", "-s", "emulator-5554", "install", "-r", "builds/v1.apk"}));
}

TEST(TemplateCheck, RefusesAPlaceholderInsideQuotes) {
  EXPECT_NE(refusal("npx appwright test '{test_path}'").find("inside quotes"), std::string::npos);
  EXPECT_NE(refusal("npx appwright test \"{test_path}\"").find("inside quotes"), std::string::npos);
  EXPECT_NE(refusal("echo 'build {app_version_id} ok'").find("{app_version_id}"), std::string::npos);
  EXPECT_NE(refusal("echo $'{org_id}'").find("inside quotes"), std::string::npos);
  refusal("echo \"{job_id} {attempt}\"");
}

TEST(TemplateCheck, RefusesAPlaceholderInTheCommandStringOfAShell) {
  for (const char* text :
       {"sh -c {test_path}", "bash -lc {test_path}", "/bin/sh -ec {test_path}", "sh -c -e {test_path}",
        "dash -c{test_path}", "bash --command={test_path}", "timeout 60 zsh -c {test_path}", "su qa -c {test_path}",
        "env -S {test_path}", "flock /tmp/l -c {test_path}"}) {
    EXPECT_NE(refusal(text).find("command string"), std::string::npos) << text;
  }
}

TEST(TemplateCheck, RefusesPlacesWhereTheShellParsesTheValueAgain) {
  EXPECT_NE(refusal("eval echo {test_path}").find("`eval`"), std::string::npos);
  EXPECT_NE(refusal("ssh host run {test_path}").find("`ssh`"), std::string::npos);
  EXPECT_NE(refusal("export X={test_path}; run").find("`export`"), std::string::npos);
  EXPECT_NE(refusal("echo `cat {test_path}`").find("inside `...`"), std::string::npos);
  EXPECT_NE(refusal("echo ${X:-{test_path}}").find("${...}"), std::string::npos);
  EXPECT_NE(refusal("echo $(( {attempt} + 1 ))").find("arithmetic"), std::string::npos);
  EXPECT_NE(refusal("(( {attempt} > 1 )) && run").find("arithmetic"), std::string::npos);
  EXPECT_NE(refusal("[[ {test_path} == x ]] && run").find("[["), std::string::npos);
  EXPECT_NE(refusal("cat <<EOF\n{test_path}\nEOF").find("here-document"), std::string::npos);
  EXPECT_NE(refusal("echo \\{test_path}").find("backslash"), std::string::npos);
}

TEST(TemplateCheck, RefusalNamesTheOptionAndShowsTheSafeForms) {
  auto message = refusal("npx appwright test '{test_path}'");
  EXPECT_EQ(message.rfind("--run-cmd ", 0), 0u) << message;
  EXPECT_NE(message.find("npx appwright test {test_path}"), std::string::npos) << message;
  EXPECT_NE(message.find("sh -c 'npx appwright test \"$QG_JOB_TEST_PATH\"'"), std::string::npos) << message;
  EXPECT_NE(refusal("sh -c {job_id}").find("$QG_JOB_ID"), std::string::npos);
}

TEST(TemplateCheck, SafeShellFormsAreAllowed) {
  EXPECT_TRUE(accepted("sh -c 'npx appwright test \"$QG_JOB_TEST_PATH\"'"));
  EXPECT_TRUE(accepted("sh -c 'npx appwright test \"$1\"' sh {test_path}"));  // a positional argument
  EXPECT_TRUE(accepted("echo {app_version_id} {device_id} >> installs.log; exec run {test_path}"));
  EXPECT_TRUE(accepted("case {test_path} in *hang*) sleep 60;; esac"));
  EXPECT_TRUE(accepted("d={test_path}; exec sleep ${d##*/}"));
  EXPECT_TRUE(accepted("echo \"${test_path}\" '${HOME}'"));  // the shell's variables, not placeholders
  EXPECT_TRUE(accepted("run --name='x y'{test_path} \"a b\""));
  EXPECT_TRUE(accepted("cat <<< {test_path}"));  // a here-string is one word
}

TEST(TemplateCheck, UnterminatedQuotesAndEmptyTemplatesAreRefused) {
  EXPECT_NE(refusal("npx test {test_path} 'abc").find("unterminated"), std::string::npos);
  EXPECT_NE(refusal("npx test \"abc").find("unterminated"), std::string::npos);
  EXPECT_NE(refusal("   ").find("no command"), std::string::npos);
}

TEST(TemplateCheck, ShellSyntaxDecidesWhetherAShellRuns) {
  for (const char* plain : {"npx appwright test {test_path}", "run 'a b' \"c d\" x=1 {target}", "./bin/run-{target}"}) {
    EXPECT_FALSE(CommandTemplate(plain, "--run-cmd").uses_shell()) << plain;
  }
  for (const char* shell : {"a; b", "a && b", "a | b", "a > out", "echo $HOME", "ls *.ts", "~/bin/run", "FOO=1 run",
                            "cd dir", "echo \"$X\"", "run \\ x", "# comment"}) {
    EXPECT_TRUE(CommandTemplate(shell, "--run-cmd").uses_shell()) << shell;
  }
  CommandTemplate t("echo {test_path}; true", "--run-cmd");
  EXPECT_EQ(t.argv({{"test_path", "a b"}}), (std::vector<std::string>{"/bin/sh", "-c", "echo 'a b'; true"}));
}

TEST(TemplateCheck, HostileValueIsOneLiteralArgumentWithOrWithoutAShell) {
  qg::testing::TempDir dir;
  auto marker = dir.path() + "/pwned";
  const std::string hostile = "x$(touch " + marker + ")'; touch " + marker + "; '\"`touch " + marker + "`\n-n *";
  CommandTemplate plain("printf %s. {test_path}", "--run-cmd");
  CommandTemplate shell("printf %s. {test_path}; true", "--run-cmd");
  ASSERT_FALSE(plain.uses_shell());
  ASSERT_TRUE(shell.uses_shell());
  EXPECT_EQ(run_output(plain, {{"test_path", hostile}}), hostile + ".");
  EXPECT_EQ(run_output(shell, {{"test_path", hostile}}), hostile + ".");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(TemplateCheck, EveryPlaceholderHasAnEnvironmentVariable) {
  EXPECT_EQ(placeholder_env_name("test_path"), "QG_JOB_TEST_PATH");
  EXPECT_EQ(placeholder_env_name("app_version_id"), "QG_JOB_APP_VERSION_ID");
  EXPECT_EQ(placeholder_env_name("job_id"), "QG_JOB_ID");
  EXPECT_EQ(placeholder_env_name("device_id"), "QG_JOB_DEVICE_ID");
}

TEST(TemplateCheck, DisplayQuotesEachArgument) {
  EXPECT_EQ(display_command({"npx", "test", "a b.ts", ""}), "npx test 'a b.ts' ''");
}

}  // namespace
}  // namespace qg::worker

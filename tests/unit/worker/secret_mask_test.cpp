// Masking secrets in the text a worker sends: which variables count, what is replaced, and that
// a log tail cut by bytes never shows part of a secret.
#include <gtest/gtest.h>

#include <fstream>

#include "qg/testing/process.hpp"
#include "qg/worker/log_tail.hpp"
#include "qg/worker/secret_mask.hpp"

namespace qg::worker {
namespace {

TEST(GlobMatch, StarAndQuestionMarkIgnoringCase) {
  EXPECT_TRUE(glob_match_nocase("*TOKEN*", "GITHUB_TOKEN"));
  EXPECT_TRUE(glob_match_nocase("*TOKEN*", "npm_token_ro"));
  EXPECT_TRUE(glob_match_nocase("*TOKEN*", "TOKEN"));
  EXPECT_TRUE(glob_match_nocase("*KEY*", "BROWSERSTACK_ACCESS_KEY"));
  EXPECT_TRUE(glob_match_nocase("AWS_?_ID", "aws_x_id"));
  EXPECT_TRUE(glob_match_nocase("*", ""));
  EXPECT_FALSE(glob_match_nocase("*TOKEN*", "TOKE"));
  EXPECT_FALSE(glob_match_nocase("*SECRET", "SECRET_FILE"));
  EXPECT_FALSE(glob_match_nocase("AWS_?_ID", "AWS__ID"));
}

TEST(SecretMask, ReplacesEveryOccurrenceOfEveryValue) {
  SecretMask mask({"hunter22", "s3cr3t-token"});
  EXPECT_EQ(mask.apply("login hunter22 then s3cr3t-token and hunter22."), "login *** then *** and ***.");
  EXPECT_EQ(mask.apply("nothing here"), "nothing here");
  EXPECT_EQ(mask.apply(""), "");
}

TEST(SecretMask, ValuesShorterThanFourBytesAreNotMasked) {
  SecretMask mask({"abc", "", "abcd"});
  EXPECT_EQ(mask.apply("abc abcd"), "abc ***");
  EXPECT_EQ(mask.longest(), 4u);
  EXPECT_TRUE(SecretMask({"x", "yes"}).empty());
}

TEST(SecretMask, LongestValueWinsWhereTwoStartTogether) {
  SecretMask mask({"pass", "password1"});
  EXPECT_EQ(mask.apply("password1 pass"), "*** ***");
}

TEST(SecretMask, FromIsWhereTheResultBeginsButMatchingSeesEverything) {
  SecretMask mask({"TOPSECRET"});
  const std::string text = "xxTOPSECRETyy";
  EXPECT_EQ(mask.apply(text, 0), "xx***yy");
  EXPECT_EQ(mask.apply(text, 2), "***yy");
  EXPECT_EQ(mask.apply(text, 6), "***yy");  // a secret across `from` is masked whole
  EXPECT_EQ(mask.apply(text, 11), "yy");    // one that ends at `from` is not in the result
  EXPECT_EQ(mask.apply(text, 13), "");
}

TEST(SecretMask, FromEnvironmentPicksTheVariablesWhoseNamesMatch) {
  const char* env[] = {"API_TOKEN=tok-123456",
                       "db_password=pa55word",
                       "HOME=/home/qa",
                       "SSH_KEY_ID=k-999",
                       "SHORT_SECRET=abc",
                       "NOEQUALS",
                       nullptr};
  auto mask = SecretMask::from_environment(default_mask_patterns(), env);
  EXPECT_EQ(mask.apply("tok-123456 pa55word /home/qa k-999 abc"), "*** *** /home/qa *** abc");
  auto only_home = SecretMask::from_environment({"home"}, env);
  EXPECT_EQ(only_home.apply("tok-123456 /home/qa"), "tok-123456 ***");
  EXPECT_TRUE(SecretMask::from_environment(default_mask_patterns(), nullptr).empty());
}

TEST(SecretMask, TailCutByBytesNeverShowsPartOfASecret) {
  qg::testing::TempDir dir;
  auto path = dir.path() + "/job.log";
  const std::string secret = "ghp_0123456789abcdefSECRET";
  // One long line, so the tail keeps its partial first line; the 100-byte cut falls inside the secret.
  const std::string text = std::string(50, 'x') + secret + std::string(90, 'y');
  std::ofstream(path) << text;
  auto unmasked = tail_file(path, 50, 100);
  ASSERT_NE(unmasked.find("SECRET"), std::string::npos) << "the cut no longer splits the secret";
  auto masked = tail_file(path, 50, 100, SecretMask({secret}));
  EXPECT_EQ(masked, "***" + std::string(90, 'y'));
  EXPECT_EQ(masked.find("SECRET"), std::string::npos);
}

TEST(SecretMask, TailMaskedBeforeItIsCutToItsLines) {
  qg::testing::TempDir dir;
  auto path = dir.path() + "/job.log";
  std::ofstream(path) << "token=abcdefgh\nline 2 abcdefgh\nline 3\n";
  EXPECT_EQ(tail_file(path, 2, 1 << 16, SecretMask({"abcdefgh"})), "line 2 ***\nline 3\n");
  EXPECT_EQ(tail_file(path, 50, 1 << 16, SecretMask({"abcdefgh"})), "token=***\nline 2 ***\nline 3\n");
}

}  // namespace
}  // namespace qg::worker

// Tokens files and bearer headers: roles, malformed lines named without their token, reloads
// that keep the old tokens on an error.
#include <gtest/gtest.h>

#include <fstream>

#include "auth.hpp"
#include "qg/common/errors.hpp"
#include "qg/testing/process.hpp"

namespace {

using qg::gateway::Authenticator;
using qg::gateway::Caller;
using qg::gateway::parse_tokens;

const std::string kAdmin = "admin-token-0123456789";
const std::string kAcme = "acme-token-0123456789";

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(GatewayTokens, ParseRolesSkippingCommentsAndBlankLines) {
  auto entries = parse_tokens("# tokens\n\n" + kAdmin + " admin\r\n" + kAcme + "   org:acme\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].caller.role, Caller::Role::admin);
  EXPECT_EQ(entries[1].caller.role, Caller::Role::org);
  EXPECT_EQ(entries[1].caller.org_id, "acme");
}

TEST(GatewayTokens, RefuseMalformedLinesWithoutQuotingTheToken) {
  for (const std::string& bad :
       std::vector<std::string>{"short admin\n", kAdmin + "\n", kAdmin + " root\n", kAdmin + " org:a.b\n",
                                kAdmin + " admin extra\n", kAdmin + " admin\n" + kAdmin + " org:acme\n"}) {
    try {
      parse_tokens(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const qg::ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find(kAdmin), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("line"), std::string::npos) << e.what();
    }
  }
}

TEST(GatewayTokens, BearerHeadersMapToTheirCaller) {
  qg::testing::TempDir dir;
  const auto file = dir.path() + "/tokens";
  write(file, kAdmin + " admin\n" + kAcme + " org:acme\n");
  Authenticator auth(file);
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.authenticate("Bearer " + kAdmin)->role, Caller::Role::admin);
  EXPECT_EQ(auth.authenticate("bearer " + kAcme)->org_id, "acme");
  EXPECT_FALSE(auth.authenticate(""));
  EXPECT_FALSE(auth.authenticate("Bearer"));
  EXPECT_FALSE(auth.authenticate("Basic " + kAdmin));
  EXPECT_FALSE(auth.authenticate("Bearer " + kAdmin + "x"));
  EXPECT_FALSE(auth.authenticate("Bearer " + kAdmin.substr(1)));
}

TEST(GatewayTokens, ReloadTakesNewTokensAndKeepsTheOldOnesWhenTheFileIsBad) {
  qg::testing::TempDir dir;
  const auto file = dir.path() + "/tokens";
  write(file, kAdmin + " admin\n");
  Authenticator auth(file);
  write(file, kAcme + " org:acme\n");
  EXPECT_FALSE(auth.reload());
  EXPECT_FALSE(auth.authenticate("Bearer " + kAdmin));
  EXPECT_TRUE(auth.authenticate("Bearer " + kAcme));
  write(file, "garbage\n");
  EXPECT_TRUE(auth.reload());  // the reason
  EXPECT_TRUE(auth.authenticate("Bearer " + kAcme));
}

TEST(GatewayTokens, WithoutAFileEveryCallerIsLocal) {
  Authenticator auth("");
  EXPECT_FALSE(auth.enabled());
  auto caller = auth.authenticate("");
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->role, Caller::Role::local);
  EXPECT_TRUE(caller->sees_every_org());
  EXPECT_THROW(Authenticator("/nonexistent/tokens"), qg::ConfigError);
}

}  // namespace

// Redis URLs with credentials, hostile ones included, how they are shown in logs and errors
// (never with the password), and the password file; no server needed.

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "qg/common/errors.hpp"
#include "qg/common/redis_address.hpp"
#include "qg/testing/process.hpp"

namespace qg {
namespace {

// The text of the ConfigError that parsing `url` throws ("" when it parses).
std::string parse_error(std::string_view url) {
  try {
    RedisAddress::parse(url);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

TEST(RedisAddressCredentials, APasswordAloneIsForTheDefaultUser) {
  auto a = RedisAddress::parse("redis://:s3cret@10.0.0.5:6380/2");
  EXPECT_EQ(a.username, "");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.host, "10.0.0.5");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  EXPECT_TRUE(a.has_credentials());
  EXPECT_EQ(a.user_description(), "the default user");
}

TEST(RedisAddressCredentials, AUserAndPasswordAreAnAclUser) {
  auto a = RedisAddress::parse("redis://alice:pw@redis.internal");
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.host, "redis.internal");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.user_description(), "user 'alice'");
  auto b = RedisAddress::parse("redis://alice@h:1");  // the password comes from a file
  EXPECT_EQ(b.username, "alice");
  EXPECT_EQ(b.password, "");
  EXPECT_TRUE(b.has_credentials());
}

TEST(RedisAddressCredentials, EmptyCredentialsMeanNoAuth) {
  for (const char* url : {"redis://@h:1", "redis://:@h:1", "redis://h:1"}) {
    auto a = RedisAddress::parse(url);
    EXPECT_FALSE(a.has_credentials()) << url;
    EXPECT_EQ(a.host, "h") << url;
    EXPECT_EQ(a.url(), "redis://h:1") << url;
  }
}

TEST(RedisAddressCredentials, CredentialsArePercentDecoded) {
  auto a = RedisAddress::parse("redis://al%40ice:p%40ss%2Fw%3Ad%25%20x@h:1");
  EXPECT_EQ(a.username, "al@ice");
  EXPECT_EQ(a.password, "p@ss/w:d% x");
  EXPECT_EQ(a.host, "h");
  // A raw '@' or ':' in the password is taken too: the last '@' ends the credentials, the
  // first ':' the user.
  auto b = RedisAddress::parse("redis://u:a:b@c@h:1/3");
  EXPECT_EQ(b.username, "u");
  EXPECT_EQ(b.password, "a:b@c");
  EXPECT_EQ(b.host, "h");
  EXPECT_EQ(b.db, 3);
  // Encoded control characters and NUL are the password's own business.
  auto c = RedisAddress::parse("redis://:a%00b%0A@h:1");
  EXPECT_EQ(c.password, std::string("a\0b\n", 4));
}

TEST(RedisAddressCredentials, UnixSocketsTakeCredentialsToo) {
  auto a = RedisAddress::parse("unix://bob:pw@/run/redis/redis.sock?db=3");
  EXPECT_EQ(a.username, "bob");
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(a.db, 3);
  EXPECT_EQ(a.url(), "unix://bob:***@/run/redis/redis.sock?db=3");
  auto b = RedisAddress::parse("unix:///tmp/a@b.sock");  // '@' inside the path is the path's
  EXPECT_EQ(b.socket_path, "/tmp/a@b.sock");
  EXPECT_FALSE(b.has_credentials());
}

TEST(RedisAddressCredentials, UrlMasksThePasswordAndParsesBack) {
  EXPECT_EQ(RedisAddress::parse("redis://:s3cret@h:1/2").url(), "redis://:***@h:1/2");
  EXPECT_EQ(RedisAddress::parse("redis://alice:s3cret@h:1").url(), "redis://alice:***@h:1");
  EXPECT_EQ(RedisAddress::parse("redis://alice@h:1").url(), "redis://alice@h:1");
  auto odd = RedisAddress::parse("redis://a%40b%3Ac%0A:s3cret@h:1");
  EXPECT_EQ(odd.url(), "redis://a%40b%3Ac%0A:***@h:1");
  auto back = RedisAddress::parse(odd.url());
  EXPECT_EQ(back.username, odd.username);
  EXPECT_EQ(back.host, "h");
}

TEST(RedisAddressCredentials, UserNamesInMessagesAreEscaped) {
  EXPECT_EQ(RedisAddress::parse("redis://a%0Ab'%1B:pw@h").user_description(), "user 'a\\x0ab\\x27\\x1b'");
}

TEST(RedisAddressCredentials, HostileUrlsAreConfigErrors) {
  for (const std::string& url : std::vector<std::string>{
           "redis://:pw@",       // no host after '@'
           "redis://:pw@:6379",  // empty host
           "redis://:pw@/0",     // empty host, a db
           "redis://u:pw@h:",    // empty port
           "redis://u:%zz@h",    // not hex
           "redis://u:%4@h",     // one digit
           "redis://u:pw%@h",    // '%' at the end
           "redis://%g0:pw@h",   // bad encoding in the user
           "redis://:pw\n@h",    // raw control characters
           "redis://h\r:1",      //
           std::string("redis://:p\0w@h", 14),
           "redis://:p w@h x",     // a space in the host
           "rediss://:pw@h:6380",  // TLS
           "unix://:pw@relative.sock",
           "unix://:pw@",
       }) {
    EXPECT_THROW(RedisAddress::parse(url), ConfigError) << url;
  }
}

TEST(RedisAddressCredentials, ErrorsNeverQuoteThePassword) {
  for (std::string url :
       {"redis://:hunter2@", "redis://:hunter2@h:99999", "redis://:hunter2@h:1/x", "redis://u:hunter2%zz@h",
        "redis://u:hunter2@h?x=1", "redis://:hunter2\x01@h", "redis://:hunter2@/0", "rediss://:hunter2@h:6380",
        "rediss://u:hunter2@h", "http://:hunter2@h", "hunter2@h", "unix://:hunter2@rel.sock",
        "unix://u:hunter2@/s?db=x", "redis://:a/hunter2@h"}) {
    const auto error = parse_error(url);
    EXPECT_FALSE(error.empty()) << url;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  }
}

TEST(RedisAddressCredentials, TlsIsRefusedWithAPointerToTheDocs) {
  const auto error = parse_error("rediss://h:6380");
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
  EXPECT_NE(error.find("docs/operations.md"), std::string::npos) << error;
}

TEST(RedisAddressCredentials, VeryLongInputsParseOrFailBriefly) {
  const std::string password(100000, 'p');
  auto a = RedisAddress::parse("redis://:" + password + "@h:1");
  EXPECT_EQ(a.password, password);
  EXPECT_EQ(a.url(), "redis://:***@h:1");
  const auto error = parse_error("redis://:" + password + "@h:" + std::string(100000, '9'));
  EXPECT_FALSE(error.empty());
  EXPECT_LT(error.size(), 1000u);
  EXPECT_EQ(error.find("pppp"), std::string::npos);
}

TEST(RedisAddressSentinel, NamesTheSentinelsThePrimaryAndTheDatabase) {
  auto a = RedisAddress::parse("redis-sentinel://u:s3cret@10.0.0.1:26380,sentinel-b,10.0.0.3:5000/qgjob?db=3");
  ASSERT_TRUE(a.uses_sentinel());
  ASSERT_EQ(a.sentinels.size(), 3u);
  EXPECT_EQ(a.sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(a.sentinels[0].port, 26380);
  EXPECT_EQ(a.sentinels[1].host, "sentinel-b");
  EXPECT_EQ(a.sentinels[1].port, 26379);  // Sentinel's own default port
  EXPECT_EQ(a.sentinels[2].port, 5000);
  EXPECT_EQ(a.master_name, "qgjob");
  EXPECT_EQ(a.db, 3);
  EXPECT_EQ(a.username, "u");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_FALSE(RedisAddress::parse("redis://h:1").uses_sentinel());
}

TEST(RedisAddressSentinel, UrlMasksThePasswordAndParsesBack) {
  auto a = RedisAddress::parse("redis-sentinel://:pw%2F@s1,s2:26380/main");
  EXPECT_EQ(a.password, "pw/");
  EXPECT_EQ(a.url(), "redis-sentinel://:***@s1:26379,s2:26380/main");
  auto back = RedisAddress::parse(RedisAddress::parse("redis-sentinel://s1/main?db=2").url());
  EXPECT_EQ(back.url(), "redis-sentinel://s1:26379/main?db=2");
  EXPECT_EQ(back.db, 2);
}

TEST(RedisAddressSentinel, HostileUrlsAreConfigErrorsThatNeverQuoteThePassword) {
  std::string many = "redis-sentinel://:hunter2@";
  for (int i = 0; i < 17; ++i) many += (i == 0 ? "h" : ",h");
  many += "/m";
  for (const std::string& url : std::vector<std::string>{
           "redis-sentinel://:hunter2@s1,s2",        // no primary name
           "redis-sentinel://:hunter2@s1/",          // empty name
           "redis-sentinel://:hunter2@s1,,s2/m",     // empty host
           "redis-sentinel://:hunter2@s1:/m",        // empty port
           "redis-sentinel://:hunter2@s1:0/m",       // port out of range
           "redis-sentinel://:hunter2@s1:70000/m",   //
           "redis-sentinel://:hunter2@s1/m?db=x",    // bad db
           "redis-sentinel://:hunter2@s1/m?role=r",  // unknown option
           "redis-sentinel://:hunter2@s1/a/b",       // a '/' in the name
           "redis-sentinel://:hunter2@s1/m x",       // a space in the name
           "redis-sentinel://:hunter2@/m",           // no sentinel
           "redis-sentinel://:hunter2%zz@s1/m",      // bad encoding
           "redis-sentinel://:hunter2@s1/m\x01",     //
           std::string("redis-sentinel://:hunter2@s\0/m", 30),
           many,
       }) {
    const auto error = parse_error(url);
    EXPECT_FALSE(error.empty()) << url;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  }
}

// A password file in a fresh directory, and a logger whose output the test reads.
class PasswordFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& content, mode_t mode = 0600) {
    const auto path = dir_.path() + "/password";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string file_error(const std::string& path) {
    try {
      read_password_file(path, *log_);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return {};
  }
  testing::TempDir dir_;
  std::ostringstream logged_;
  std::shared_ptr<spdlog::logger> log_ =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(logged_));
};

TEST_F(PasswordFileTest, ThePasswordIsTheFirstLineWithoutItsLineEnd) {
  EXPECT_EQ(read_password_file(write("s3cret\n"), *log_), "s3cret");
  EXPECT_EQ(read_password_file(write("s3cret"), *log_), "s3cret");
  EXPECT_EQ(read_password_file(write("s3cret\r\nsecond line\n"), *log_), "s3cret");
  EXPECT_EQ(read_password_file(write(" spaced pass \n"), *log_), " spaced pass ");
  EXPECT_TRUE(logged_.str().empty()) << logged_.str();
}

TEST_F(PasswordFileTest, TheFilesPasswordReplacesTheUrlsAndKeepsItsUser) {
  const auto path = write("from-file\n");
  auto a = redis_address("redis://alice:from-url@h:1/2", path, *log_);
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "from-file");
  EXPECT_EQ(a.db, 2);
  auto b = redis_address("redis://h:1", path, *log_);
  EXPECT_EQ(b.username, "");
  EXPECT_EQ(b.password, "from-file");
  EXPECT_EQ(redis_address("redis://:from-url@h:1", "", *log_).password, "from-url");
}

TEST_F(PasswordFileTest, AnUnusableFileIsAConfigErrorNamingItButNotItsContents) {
  const auto missing = dir_.path() + "/no-such-file";
  auto error = file_error(missing);
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_THROW(redis_address("redis://h:1", missing, *log_), ConfigError);

  for (const char* content : {"", "\n", "\r\n", "\nsecond-line-secret\n"}) {
    const auto path = write(content);
    error = file_error(path);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find("empty"), std::string::npos) << error;
    EXPECT_EQ(error.find("second-line-secret"), std::string::npos) << error;
  }
  EXPECT_NE(file_error(dir_.path()).find("not a regular file"), std::string::npos);
  if (::geteuid() != 0) {  // root reads whatever the mode says
    const auto path = write("s3cret\n", 0000);
    error = file_error(path);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;
  }
}

TEST_F(PasswordFileTest, AFileOpenToOthersIsReadWithOneWarning) {
  const auto path = write("s3cret\n", 0644);
  EXPECT_EQ(read_password_file(path, *log_), "s3cret");
  const auto text = logged_.str();
  EXPECT_NE(text.find(path), std::string::npos) << text;
  EXPECT_NE(text.find("0644"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

}  // namespace
}  // namespace qg

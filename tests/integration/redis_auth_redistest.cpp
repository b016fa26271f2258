// Credentials against a real redis-server that wants a password: the password alone and an
// ACL user, AUTH redone on every reconnect (the store's subscriber connection included), and
// a refusal that is quick, clear and never shows the password.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>

#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/scheduler/job_store.hpp"
#include "qg/testing/process.hpp"

namespace qg {
namespace {

constexpr const char* kPassword = "pa55-w0rd-of-default";
constexpr const char* kUser = "qg-user";
constexpr const char* kUserPassword = "pa55-w0rd-of-user";

class RedisAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }
  void SetUp() override {
    admin_.command({"ACL", "SETUSER", kUser, "on", std::string(">") + kUserPassword, "~*", "&*", "+@all"});
  }
  std::string url(const std::string& userinfo, const std::string& suffix = "") const {
    return "redis://" + userinfo + "@127.0.0.1:" + std::to_string(server_.port()) + suffix;
  }
  static RedisConnection connect(const std::string& url) {
    return RedisConnection(RedisAddress::parse(url), RedisOptions{}, null_logger());
  }
  // The text of the RedisAuthError that connecting to `url` throws ("" when none is thrown).
  static std::string auth_error(const std::string& url) {
    auto c = connect(url);
    try {
      c.connect();
    } catch (const RedisAuthError& e) {
      return e.what();
    }
    return {};
  }
  // True once `c` gets PONG again (reconnecting as needed) within 15 s.
  static bool answers_again(RedisConnection& c) {
    return testing::wait_until(
        [&] {
          try {
            return c.command({"PING"}).str() == "PONG";
          } catch (const StoreUnavailable&) {
            return false;
          }
        },
        std::chrono::seconds(15));
  }

  testing::RedisServer server_{false, "everysec", {"--requirepass", kPassword}};
  RedisConnection admin_ = connect(url(std::string(":") + kPassword));
};

TEST_F(RedisAuthTest, ConnectsWithThePasswordAlone) {
  auto c = connect(url(std::string(":") + kPassword, "/3"));
  c.command({"SET", "k", "v"});
  EXPECT_EQ(c.command({"GET", "k"}).str(), "v");
  EXPECT_EQ(c.command({"ACL", "WHOAMI"}).str(), "default");
  EXPECT_EQ(admin_.command({"GET", "k"}).opt_str(), std::nullopt);  // SELECT 3 came after AUTH
  auto over_socket = connect("unix://:" + std::string(kPassword) + "@" + server_.socket_path());
  EXPECT_EQ(over_socket.command({"PING"}).str(), "PONG");
}

TEST_F(RedisAuthTest, ConnectsAsAnAclUser) {
  auto c = connect(url(std::string(kUser) + ":" + kUserPassword));
  EXPECT_EQ(c.command({"ACL", "WHOAMI"}).str(), kUser);
  c.command({"SET", "k", "v"});
  EXPECT_EQ(admin_.command({"GET", "k"}).str(), "v");
}

TEST_F(RedisAuthTest, AWrongPasswordFailsAtOnceNamingTheUserButNotThePassword) {
  const auto start = std::chrono::steady_clock::now();
  auto error = auth_error(url(":wrong-secret-1"));
  EXPECT_NE(error.find("refused the credentials for the default user"), std::string::npos) << error;
  EXPECT_NE(error.find("redis://:***@127.0.0.1:"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-secret-1"), std::string::npos) << error;

  error = auth_error(url(std::string(kUser) + ":wrong-secret-2"));
  EXPECT_NE(error.find("refused the credentials for user 'qg-user'"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-secret-2"), std::string::npos) << error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(RedisAuthTest, NoCredentialsForARedisThatWantsThemIsAnAuthError) {
  for (const auto& u : {"redis://127.0.0.1:" + std::to_string(server_.port()),
                        "redis://127.0.0.1:" + std::to_string(server_.port()) + "/2"}) {
    const auto error = auth_error(u);
    EXPECT_NE(error.find("requires authentication and no credentials were given"), std::string::npos) << error;
  }
}

TEST_F(RedisAuthTest, APasswordForARedisWithoutOneIsRefused) {
  testing::RedisServer open;
  const auto error = auth_error("redis://:unneeded-secret@127.0.0.1:" + std::to_string(open.port()));
  EXPECT_NE(error.find("refused the credentials"), std::string::npos) << error;
  EXPECT_EQ(error.find("unneeded-secret"), std::string::npos) << error;
}

TEST_F(RedisAuthTest, ReconnectsWithAuthAfterItsConnectionIsKilled) {
  auto c = connect(url(std::string(kUser) + ":" + kUserPassword, "/2"));
  c.command({"SET", "before", "1"});
  const auto generation = c.generation();
  EXPECT_GE(admin_.command({"CLIENT", "KILL", "TYPE", "normal"}).integer(), 1);  // the admin is skipped
  ASSERT_TRUE(answers_again(c));
  EXPECT_GT(c.generation(), generation);
  EXPECT_EQ(c.command({"ACL", "WHOAMI"}).str(), kUser);
  EXPECT_EQ(c.command({"GET", "before"}).str(), "1");  // in db 2 again
}

// A running process keeps going when Redis turns its credentials down on a reconnect: the
// calls fail as an unavailable store would, and succeed again once the password is put back.
TEST_F(RedisAuthTest, ARefusalOnAReconnectIsUnavailableAndRetried) {
  auto c = connect(url(std::string(":") + kPassword));
  c.command({"PING"});
  admin_.command({"CONFIG", "SET", "requirepass", "rotated"});
  admin_.command({"CLIENT", "KILL", "TYPE", "normal"});
  bool refused = false;
  for (int i = 0; i < 3 && !refused; ++i) {
    try {
      c.command({"PING"});
    } catch (const StoreUnavailable& e) {
      const std::string what = e.what();
      refused = what.find("refused the credentials") != std::string::npos;
      EXPECT_EQ(what.find(kPassword), std::string::npos) << what;
    }
  }
  EXPECT_TRUE(refused);
  admin_.command({"CONFIG", "SET", "requirepass", kPassword});
  EXPECT_TRUE(answers_again(c));
}

TEST_F(RedisAuthTest, TheStoreAuthenticatesBothItsConnections) {
  sched::StoreSettings settings;
  settings.key_prefix = "auth-test:";
  auto store = sched::make_redis_store(RedisAddress::parse(url(std::string(kUser) + ":" + kUserPassword)), settings);
  EXPECT_TRUE(store->ping());
  const auto subscribers = [&] {
    const auto list = admin_.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str();
    return list.find("user=" + std::string(kUser)) != std::string::npos;
  };
  store->wakeup_fd();  // subscribes
  EXPECT_TRUE(subscribers());
  admin_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  EXPECT_TRUE(testing::wait_until(
      [&] {
        store->drain_wakeups();  // resubscribes once the subscriber is seen gone
        return subscribers();
      },
      std::chrono::seconds(15), std::chrono::milliseconds(20)));
}

TEST_F(RedisAuthTest, AStartingProcessStopsWaitingWhenTheCredentialsAreRefused) {
  const volatile std::sig_atomic_t stop = 0;
  const auto start = std::chrono::steady_clock::now();
  try {
    sched::wait_for_redis_store(RedisAddress::parse(url(":wrong-secret-3")), sched::StoreSettings{}, null_logger(),
                                stop);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("wrong-secret-3"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace qg

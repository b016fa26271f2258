// RedisConnection against a real redis-server: binary-safe commands, pipelines, db
// selection, error replies, and reconnecting after a restart.

#include <gtest/gtest.h>

#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/testing/process.hpp"

namespace qg {
namespace {

class RedisConnectionTest : public ::testing::Test {
 protected:
  testing::RedisServer server_;
  RedisConnection connect(const std::string& suffix = "") {
    return RedisConnection(RedisAddress::parse(server_.url() + suffix), RedisOptions{}, null_logger());
  }
};

TEST_F(RedisConnectionTest, CommandsAreBinarySafe) {
  auto c = connect();
  std::string value("a\0b\r\n", 5);
  c.command({"SET", "k", value});
  EXPECT_EQ(c.command({"GET", "k"}).str(), value);
  EXPECT_TRUE(c.command({"GET", "missing"}).is_nil());
}

TEST_F(RedisConnectionTest, PipelineReturnsEveryReplyInOrder) {
  auto c = connect();
  auto replies = c.pipeline({{"SET", "a", "1"}, {"INCR", "a"}, {"HGET", "a", "x"}, {"GET", "a"}});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].str(), "OK");
  EXPECT_EQ(replies[1].integer(), 2);
  EXPECT_TRUE(replies[2].is_error());
  EXPECT_EQ(replies[3].integer(), 2);
}

TEST_F(RedisConnectionTest, ErrorRepliesThrowStoreErrorAndNoscriptDistinctly) {
  auto c = connect();
  c.command({"SET", "a", "1"});
  EXPECT_THROW(c.command({"HGET", "a", "x"}), StoreError);
  EXPECT_THROW(c.command({"EVALSHA", "0123456789012345678901234567890123456789", "0"}), RedisNoScript);
  EXPECT_THROW(c.command({"FCALL", "no_such_function", "0"}), RedisNoScript);
  EXPECT_EQ(c.command({"PING"}).str(), "PONG");  // still usable
}

TEST_F(RedisConnectionTest, SelectsTheDatabaseFromTheUrl) {
  auto c3 = connect("/3");
  c3.command({"SET", "only-in-3", "1"});
  auto c0 = connect();
  EXPECT_TRUE(c0.command({"GET", "only-in-3"}).is_nil());
  EXPECT_EQ(c3.command({"GET", "only-in-3"}).str(), "1");
}

TEST_F(RedisConnectionTest, ReconnectsAfterRestart) {
  auto c = connect();
  EXPECT_EQ(c.command({"PING"}).str(), "PONG");
  auto generation = c.generation();
  server_.restart();
  EXPECT_TRUE(testing::wait_until(
      [&] {
        try {
          return c.command({"PING"}).str() == "PONG";
        } catch (const StoreUnavailable&) {
          return false;
        }
      },
      std::chrono::seconds(15)));
  EXPECT_GT(c.generation(), generation);
}

}  // namespace
}  // namespace qg

// RedisConnection against a real redis-server: binary-safe commands, pipelines, db
// selection, error replies, deferred replies, and reconnecting after a restart.

#include <gtest/gtest.h>

#include <csignal>

#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/testing/process.hpp"

namespace qg {
namespace {

class RedisConnectionTest : public ::testing::Test {
 protected:
  // As the servers' mains do (see RedisConnection).
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }
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

// The client writes the protocol itself: empty and large arguments, and many of them, arrive
// as sent.
TEST_F(RedisConnectionTest, EmptyLargeAndManyArgumentsArriveAsSent) {
  auto c = connect();
  const std::string large(200000, 'x');
  c.command({"SET", "empty", ""});
  EXPECT_EQ(c.command({"GET", "empty"}).str(), "");
  c.command({"SET", "large", large});
  EXPECT_EQ(c.command({"STRLEN", "large"}).integer(), 200000);
  std::vector<std::string> items;
  std::vector<std::string_view> argv = {"RPUSH", "many"};
  for (int i = 0; i < 5000; ++i) items.push_back(std::to_string(i * 7919));
  for (const auto& i : items) argv.push_back(i);
  EXPECT_EQ(c.command(std::span<const std::string_view>(argv)).integer(), 5000);
  EXPECT_EQ(c.command({"LINDEX", "many", "4999"}).str(), items.back());
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

// unix:// reaches the same server over its Unix socket, database selection and reconnecting
// included; a socket with no server behind it is StoreUnavailable, as an unreachable port is.
TEST_F(RedisConnectionTest, ReachesTheServerOnItsUnixSocket) {
  RedisConnection over_socket(RedisAddress::parse(server_.socket_url() + "?db=2"), RedisOptions{}, null_logger());
  over_socket.command({"SET", "via-socket", "1"});
  EXPECT_EQ(connect("/2").command({"GET", "via-socket"}).str(), "1");
  EXPECT_TRUE(connect().command({"GET", "via-socket"}).is_nil());
  const auto generation = over_socket.generation();
  server_.restart();
  EXPECT_TRUE(answers_again(over_socket));
  EXPECT_GT(over_socket.generation(), generation);
  RedisConnection nowhere(RedisAddress::parse("unix://" + server_.socket_path() + ".absent"), RedisOptions{},
                          null_logger());
  EXPECT_THROW(nowhere.command({"PING"}), StoreUnavailable);
}

TEST_F(RedisConnectionTest, ReconnectsAfterRestart) {
  auto c = connect();
  EXPECT_EQ(c.command({"PING"}).str(), "PONG");
  auto generation = c.generation();
  server_.restart();
  EXPECT_TRUE(answers_again(c));
  EXPECT_GT(c.generation(), generation);
}

TEST_F(RedisConnectionTest, DeferredRepliesComeBackInSendOrderAndLaterCommandsReadPastThem) {
  auto c = connect();
  const std::string_view first[] = {"RPUSH", "l", "a"};
  const std::string_view second[] = {"RPUSH", "l", "b"};
  c.send_deferred(first);
  c.send_deferred(second);
  EXPECT_EQ(c.deferred(), 2u);
  // A later command sees both applied, and its reply is its own.
  auto all = c.command({"LRANGE", "l", "0", "-1"});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].str(), "a");
  EXPECT_EQ(all[1].str(), "b");
  // Both replies were read past and kept: taken at once, oldest first.
  EXPECT_TRUE(c.deferred_ready());
  auto r1 = c.take_deferred(false);
  auto r2 = c.take_deferred(false);
  ASSERT_TRUE(r1 && r1->value && r2 && r2->value);
  EXPECT_EQ(r1->value->integer(), 1);
  EXPECT_EQ(r2->value->integer(), 2);
  EXPECT_EQ(c.deferred(), 0u);
  EXPECT_FALSE(c.take_deferred(true));  // none out: nothing to wait for
}

TEST_F(RedisConnectionTest, DeferredRepliesAreTakenWithoutBlockingOnceIn) {
  auto c = connect();
  const std::string_view incr[] = {"INCR", "n"};
  const std::string_view bad[] = {"HGET", "n", "x"};
  c.send_deferred(incr);
  c.send_deferred(bad);
  auto r = c.take_deferred(true);
  ASSERT_TRUE(r && r->value);
  EXPECT_EQ(r->value->integer(), 1);
  // Without waiting: polled until it is in (a poll with a deadline, not a sleep).
  std::optional<RedisConnection::DeferredReply> e;
  ASSERT_TRUE(testing::wait_until([&] { return (e = c.take_deferred(false)).has_value(); }, std::chrono::seconds(5)));
  ASSERT_TRUE(e->value);
  EXPECT_TRUE(e->value->is_error());  // an error reply is a value, as in pipeline()
  EXPECT_EQ(c.command({"GET", "n"}).integer(), 1);
}

TEST_F(RedisConnectionTest, DeferredRepliesNotReadWhenTheConnectionBreaksAreLost) {
  auto c = connect();
  auto killer = connect();
  // The connection's own id, then a command that does not answer until it is killed.
  const auto id = c.command({"CLIENT", "ID"}).integer();
  const std::string_view block[] = {"BLPOP", "never", "0"};
  c.send_deferred(block);
  ASSERT_EQ(killer.command({"CLIENT", "KILL", "ID", std::to_string(id)}).integer(), 1);
  auto r = c.take_deferred(true);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->value);
  EXPECT_FALSE(r->lost.empty());
  EXPECT_EQ(c.deferred(), 0u);
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.command({"PING"}).str(), "PONG");  // reconnects
}

}  // namespace
}  // namespace qg

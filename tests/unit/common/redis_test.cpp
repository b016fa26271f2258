// RedisAddress parsing and reply conversion; no server needed.

#include <gtest/gtest.h>

#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"

namespace qg {
namespace {

TEST(RedisAddress, ParsesHostPortAndDb) {
  auto a = RedisAddress::parse("redis://10.0.0.5:6380/2");
  EXPECT_EQ(a.host, "10.0.0.5");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.url(), "redis://10.0.0.5:6380/2");
}

TEST(RedisAddress, DefaultsPortAndDb) {
  auto a = RedisAddress::parse("redis://localhost");
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
}

TEST(RedisAddress, ParsesUnixSocketPathAndDb) {
  auto a = RedisAddress::parse("unix:///run/redis/redis.sock");
  EXPECT_EQ(a.socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(a.db, 0);
  EXPECT_EQ(a.url(), "unix:///run/redis/redis.sock");
  auto b = RedisAddress::parse("unix:///tmp/r.sock?db=3");
  EXPECT_EQ(b.socket_path, "/tmp/r.sock");
  EXPECT_EQ(b.db, 3);
  EXPECT_EQ(b.url(), "unix:///tmp/r.sock?db=3");
  EXPECT_TRUE(RedisAddress::parse("redis://h:1").socket_path.empty());
}

TEST(RedisAddress, RejectsBadUrlsWithConfigError) {
  for (const char* url : {"", "http://h:1", "redis://", "redis://:6379", "redis://h:", "redis://h:0", "redis://h:70000",
                          "redis://h:12x", "redis://h:1/", "redis://h:1/-1", "redis://h:1/x", "unix://",
                          "unix://relative.sock", "unix:///s.sock?", "unix:///s.sock?db=", "unix:///s.sock?db=x",
                          "unix:///s.sock?db=-1", "unix:///s.sock?timeout=1", "unix://?db=1"}) {
    EXPECT_THROW(RedisAddress::parse(url), ConfigError) << url;
  }
}

TEST(RedisValue, AccessorsCheckTypes) {
  auto s = RedisValue::make_string("42");
  EXPECT_EQ(s.str(), "42");
  EXPECT_EQ(s.integer(), 42);
  EXPECT_EQ(s.opt_str(), std::optional<std::string>("42"));
  EXPECT_THROW(s.array(), StoreError);
  RedisValue nil;
  EXPECT_TRUE(nil.is_nil());
  EXPECT_EQ(nil.opt_str(), std::nullopt);
  EXPECT_TRUE(nil.array().empty());
  EXPECT_THROW(nil.str(), StoreError);
  EXPECT_THROW(RedisValue::make_string("x").integer(), StoreError);
  auto arr = RedisValue::make_array({RedisValue::make_integer(1), RedisValue::make_string("a")});
  EXPECT_EQ(arr.size(), 2u);
  EXPECT_EQ(arr[0].integer(), 1);
  EXPECT_THROW(arr.str(), StoreError);
}

TEST(RedisErrors, NoscriptIsReportedDistinctly) {
  EXPECT_THROW(throw_reply_error("NOSCRIPT No matching script"), RedisNoScript);
  try {
    throw_reply_error("WRONGTYPE Operation against a key");
    FAIL();
  } catch (const RedisNoScript&) {
    FAIL() << "not a NOSCRIPT";
  } catch (const StoreError&) {
  }
}

TEST(RedisErrors, ARedisThatIsNotReadyYetIsUnavailableNotAnError) {
  // After a restart Redis answers LOADING until its AOF is read: a caller must retry, not die.
  EXPECT_THROW(throw_reply_error("LOADING Redis is loading the dataset in memory"), StoreUnavailable);
  EXPECT_THROW(throw_reply_error("BUSY Redis is busy running a script."), StoreUnavailable);
  EXPECT_THROW(throw_reply_error("READONLY You can't write against a read only replica."), StoreUnavailable);
  EXPECT_THROW(throw_reply_error("ERR LOADING is not a prefix here"), StoreError);
}

TEST(RedisConnection, UnreachableServerThrowsStoreUnavailableThenBacksOff) {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(200);
  options.reconnect_min = std::chrono::milliseconds(10000);
  // Port 1 on loopback: connection refused at once.
  RedisConnection conn(RedisAddress::parse("redis://127.0.0.1:1"), options, null_logger());
  EXPECT_THROW(conn.command({"PING"}), StoreUnavailable);
  EXPECT_GT(conn.next_attempt_ms(), 0);
  EXPECT_THROW(conn.command({"PING"}), StoreUnavailable);  // within back-off: no connect at all
  EXPECT_FALSE(conn.connected());
}

}  // namespace
}  // namespace qg

namespace qg {
namespace {

TEST(RedisErrors, OutOfMemoryIsStoreFullWithWhatToDo) {
  try {
    throw_reply_error("OOM command not allowed when used memory > 'maxmemory'.");
    FAIL() << "no exception";
  } catch (const StoreFull& e) {
    const std::string what = e.what();
    for (const char* hint : {"maxmemory", "--retention", "drain"}) {
      EXPECT_NE(what.find(hint), std::string::npos) << what;
    }
  }
  // Not every error that mentions memory is a full store.
  EXPECT_THROW(
      try { throw_reply_error("ERR OOM-like text in another error"); } catch (const StoreFull&) { FAIL(); },
      StoreError);
}

}  // namespace
}  // namespace qg

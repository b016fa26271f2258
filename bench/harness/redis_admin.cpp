// The harness's Redis side (bench.hpp): RedisAdmin, one hiredis connection for INFO,
// FLUSHALL, CONFIG GET, SLOWLOG and plain or pipelined commands, and BenchRedis, the Redis a
// bench uses (--redis-url or a private redis-server). Every failure is a BenchError.

#include "bench.hpp"

#include <hiredis/hiredis.h>

#include <cstring>
#include <memory>
#include <sstream>

#include "qg/common/redis.hpp"

namespace qg::bench {

using namespace std::chrono_literals;

RedisAdmin::RedisAdmin(const std::string& url) {
  RedisAddress address;
  try {
    address = RedisAddress::parse(url);
  } catch (const ConfigError& e) {
    throw BenchError(e.what());
  }
  ctx_ = connect_context(address, std::chrono::seconds(5)).release();
  if (ctx_ == nullptr || ctx_->err != 0) {
    std::string why = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
    throw BenchError("cannot reach Redis at " + url + ": " + why);
  }
  redisSetTimeout(ctx_, timeval{120, 0});
}

RedisAdmin::~RedisAdmin() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

std::string RedisAdmin::command(const std::vector<std::string>& words) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& w : words) {
    argv.push_back(w.data());
    lens.push_back(w.size());
  }
  auto* reply =
      static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) throw BenchError(std::string("Redis: ") + ctx_->errstr);
  std::string out;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out = std::to_string(reply->integer);
      break;
    case REDIS_REPLY_ERROR: {
      std::string e(reply->str, reply->len);
      freeReplyObject(reply);
      throw BenchError("Redis error: " + e);
    }
    default:
      break;
  }
  freeReplyObject(reply);
  return out;
}

void RedisAdmin::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& words : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
      throw BenchError(std::string("Redis: ") + ctx_->errstr);
    }
  }
  std::string error;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr)
      throw BenchError(std::string("Redis: ") + ctx_->errstr);
    auto* reply = static_cast<redisReply*>(raw);
    if (reply->type == REDIS_REPLY_ERROR && error.empty()) error.assign(reply->str, reply->len);
    freeReplyObject(reply);
  }
  if (!error.empty()) throw BenchError("Redis error: " + error);
}

std::string RedisAdmin::info(const std::string& section, const std::string& field) {
  auto text = command({"INFO", section});
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return {};
}

double RedisAdmin::used_memory() { return std::stod(info("memory", "used_memory")); }

double RedisAdmin::cpu_seconds() {
  auto text = command({"INFO", "cpu"});
  double total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (const char* f : {"used_cpu_sys:", "used_cpu_user:"}) {
      if (line.rfind(f, 0) == 0) total += std::stod(line.substr(std::strlen(f)));
    }
  }
  return total;
}

std::string RedisAdmin::config_get(const std::string& name) {
  const char* argv[] = {"CONFIG", "GET", name.c_str()};
  auto* raw = static_cast<redisReply*>(redisCommandArgv(ctx_, 3, argv, nullptr));
  if (raw == nullptr) throw BenchError(std::string("Redis: ") + ctx_->errstr);
  std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(raw, freeReplyObject);
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_STRING)
    return {};
  return {reply->element[1]->str, reply->element[1]->len};
}

std::vector<RedisAdmin::SlowCall> RedisAdmin::take_slowlog(std::size_t max) {
  const std::string count = std::to_string(max);
  const char* get[] = {"SLOWLOG", "GET", count.c_str()};
  const char* reset[] = {"SLOWLOG", "RESET"};
  if (redisAppendCommandArgv(ctx_, 3, get, nullptr) != REDIS_OK ||
      redisAppendCommandArgv(ctx_, 2, reset, nullptr) != REDIS_OK) {
    throw BenchError(std::string("Redis: ") + ctx_->errstr);
  }
  std::vector<SlowCall> out;
  for (int i = 0; i < 2; ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr)
      throw BenchError(std::string("Redis: ") + ctx_->errstr);
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(static_cast<redisReply*>(raw), freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) throw BenchError("Redis error: " + std::string(reply->str, reply->len));
    if (i != 0 || reply->type != REDIS_REPLY_ARRAY) continue;
    // Each entry: id, unix time, duration (µs), the command's words, client address, name.
    for (std::size_t e = 0; e < reply->elements; ++e) {
      const redisReply* entry = reply->element[e];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 4) continue;
      const redisReply* words = entry->element[3];
      if (entry->element[2]->type != REDIS_REPLY_INTEGER || words->type != REDIS_REPLY_ARRAY) continue;
      SlowCall call;
      call.micros = static_cast<double>(entry->element[2]->integer);
      if (words->elements > 0 && words->element[0]->type == REDIS_REPLY_STRING) {
        call.command.assign(words->element[0]->str, words->element[0]->len);
      }
      if (words->elements > 1 && words->element[1]->type == REDIS_REPLY_STRING) {
        call.first_arg.assign(words->element[1]->str, words->element[1]->len);
      }
      out.push_back(std::move(call));
    }
  }
  return out;
}

void RedisAdmin::flushall() {
  command({"FLUSHALL"});
  wait_quiet();
}

void RedisAdmin::wait_quiet(std::chrono::milliseconds timeout) {
  testing::wait_until(
      [&] {
        return info("persistence", "aof_rewrite_in_progress") != "1" &&
               info("persistence", "rdb_bgsave_in_progress") != "1";
      },
      timeout, 20ms);
}

BenchRedis::BenchRedis(const Args& args, bool aof) {
  if (!args.redis_url.empty()) {
    url_ = args.redis_url;
  } else {
    own_ = std::make_unique<testing::RedisServer>(aof);
    url_ = own_->url();
  }
}

std::string BenchRedis::version() {
  RedisAdmin admin(url_);
  return admin.info("server", "redis_version");
}

}  // namespace qg::bench

#include "bench.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "qg/common/redis.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::bench {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------
// Flags, statistics, tables

Args Args::parse(int argc, char** argv, const std::string& program, const std::string& summary) {
  Args a;
  auto usage = [&](int code) {
    (code == 0 ? std::cout : std::cerr) << program << ": " << summary << "\n"
                                        << "usage: " << program
                                        << " [--quick] [--redis-url URL] [--results FILE] [--only PART]\n";
    std::exit(code);
  };
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (f == "--quick") {
      a.quick = true;
    } else if (f == "--redis-url") {
      a.redis_url = value();
    } else if (f == "--results") {
      a.results = value();
    } else if (f == "--only") {
      a.only = value();
    } else if (f == "--help" || f == "-h") {
      usage(0);
    } else {
      std::cerr << program << ": unknown flag " << f << "\n";
      usage(2);
    }
  }
  set_results_file(a.results);
  return a;
}

double now_us() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count()) / 1000.0;
}

double Samples::percentile(double p) {
  if (values_.empty()) return std::nan("");
  if (!sorted_) {
    std::sort(values_.begin(), values_.end());
    sorted_ = true;
  }
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values_.size())));
  rank = std::clamp<std::size_t>(rank, 1, values_.size());
  return values_[rank - 1];
}

double Samples::mean() const {
  if (values_.empty()) return std::nan("");
  double s = 0;
  for (double v : values_) s += v;
  return s / static_cast<double>(values_.size());
}

Table::Table(std::string title, std::vector<std::string> columns)
    : title_(std::move(title)), columns_(std::move(columns)) {}

void Table::row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

void Table::print() const {
  std::ostringstream out;
  out << "\n### " << title_ << "\n\n|";
  for (const auto& c : columns_) out << ' ' << c << " |";
  out << "\n|";
  for (std::size_t i = 0; i < columns_.size(); ++i) out << (i == 0 ? "---|" : "---:|");
  out << "\n";
  for (const auto& r : rows_) {
    out << "|";
    for (const auto& c : r) out << ' ' << c << " |";
    out << "\n";
  }
  for (const auto& n : notes_) out << "\n" << n << "\n";
  std::cout << out.str() << std::flush;
}

namespace {
std::mutex g_results_mutex;
std::string g_results_path;
}  // namespace

void set_results_file(const std::string& path) {
  std::lock_guard lock(g_results_mutex);
  g_results_path = path;
}

void record_text(const std::string& key, const std::string& value) {
  std::lock_guard lock(g_results_mutex);
  if (g_results_path.empty()) return;
  std::ofstream out(g_results_path, std::ios::app);
  out << key << '\t' << value << '\n';
}

void record(const std::string& key, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  record_text(key, buf);
}

std::string fmt(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  if (decimals > 0) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf;
  // thousands separators
  std::string out;
  int start = (s[0] == '-') ? 1 : 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    auto left = s.size() - 1 - i;
    if (static_cast<int>(i) >= start && left > 0 && left % 3 == 0) out += ',';
  }
  return out;
}

std::string fmt_us(double us) {
  if (std::isnan(us)) return "n/a";
  char buf[64];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%.3f ms", us / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000.0);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------
// Redis

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

// ---------------------------------------------------------------------------------------
// The real processes

namespace {
std::string random_prefix() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "qgb%08x:", static_cast<unsigned>(rd()));
  return buf;
}
}  // namespace

Stack::Stack(StackOptions options)
    : options_(std::move(options)),
      client_port_(testing::free_port()),
      worker_port_(testing::free_port()),
      events_in_port_(testing::free_port()),
      events_out_port_(testing::free_port()) {
  if (options_.key_prefix.empty()) options_.key_prefix = random_prefix();
  const auto bin = testing::bin_dir();
  std::vector<std::string> argv = {
      bin + "/qg-broker",   "--client-endpoint", client_endpoint(),
      "--worker-endpoint",  worker_endpoint(),   "--events-in",
      events_in_endpoint(), "--events-out",      "tcp://127.0.0.1:" + std::to_string(events_out_port_),
      "--broker-id",        "bench-broker",      "--log-level",
      options_.log_level};
  if (options_.redis_url.empty()) {
    argv.insert(argv.end(), {"--store", "memory"});
  } else {
    argv.insert(argv.end(), {"--redis-url", options_.redis_url, "--key-prefix", options_.key_prefix});
  }
  argv.insert(argv.end(), options_.broker_args.begin(), options_.broker_args.end());
  broker_ = std::make_unique<testing::ChildProcess>(argv, dir_.path() + "/broker.log");
  if (!options_.redis_url.empty() && options_.scheduler) {
    std::vector<std::string> s = {bin + "/qg-scheduler", "--redis-url", options_.redis_url,   "--key-prefix",
                                  options_.key_prefix,   "--events",    events_in_endpoint(), "--scheduler-id",
                                  "bench-scheduler",     "--log-level", options_.log_level};
    s.insert(s.end(), options_.scheduler_args.begin(), options_.scheduler_args.end());
    scheduler_ = std::make_unique<testing::ChildProcess>(s, dir_.path() + "/scheduler.log");
  }
  zmq::context_t context(1);
  bool up = testing::wait_until(
      [&] {
        if (!broker_->running()) return false;
        auto socket = connect_dealer(context, client_endpoint());
        proto::HealthRequest req;
        req.rid = "health";
        auto reply = roundtrip(socket, proto::kClientProtocol, "HEALTH", proto::encode(req), 500ms);
        if (reply.size() != 3) return false;
        auto health = proto::decode<proto::HealthReply>(reply[2]);
        return health && health->ok;
      },
      20s, 50ms);
  if (!up) throw BenchError("qg-broker did not come up:\n" + log("broker"));
  if (scheduler_ && !scheduler_->running()) throw BenchError("qg-scheduler exited:\n" + log("scheduler"));
}

Stack::~Stack() {
  if (scheduler_) scheduler_->signal(SIGKILL);
  if (broker_) broker_->signal(SIGKILL);
}

std::string Stack::log(const std::string& name) const {
  std::ifstream in(dir_.path() + "/" + name + ".log");
  std::stringstream text;
  text << in.rdbuf();
  auto s = text.str();
  if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
  return s;
}

double rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// Protocol clients

zmq::socket_t connect_dealer(zmq::context_t& context, const std::string& endpoint) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  set_common_options(socket);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.connect(endpoint);
  return socket;
}

std::vector<std::string> roundtrip(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                                   const std::string& body, std::chrono::milliseconds timeout) {
  send_multipart(socket, {std::string(protocol), std::string(command), body});
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if ((item.revents & ZMQ_POLLIN) == 0) return {};
  auto message = recv_multipart(socket, 8, 64u << 20);
  return message ? message->frames : std::vector<std::string>{};
}

proto::SubmitReply submit(zmq::socket_t& socket, const proto::SubmitRequest& request,
                          std::chrono::milliseconds timeout) {
  auto reply = roundtrip(socket, proto::kClientProtocol, "SUBMIT", proto::encode(request), timeout);
  if (reply.size() != 3) throw BenchError("SUBMIT: no reply within " + std::to_string(timeout.count()) + " ms");
  if (reply[1] != "SUBMIT") {
    auto err = proto::decode<proto::ErrorReply>(reply[2]);
    throw BenchError("SUBMIT rejected: " + (err ? err->error.code + " " + err->error.message : reply[1]));
  }
  auto decoded = proto::decode<proto::SubmitReply>(reply[2]);
  if (!decoded) throw BenchError("SUBMIT reply undecodable: " + decoded.error().message);
  return std::move(decoded).value();
}

proto::SubmitRequest make_submit(const std::string& rid, const std::string& org, const std::string& app,
                                 std::size_t tests, proto::Priority priority) {
  proto::SubmitRequest req;
  req.rid = rid;
  req.org_id = org;
  req.app_version_id = app;
  req.priority = priority;
  req.tests.reserve(tests);
  for (std::size_t t = 0; t < tests; ++t) req.tests.push_back("tests/t" + std::to_string(t) + ".spec.ts");
  return req;
}

LoadResult closed_loop(zmq::context_t& context, const std::string& endpoint, std::size_t clients,
                       std::size_t total_requests, const std::function<std::string(std::size_t)>& make_request,
                       std::chrono::seconds deadline) {
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(clients);
  for (std::size_t i = 0; i < clients; ++i) sockets.push_back(connect_dealer(context, endpoint));
  // Let every connection finish its handshake before the clock starts.
  std::this_thread::sleep_for(50ms + std::chrono::milliseconds(clients));
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
  std::vector<double> sent_at(clients, 0);
  LoadResult result;
  result.latency_us.reserve(total_requests);
  std::size_t issued = 0;
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  auto issue = [&](std::size_t c) {
    if (issued >= total_requests) return false;
    auto body = make_request(issued++);
    sent_at[c] = now_us();
    send_multipart(sockets[c], {std::string(proto::kClientProtocol), "SUBMIT", std::move(body)});
    return true;
  };
  std::size_t in_flight = 0;
  for (std::size_t c = 0; c < clients; ++c) in_flight += issue(c) ? 1 : 0;
  while (in_flight > 0) {
    if (now_us() > end_by)
      throw BenchError("closed loop: deadline passed with " + std::to_string(in_flight) + " requests unanswered (" +
                       std::to_string(result.requests) + " done)");
    zmq::poll(items.data(), items.size(), 1000ms);
    for (std::size_t c = 0; c < clients; ++c) {
      if ((items[c].revents & ZMQ_POLLIN) == 0) continue;
      while (auto message = recv_multipart(sockets[c], 8, 64u << 20)) {
        const double t = now_us();
        --in_flight;
        ++result.requests;
        if (message->frames.size() != 3 || message->frames[1] != "SUBMIT") ++result.errors;
        result.latency_us.add(t - sent_at[c]);
        in_flight += issue(c) ? 1 : 0;
      }
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

std::string slot_rid(std::size_t slot) { return "s" + std::to_string(slot); }

LoadResult pipelined(zmq::context_t& context, const std::string& endpoint, std::size_t depth,
                     std::size_t total_requests,
                     const std::function<std::string(std::size_t, std::size_t)>& make_request,
                     std::chrono::seconds deadline) {
  auto socket = connect_dealer(context, endpoint);
  std::this_thread::sleep_for(50ms);  // the handshake is done before the clock starts
  std::vector<double> sent_at(depth, 0);
  LoadResult result;
  result.latency_us.reserve(total_requests);
  std::size_t issued = 0;
  const std::string protocol(proto::kClientProtocol);
  const std::string command = "SUBMIT";
  auto issue = [&](std::size_t slot) {
    if (issued >= total_requests) return false;
    auto body = make_request(issued++, slot);
    sent_at[slot] = now_us();
    send_multipart(socket, {protocol, command, std::move(body)});
    return true;
  };
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  std::size_t in_flight = 0;
  for (std::size_t slot = 0; slot < depth; ++slot) in_flight += issue(slot) ? 1 : 0;
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (in_flight > 0) {
    if (now_us() > end_by)
      throw BenchError("pipelined: deadline passed with " + std::to_string(in_flight) + " requests unanswered (" +
                       std::to_string(result.requests) + " done)");
    zmq::poll(&item, 1, 1000ms);
    // Drains until the socket is empty: one poll per batch of replies, not one per reply.
    while (auto message = recv_multipart(socket, 8, 64u << 20)) {
      const double t = now_us();
      if (message->frames.size() != 3)
        throw BenchError("pipelined: reply of " + std::to_string(message->frames.size()) + " frames");
      const auto rid = proto::peek_rid(message->frames[2]);
      std::size_t slot = depth;
      if (rid.size() > 1 && rid[0] == 's') slot = static_cast<std::size_t>(std::strtoull(rid.c_str() + 1, nullptr, 10));
      if (slot >= depth) throw BenchError("pipelined: reply with unknown rid '" + rid + "'");
      --in_flight;
      ++result.requests;
      if (message->frames[1] != "SUBMIT") ++result.errors;
      result.latency_us.add(t - sent_at[slot]);
      in_flight += issue(slot) ? 1 : 0;
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

SimResult run_sim_workers(zmq::context_t& context, const std::string& endpoint, std::size_t workers,
                          std::size_t expected_jobs, std::chrono::seconds deadline) {
  struct Sim {
    zmq::socket_t socket;
    std::string id;
    std::size_t awaiting = 0;  // confirmations outstanding
    std::uint64_t seq = 0;
  };
  std::vector<Sim> sims;
  sims.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    sims.push_back({connect_dealer(context, endpoint), "sim-" + std::to_string(w)});
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sims) items.push_back({s.socket.handle(), 0, ZMQ_POLLIN, 0});
  auto pull = [](Sim& s) {
    proto::Pull p;
    p.rid = s.id + "-p" + std::to_string(s.seq++);
    p.worker_id = s.id;
    p.targets = {proto::Target::emulator};
    p.wait_ms = 1000;
    send_multipart(s.socket, proto::frames_of(proto::kWorkerProtocol, p));
  };
  SimResult result;
  const double start = now_us();
  const double end_by = start + static_cast<double>(deadline.count()) * 1e6;
  for (auto& s : sims) pull(s);
  while (result.jobs < expected_jobs) {
    if (now_us() > end_by) break;
    zmq::poll(items.data(), items.size(), 100ms);
    for (std::size_t w = 0; w < workers; ++w) {
      if ((items[w].revents & ZMQ_POLLIN) == 0) continue;
      auto& s = sims[w];
      while (auto message = recv_multipart(s.socket, 8, 64u << 20)) {
        const auto& f = message->frames;
        if (f.size() != 3) continue;
        if (f[1] == "ASSIGN") {
          auto assign = proto::decode<proto::Assign>(f[2]);
          if (!assign) throw BenchError("bad ASSIGN: " + assign.error().message);
          ++result.groups;
          for (const auto& job : assign->jobs) {
            proto::Report r;
            r.rid = job.job_id;
            r.worker_id = s.id;
            r.lease_id = assign->lease_id;
            r.job_id = job.job_id;
            r.attempt = job.attempt;
            r.status = proto::JobStatus::passed;
            send_multipart(s.socket, proto::frames_of(proto::kWorkerProtocol, r));
          }
          s.awaiting = assign->jobs.size();
          if (s.awaiting == 0) pull(s);
        } else if (f[1] == "CONFIRM") {
          ++result.jobs;
          if (s.awaiting > 0 && --s.awaiting == 0) pull(s);
        } else if (f[1] == "NOWORK") {
          pull(s);
        } else if (f[1] == "ERROR") {
          auto err = proto::decode<proto::ErrorReply>(f[2]);
          throw BenchError("worker got ERROR: " + (err ? err->error.code + " " + err->error.message : ""));
        }
      }
    }
  }
  result.seconds = (now_us() - start) / 1e6;
  return result;
}

std::uint64_t wait_queue_depth(zmq::context_t& context, const std::string& client_endpoint, std::uint64_t depth,
                               std::chrono::milliseconds timeout) {
  auto socket = connect_dealer(context, client_endpoint);
  std::uint64_t last = 0;
  testing::wait_until(
      [&] {
        proto::HealthRequest req;
        req.rid = "h";
        auto reply = roundtrip(socket, proto::kClientProtocol, "HEALTH", proto::encode(req), 2000ms);
        if (reply.size() != 3) return false;
        auto h = proto::decode<proto::HealthReply>(reply[2]);
        if (!h) return false;
        last = h->queue_depth;
        return last == depth;
      },
      timeout, 10ms);
  return last;
}

int guarded_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace qg::bench

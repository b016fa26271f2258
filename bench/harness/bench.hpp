#pragma once
// Shared pieces of the qgjob benchmarks: command-line flags every bench takes, sample
// statistics, a markdown table printer that also records machine-readable results, a
// hiredis admin connection (INFO, FLUSHALL), the real qg-broker/qg-scheduler started as
// child processes on free ports, protocol clients over DEALER sockets, and in-process
// simulated workers.
//
// Everything here talks to 127.0.0.1 only. Every loop is bounded by a count and a deadline:
// a bench that cannot finish throws BenchError, which main turns into exit code 1.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "qg/common/curve_client.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"

struct redisContext;

namespace qg::bench {

class BenchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Flags every bench accepts:
//   --quick            tiny sizes (CTest smoke run)
//   --redis-url URL    use this Redis (bench/run passes one shared with the BullMQ peer);
//                      default: start a private redis-server with AOF everysec
//   --results FILE     append "key<TAB>value" lines of every figure to FILE
//   --only NAME        run only the part called NAME (bench specific; empty = all)
struct Args {
  bool quick = false;
  std::string redis_url;
  std::string results;
  std::string only;
  // Parses argv; exits 2 with usage text on an unknown flag.
  static Args parse(int argc, char** argv, const std::string& program, const std::string& summary);
  // --only PART runs one part; --only PART.SUB one sub-part of it (e.g. cpu.suite).
  bool wants(const std::string& part) const {
    return only.empty() || only == part || only.rfind(part + ".", 0) == 0 || part.rfind(only + ".", 0) == 0;
  }
};

// Steady-clock microseconds since an arbitrary origin. Inline: the load loops and the timed
// store calls read it around every request.
inline double now_us() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count()) / 1000.0;
}

// Samples in any unit; percentiles by nearest rank.
class Samples {
 public:
  void add(double v) {
    values_.push_back(v);
    sorted_ = false;
  }
  void reserve(std::size_t n) { values_.reserve(n); }
  std::size_t size() const { return values_.size(); }
  double percentile(double p);  // NaN when empty
  double mean() const;

 private:
  std::vector<double> values_;
  bool sorted_ = true;
};

// A markdown table, printed to stdout by print(). Each row can also carry result keys that
// go to the --results file as "key<TAB>value".
class Table {
 public:
  Table(std::string title, std::vector<std::string> columns);
  void row(std::vector<std::string> cells);
  void note(std::string text) { notes_.push_back(std::move(text)); }
  void print() const;

 private:
  std::string title_;
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::string> notes_;
};

// Appends "key<TAB>value" to the results file (no-op when none was given). Thread-safe.
void set_results_file(const std::string& path);
void record(const std::string& key, double value);
void record_text(const std::string& key, const std::string& value);

std::string fmt(double v, int decimals = 0);  // "12,345" style for big, plain for small
std::string fmt_us(double us);                // microseconds as "0.123 ms" / "45 µs"

// ---------------------------------------------------------------------------------------
// Redis

// One hiredis connection for administration. Throws BenchError when Redis cannot be reached.
class RedisAdmin {
 public:
  explicit RedisAdmin(const std::string& url);
  ~RedisAdmin();
  RedisAdmin(const RedisAdmin&) = delete;
  RedisAdmin& operator=(const RedisAdmin&) = delete;

  // A field of INFO <section>, e.g. info("memory", "used_memory"). Empty when absent.
  std::string info(const std::string& section, const std::string& field);
  double used_memory();  // bytes
  double cpu_seconds();  // used_cpu_sys + used_cpu_user
  void flushall();
  // Runs a command given as words; returns the reply as text (integers and status too).
  std::string command(const std::vector<std::string>& words);
  // Sends every command, then reads every reply (one round trip); throws on an error reply.
  void pipeline(const std::vector<std::vector<std::string>>& commands);
  // Waits for any AOF rewrite / fork in progress to end (so it does not disturb timings).
  void wait_quiet(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // One SLOWLOG entry: how long the command ran inside Redis, and its first two words (for
  // an FCALL, the function's name).
  struct SlowCall {
    double micros = 0;
    std::string command;
    std::string first_arg;
  };
  // The value of one configuration parameter (CONFIG GET); empty when unknown.
  std::string config_get(const std::string& name);
  // Takes the slowlog's entries (up to max, newest first) and empties it, in one round trip.
  std::vector<SlowCall> take_slowlog(std::size_t max);

 private:
  redisContext* ctx_ = nullptr;
};

// The Redis the bench uses: --redis-url, or a private one (AOF everysec) started here.
class BenchRedis {
 public:
  BenchRedis(const Args& args, bool aof = true);
  const std::string& url() const { return url_; }
  std::string version();
  // The redis-server started here; -1 when --redis-url named one elsewhere.
  int pid() const { return own_ ? own_->pid() : -1; }

 private:
  std::unique_ptr<testing::RedisServer> own_;
  std::string url_;
};

// ---------------------------------------------------------------------------------------
// The real processes

struct StackOptions {
  std::string redis_url;   // empty = broker --store memory (embedded scheduler)
  bool scheduler = true;   // start qg-scheduler (Redis only)
  std::string key_prefix;  // empty = a fresh "qgb<random>:"
  std::vector<std::string> broker_args;
  std::vector<std::string> scheduler_args;
  std::string log_level = "warn";
};

// qg-broker (+ qg-scheduler) from $QG_BIN_DIR on free ports, ready (HEALTH ok) when the
// constructor returns; killed by the destructor. Throws BenchError when they do not come up.
class Stack {
 public:
  explicit Stack(StackOptions options);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  std::string client_endpoint() const { return "tcp://127.0.0.1:" + std::to_string(client_port_); }
  std::string worker_endpoint() const { return "tcp://127.0.0.1:" + std::to_string(worker_port_); }
  std::string events_in_endpoint() const { return "tcp://127.0.0.1:" + std::to_string(events_in_port_); }
  std::string events_out_endpoint() const { return "tcp://127.0.0.1:" + std::to_string(events_out_port_); }
  int broker_pid() const { return broker_->pid(); }
  int scheduler_pid() const { return scheduler_ ? scheduler_->pid() : -1; }  // -1: none started
  const std::string& key_prefix() const { return options_.key_prefix; }
  const std::string& dir() const { return dir_.path(); }
  std::string log(const std::string& name) const;

 private:
  StackOptions options_;
  testing::TempDir dir_;
  int client_port_, worker_port_, events_in_port_, events_out_port_;
  std::unique_ptr<testing::ChildProcess> broker_;
  std::unique_ptr<testing::ChildProcess> scheduler_;
};

// Resident set size of a process in bytes (VmRSS); 0 when unreadable.
double rss_bytes(int pid);

// ---------------------------------------------------------------------------------------
// Protocol clients

// A DEALER connected to `endpoint` with linger 0, with the CURVE keys of
// set_client_curve() (none by default).
zmq::socket_t connect_dealer(zmq::context_t& context, const std::string& endpoint);
// The keys every later connect_dealer() uses (empty: CURVE off). For benches that compare a
// broker with keys against one without; not thread-safe: set between the parts.
void set_client_curve(const CurveClientKeys& keys);

// Sends [protocol][command][body] and waits for one reply; empty frames on timeout.
std::vector<std::string> roundtrip(zmq::socket_t& socket, std::string_view protocol, std::string_view command,
                                   const std::string& body, std::chrono::milliseconds timeout);

// One SUBMIT; throws BenchError on an error reply or timeout.
proto::SubmitReply submit(zmq::socket_t& socket, const proto::SubmitRequest& request,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A submit request of `tests` tests for build `app`.
proto::SubmitRequest make_submit(const std::string& rid, const std::string& org, const std::string& app,
                                 std::size_t tests, proto::Priority priority = proto::Priority::medium);

// Closed-loop load: `clients` DEALER sockets driven from one thread, each with one request in
// flight, until `total_requests` were answered or `deadline` passed. make_request(i) returns
// the body of request i. Returns per-request latencies (µs) and the elapsed seconds.
struct LoadResult {
  Samples latency_us;
  double seconds = 0;
  std::size_t requests = 0;
  std::size_t errors = 0;
};
LoadResult closed_loop(zmq::context_t& context, const std::string& endpoint, std::size_t clients,
                       std::size_t total_requests, const std::function<std::string(std::size_t)>& make_request,
                       std::chrono::seconds deadline);

// Pipelined load on ONE connection: a single DEALER keeps `depth` requests in flight at once
// (sends a new one as each reply arrives), as a pipelining client does with concurrent calls
// on one connection (ioredis with `depth` concurrent BullMQ add()s). make_request(i, slot)
// returns the body of request i; it must carry rid slot_rid(slot), which is how a reply is
// matched to its request (the broker answers in any order). Latencies are per request, from
// its send to its reply. Throws BenchError when the deadline passes or a reply names no slot.
std::string slot_rid(std::size_t slot);
LoadResult pipelined(zmq::context_t& context, const std::string& endpoint, std::size_t depth,
                     std::size_t total_requests,
                     const std::function<std::string(std::size_t, std::size_t)>& make_request,
                     std::chrono::seconds deadline);

// In-process simulated workers: `workers` DEALER sockets driven from one thread. Each pulls
// (long poll), and for every group it is given reports each job passed at once (all reports
// of the group sent back to back, as a worker whose run command does nothing would), waits
// for the confirmations, and pulls again. No HELLO, heartbeat or PROGRESS is sent. Runs
// until `expected_jobs` were confirmed or `deadline` passed; returns jobs confirmed.
struct SimResult {
  std::size_t jobs = 0;
  std::size_t groups = 0;
  double seconds = 0;  // from start to the last confirmation
};
SimResult run_sim_workers(zmq::context_t& context, const std::string& endpoint, std::size_t workers,
                          std::size_t expected_jobs, std::chrono::seconds deadline);

// Waits until HEALTH reports queue_depth == depth (or the deadline); returns the last depth.
std::uint64_t wait_queue_depth(zmq::context_t& context, const std::string& client_endpoint, std::uint64_t depth,
                               std::chrono::milliseconds timeout);

// Runs `body` and turns exceptions into exit code 1 with the message on stderr.
int guarded_main(const std::function<int()>& body);

}  // namespace qg::bench

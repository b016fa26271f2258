// qg_bench_sse: qg-gateway's event streams under load. A real broker (memory store) and
// qg-gateway as separate processes on loopback; N clients hold GET /api/v1/events open, all read
// by one epoll loop in this process (so the load generator costs little next to the gateway);
// a publisher sends JOB events into the broker's events-in (PUB, as workers and schedulers
// do) at R a second, each carrying its publish time (µs, in `message`). For every event every
// client receives: delivery latency (receive time - publish time); per client: gaps in the
// event ids and resync events.
//
// Target: 1,000 clients receiving 1,000 events/s, p99 delivery under 250 ms, no gaps.
// Sizes from the environment: QG_BENCH_SSE_CLIENTS, QG_BENCH_SSE_RATE, QG_BENCH_SSE_SECONDS,
// QG_BENCH_SSE_COALESCE_MS (the gateway's --stream-coalesce-ms; unset = its default).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include <httplib.h>

#include "harness/bench.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/testing/process.hpp"

namespace qg::bench {
namespace {

using namespace std::chrono_literals;

std::int64_t system_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<std::size_t>(std::stoull(v)) : fallback;
}

// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Delivery latencies in 100 µs buckets up to 30 s (the last bucket takes the rest).
class LatencyHistogram {
 public:
  void add(std::int64_t us) {
    auto b = static_cast<std::size_t>(std::max<std::int64_t>(us, 0) / 100);
    ++buckets_[std::min(b, buckets_.size() - 1)];
    ++count_;
  }
  double percentile_ms(double p) const {
    if (count_ == 0) return std::nan("");
    const auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= std::max<std::uint64_t>(rank, 1)) return static_cast<double>(i + 1) / 10.0;
    }
    return static_cast<double>(buckets_.size()) / 10.0;
  }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(300'000, 0);
  std::uint64_t count_ = 0;
};

// One event stream: the socket, the chunked-encoding decoder and the SSE frame parser.
struct StreamClient {
  int fd = -1;
  bool headers_done = false;
  std::string raw;                // bytes not yet de-chunked
  std::string sse;                // de-chunked bytes not yet parsed into frames
  std::size_t chunk_left = 0;     // bytes of the current chunk still to come
  bool in_chunk_trailer = false;  // the CRLF after a chunk's data is next
  std::uint64_t last_id = 0;      // 0 = no event yet
  std::uint64_t events = 0, gaps = 0, resyncs = 0, last_seq = 0;
  bool opened = false, ended = false;
};

struct Measure {
  std::uint64_t from_seq = 0;  // events with seq >= this are timed; 0 = not yet
  LatencyHistogram latency;
};

// Parses the SSE frames in c.sse; `now_us` is when the bytes were read.
void parse_frames(StreamClient& c, std::int64_t now_us, Measure& m) {
  std::size_t start = 0;
  while (true) {
    auto end = c.sse.find("\n\n", start);
    if (end == std::string::npos) break;
    std::string_view frame(c.sse.data() + start, end - start);
    start = end + 2;
    if (frame.starts_with(": open") || frame.find("\n: open") != std::string_view::npos) c.opened = true;
    if (!frame.starts_with("id: ")) continue;
    auto event_at = frame.find("\nevent: ");
    if (event_at == std::string_view::npos) continue;  // an id-only keepalive line
    auto id_end = frame.find('\n');
    auto dash = frame.rfind('-', id_end);
    const std::uint64_t id = std::strtoull(frame.data() + dash + 1, nullptr, 10);
    if (c.last_id != 0 && id != c.last_id + 1) ++c.gaps;
    c.last_id = id;
    if (frame.compare(event_at + 8, 6, "resync") == 0) {
      ++c.resyncs;
      continue;
    }
    ++c.events;
    auto seq_at = frame.find("\"seq\":");
    if (seq_at != std::string_view::npos) c.last_seq = std::strtoull(frame.data() + seq_at + 6, nullptr, 10);
    auto sent_at = frame.find("\"message\":\"");
    if (sent_at != std::string_view::npos && m.from_seq != 0 && c.last_seq >= m.from_seq) {
      m.latency.add(now_us - std::strtoll(frame.data() + sent_at + 11, nullptr, 10));
    }
  }
  c.sse.erase(0, start);
}

// Strips HTTP/1.1 chunked framing from c.raw into c.sse.
void dechunk(StreamClient& c) {
  std::size_t at = 0;
  while (at < c.raw.size()) {
    if (c.chunk_left > 0) {
      const std::size_t n = std::min(c.chunk_left, c.raw.size() - at);
      c.sse.append(c.raw, at, n);
      at += n;
      c.chunk_left -= n;
      if (c.chunk_left == 0) c.in_chunk_trailer = true;
      continue;
    }
    auto eol = c.raw.find("\r\n", at);
    if (eol == std::string::npos) break;
    if (c.in_chunk_trailer) {
      c.in_chunk_trailer = false;
    } else {
      c.chunk_left = std::strtoull(c.raw.data() + at, nullptr, 16);
      if (c.chunk_left == 0) c.ended = true;
    }
    at = eol + 2;
  }
  c.raw.erase(0, at);
}

int connect_stream(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw BenchError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw BenchError(std::string("connect: ") + std::strerror(errno));
  }
  const std::string request = "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    throw BenchError("send: the request did not go out whole");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Reads every readable stream until `until` says stop or the deadline passes.
void pump(int epoll_fd, std::vector<StreamClient>& clients, Measure& m, const std::function<bool()>& until,
          std::chrono::steady_clock::time_point deadline) {
  std::vector<epoll_event> ready(256);
  std::vector<char> buf(256 * 1024);
  while (!until() && std::chrono::steady_clock::now() < deadline) {
    int n = ::epoll_wait(epoll_fd, ready.data(), static_cast<int>(ready.size()), 50);
    for (int i = 0; i < n; ++i) {
      auto& c = clients[ready[static_cast<std::size_t>(i)].data.u64];
      while (true) {
        ssize_t got = ::recv(c.fd, buf.data(), buf.size(), 0);
        if (got <= 0) {
          if (got == 0) c.ended = true;
          break;
        }
        const std::int64_t now = system_us();
        c.raw.append(buf.data(), static_cast<std::size_t>(got));
        if (!c.headers_done) {
          auto end = c.raw.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          if (!c.raw.starts_with("HTTP/1.1 200")) throw BenchError("event stream refused: " + c.raw.substr(0, 200));
          c.headers_done = true;
          c.raw.erase(0, end + 4);
        }
        dechunk(c);
        parse_frames(c, now, m);
        if (static_cast<std::size_t>(got) < buf.size()) break;
      }
    }
  }
}

struct Publisher {
  zmq::context_t context{1};
  zmq::socket_t pub{context, zmq::socket_type::pub};
  std::uint64_t seq = 0;
  explicit Publisher(const std::string& endpoint) {
    set_common_options(pub);
    pub.set(zmq::sockopt::sndhwm, 100000);
    pub.connect(endpoint);
  }
  void send_one() {
    proto::JobEvent e;
    e.source = "bench-publisher";
    e.seq = ++seq;
    e.org_seq = seq;
    e.job_id = "job-" + std::to_string(seq % 10000);
    e.org_id = "org-1";
    e.app_version_id = "app-1";
    e.attempt = 1;
    e.status = proto::JobStatus::running;
    e.worker_id = "w-" + std::to_string(seq % 1000);
    e.test_path = "tests/e2e/checkout.spec.ts";
    e.target = proto::Target::emulator;
    e.priority = proto::Priority::medium;
    const auto now = system_us();
    e.at_ms = now / 1000;
    e.message = std::to_string(now);  // the publish time, for the delivery latency
    send_multipart(pub, {"job." + e.org_id + "." + e.job_id, std::string(proto::kEventProtocol),
                         std::string(proto::JobEvent::command), proto::encode(e)});
  }
};

void sse_part(const Args& args, Table& table) {
  const std::size_t n_clients = env_size("QG_BENCH_SSE_CLIENTS", args.quick ? 50 : 1000);
  const std::size_t rate = env_size("QG_BENCH_SSE_RATE", args.quick ? 200 : 1000);
  const std::size_t seconds = env_size("QG_BENCH_SSE_SECONDS", args.quick ? 2 : 10);
  const char* coalesce = std::getenv("QG_BENCH_SSE_COALESCE_MS");
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  Stack stack(StackOptions{});
  const int port = testing::free_port();
  std::vector<std::string> argv{testing::bin_dir() + "/qg-gateway",
                                "--listen",
                                "127.0.0.1:" + std::to_string(port),
                                "--broker",
                                stack.client_endpoint(),
                                "--events",
                                stack.events_out_endpoint(),
                                "--max-event-streams",
                                std::to_string(n_clients + 10),
                                "--event-buffer",
                                std::to_string(std::max<std::size_t>(rate * 30, 10000)),
                                "--log-level",
                                "warn"};
  if (coalesce != nullptr && *coalesce != '\0') {
    argv.push_back("--stream-coalesce-ms");
    argv.push_back(coalesce);
  }
  testing::ChildProcess gateway(argv, stack.dir() + "/gateway.log");
  httplib::Client probe("127.0.0.1", port);
  probe.set_connection_timeout(1s);
  if (!testing::wait_until(
          [&] {
            auto r = probe.Get("/api/v1/health");
            return r && r->status == 200;
          },
          20s, 20ms)) {
    throw BenchError("the gateway did not come up:\n" + stack.log("gateway"));
  }

  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<StreamClient> clients(n_clients);
  for (std::size_t i = 0; i < n_clients; ++i) {
    clients[i].fd = connect_stream(port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, clients[i].fd, &ev);
  }
  Measure m;
  auto all = [&](auto pred) { return std::all_of(clients.begin(), clients.end(), pred); };
  pump(
      epoll_fd, clients, m, [&] { return all([](const StreamClient& c) { return c.opened; }); },
      std::chrono::steady_clock::now() + 60s);
  if (!all([](const StreamClient& c) { return c.opened; })) throw BenchError("not every event stream opened");

  // Publishing, from its own thread at `rate` a second; the first second warms the path up
  // (PUB drops while it connects), then events from `from_seq` on are timed.
  Publisher publisher(stack.events_in_endpoint());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::thread driver([&] {
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t sent = 0;
    const auto give_up = t0 + std::chrono::seconds(seconds + 60);
    while (!stop.load() && std::chrono::steady_clock::now() < give_up) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto due = static_cast<std::uint64_t>(elapsed * static_cast<double>(rate));
      while (sent < due) {
        publisher.send_one();
        ++sent;
      }
      published.store(sent);
      std::this_thread::sleep_for(1ms);
    }
  });
  pump(
      epoll_fd, clients, m, [&] { return all([](const StreamClient& c) { return c.events > 0; }); },
      std::chrono::steady_clock::now() + 20s);
  if (!all([](const StreamClient& c) { return c.events > 0; })) {
    stop = true;
    driver.join();
    throw BenchError("events did not reach every stream:\n" + stack.log("gateway"));
  }
  pump(
      epoll_fd, clients, m, [] { return false; }, std::chrono::steady_clock::now() + 1s);
  m.from_seq = published.load() + 1;
  for (auto& c : clients) c.gaps = c.resyncs = 0;
  const double gateway_cpu0 = cpu_seconds(gateway.pid()), own_cpu0 = cpu_seconds(::getpid());
  const double t0 = now_us();
  auto writes = [&] {
    auto r = probe.Get("/metrics");
    if (!r) return 0.0;
    auto at = r->body.find("\nqg_gateway_stream_writes_total ");
    return at == std::string::npos ? 0.0 : std::stod(r->body.substr(at + 32));
  };
  const double writes0 = writes();
  pump(
      epoll_fd, clients, m, [] { return false; }, std::chrono::steady_clock::now() + std::chrono::seconds(seconds));
  stop = true;
  driver.join();
  const std::uint64_t last_seq = publisher.seq;
  const double wall = (now_us() - t0) / 1e6;
  const double gateway_cpu = cpu_seconds(gateway.pid()) - gateway_cpu0, own_cpu = cpu_seconds(::getpid()) - own_cpu0;
  const double writes1 = writes();
  // The tail: every stream should reach the last event published.
  pump(
      epoll_fd, clients, m, [&] { return all([&](const StreamClient& c) { return c.last_seq >= last_seq; }); },
      std::chrono::steady_clock::now() + 10s);
  std::size_t gapped = 0, short_of_end = 0;
  std::uint64_t gaps = 0, resyncs = 0;
  for (const auto& c : clients) {
    gaps += c.gaps;
    resyncs += c.resyncs;
    if (c.gaps + c.resyncs > 0) ++gapped;
    if (c.last_seq < last_seq) ++short_of_end;
    ::close(c.fd);
  }
  ::close(epoll_fd);
  const std::uint64_t timed = last_seq - m.from_seq + 1;
  const std::string name =
      fmt(static_cast<double>(n_clients)) + " streams × " + fmt(static_cast<double>(rate)) + " events/s, " +
      std::to_string(seconds) + " s" +
      (coalesce != nullptr && *coalesce != '\0' ? ", coalesce " + std::string(coalesce) + " ms" : "");
  table.row({name, fmt(m.latency.percentile_ms(50), 1) + " ms", fmt(m.latency.percentile_ms(99), 1) + " ms",
             fmt(m.latency.percentile_ms(100), 1) + " ms",
             fmt(static_cast<double>(m.latency.count())) + " of " + fmt(static_cast<double>(timed * n_clients)),
             std::to_string(gapped) + " (" + std::to_string(gaps) + " id gaps, " + std::to_string(resyncs) +
                 " resyncs, " + std::to_string(short_of_end) + " short)",
             fmt((writes1 - writes0) / wall) + "/s",
             fmt(100 * gateway_cpu / wall) + "% / " + fmt(100 * own_cpu / wall) + "%"});
  record("gateway.sse_delivery_ms.p50", m.latency.percentile_ms(50));
  record("gateway.sse_delivery_ms.p99", m.latency.percentile_ms(99));
  record("gateway.sse_clients_with_gaps", static_cast<double>(gapped + short_of_end));
  record("gateway.sse_streams", static_cast<double>(n_clients));
  record("gateway.sse_events_per_s", static_cast<double>(rate));
}

int run(int argc, char** argv) {
  auto args = Args::parse(argc, argv, "qg_bench_sse", "qg-gateway: many event streams, delivery latency and gaps");
  set_results_file(args.results);
  Table table("qg-gateway event streams",
              {"what", "p50", "p99", "max", "deliveries timed", "streams with gaps", "writes", "CPU gateway / bench"});
  if (args.wants("sse")) sse_part(args, table);
  table.note("Target: 1,000 streams receiving 1,000 events/s, p99 delivery under 250 ms, no gaps.");
  table.note("Latency: receive time in the bench - publish time carried in the event (same clock), 0.1 ms buckets.");
  table.print();
  return 0;
}

}  // namespace
}  // namespace qg::bench

int main(int argc, char** argv) {
  return qg::bench::guarded_main([&] { return qg::bench::run(argc, argv); });
}

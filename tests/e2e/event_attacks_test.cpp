// Attacks on a keyed broker's event plane, made by separate processes and raw protocol peers
// from 127.0.0.2: events whose text is made to drive a terminal, and subscribers that stop
// reading while a publisher sends the largest events allowed. Each is refused or harmless, and
// the legitimate client, worker and subscriber keep working. The broker runs on the memory
// store (its scheduler embedded).
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "keys.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"
#include "raw_peers.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::Cluster;
using qg::testing::exchange;
using qg::testing::file_text;
using qg::testing::job_id_of;
using qg::testing::Keys;
using qg::testing::kOtherHost;
using qg::testing::next_message;
using qg::testing::qgjob_as;
using qg::testing::qgjob_background;
using qg::testing::raw_peer;
using qg::testing::wait_until;
namespace proto = qg::proto;

// Text made to drive a terminal: clear the screen, set the window title, ring the bell, move
// back over what was printed, an 8-bit CSI as a raw byte and as UTF-8 (U+009B), a right-to-left
// override, and bytes that are no UTF-8 at all.
const std::string kHostile =
    "\x1b[2J\x1b[H\x1b]0;pwned\x07\r\b\b\x7f\x9b"
    "31m\xc2\x9b"
    "32m\xe2\x80\xae"
    "txt.exe\xff\xfe\xc3";

// The first raw terminal control in `text`, as an offset; npos when there is none. Raw means a
// C0 control other than newline and tab, DEL, a C1 control (U+0080-U+009F) or a direction
// override written as UTF-8, or a byte that is not part of valid UTF-8: what printable() turns
// into \xNN or \uNNNN.
std::size_t raw_control_at(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return i;
      ++i;
      continue;
    }
    std::size_t length = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (length == 0 || i + length > text.size()) return i;
    std::uint32_t cp = c & (length == 2 ? 0x1Fu : length == 3 ? 0x0Fu : 0x07u);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    if ((cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
        cp == 0x200E || cp == 0x200F) {
      return i;
    }
    i += length;
  }
  return std::string::npos;
}

// The bytes around offset `at`, each as a number, for a failure message.
std::string bytes_near(const std::string& text, std::size_t at) {
  std::string shown;
  for (std::size_t i = at >= 20 ? at - 20 : 0; i < std::min(text.size(), at + 20); ++i) {
    shown += std::to_string(static_cast<unsigned char>(text[i])) + " ";
  }
  return shown;
}

// A JOB event about job `job_id` of org acme, published as worker w2, every text field hostile.
std::vector<std::string> hostile_job_event(const std::string& job_id, std::uint64_t seq) {
  proto::JobEvent event;
  event.source = "w2" + kHostile;
  event.seq = seq;
  event.job_id = job_id;
  event.org_id = "acme";
  event.app_version_id = "b1" + kHostile;
  event.attempt = 1;
  event.status = proto::JobStatus::running;
  event.worker_id = "w2";
  event.message = "progress " + kHostile;
  event.at_ms = 1;
  event.test_path = "t.spec.ts" + kHostile;
  return {"job.acme." + job_id, std::string(proto::kEventProtocol), std::string(proto::JobEvent::command),
          proto::encode(event)};
}

// Resident memory of process `pid` in KiB (VmRSS); 0 when it cannot be read.
long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// Forged JOB and WORKER events whose text fields carry escape sequences, C1 controls and
// invalid UTF-8, from another host with no key, with a key admitted nowhere and with an
// admitted worker key (w2, which may publish events naming its own worker id), while acme
// watches with the real `qgjob watch`: the first two never get through the handshake, w2's are
// dropped at events-in (their text is not plain), and a real job runs and is shown meanwhile.
// Then w2, as a worker holding a lease, reports its job failed with the same text as the error
// (the broker stores what a worker reports): `qgjob watch`, `status`, `wait` and `list` print it
// escaped, never raw.
TEST(EventAttacks, ControlCodesInEventsAndReportsReachNoTerminalRawAndRealEventsFlowOn) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  const std::string watch_log = cluster.dir() + "/acme-watch.log";
  auto watch = qgjob_background(cluster, keys.as("acme"), {"watch"}, watch_log);
  ASSERT_TRUE(wait_until([&] { return file_text(watch_log).find("watching events") != std::string::npos; }, 10s, 20ms))
      << file_text(watch_log);
  auto worker = keys.worker();
  worker.env["FAKE_APPWRIGHT_SLEEP"] = "1";  // running while the forgeries go on
  cluster.add_worker(worker);
  const auto submitted =
      cluster.qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "real.spec.ts"});
  ASSERT_FALSE(job_id_of(submitted.output).empty()) << submitted.output << submitted.error;

  zmq::context_t context(1);
  std::vector<std::pair<std::string, zmq::socket_t>> forgers;
  for (const char* name : {"", "stranger", "w2"}) {
    forgers.emplace_back(*name == 0 ? "anon" : name,
                         raw_peer(context, zmq::socket_type::pub, keys, name, cluster.events_in_endpoint()));
  }
  proto::WorkerEvent worker_event;
  worker_event.source = "w2";
  worker_event.worker_id = "w2";
  worker_event.state = "joined" + kHostile;
  std::uint64_t seq = 0;
  const auto forge_once = [&] {
    ++seq;
    for (auto& [who, pub] : forgers) qg::send_multipart(pub, hostile_job_event("forged-" + who, seq));
    worker_event.seq = seq;
    qg::send_multipart(forgers.back().second, {"worker.w2", std::string(proto::kEventProtocol),
                                               std::string(proto::WorkerEvent::command), proto::encode(worker_event)});
  };
  // Forgeries go on until the real job is shown passed.
  EXPECT_TRUE(wait_until(
      [&] {
        forge_once();
        const auto text = file_text(watch_log);
        return text.find("real.spec.ts") != std::string::npos && text.find("passed") != std::string::npos;
      },
      30s, 50ms))
      << file_text(watch_log) << cluster.log("broker-0");
  // Then a plain event from w2 after its forgeries on the same connection: once it is shown, the
  // broker has dealt with every forgery before it.
  forge_once();
  auto marker = hostile_job_event("marker-w2", ++seq);
  {
    auto plain = proto::decode<proto::JobEvent>(marker[3]);
    ASSERT_TRUE(plain.ok());
    plain->source = "w2";
    plain->app_version_id = "b1";
    plain->message = "plain";
    plain->test_path = "t.spec.ts";
    marker[3] = proto::encode(*plain);
  }
  EXPECT_TRUE(wait_until(
      [&] {
        qg::send_multipart(forgers.back().second, marker);
        return file_text(watch_log).find("marker-w2") != std::string::npos;
      },
      10s, 50ms))
      << file_text(watch_log);
  // Even w2's forgeries, which it may publish (they name its own worker id), are dropped at
  // events-in: their text is not plain.
  for (const char* forged : {"forged-anon", "forged-stranger", "forged-w2", "pwned"}) {
    EXPECT_EQ(file_text(watch_log).find(forged), std::string::npos) << forged << " in " << file_text(watch_log);
  }

  // w2 as a worker: its job of another target (w1 does not take it), reported failed with
  // hostile error text.
  const auto esc_job = job_id_of(cluster
                                     .qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b2",
                                             "--target", "browserstack", "--test", "esc.spec.ts"})
                                     .output);
  ASSERT_FALSE(esc_job.empty());
  auto w2 = raw_peer(context, zmq::socket_type::dealer, keys, "w2", cluster.worker_endpoint());
  proto::Hello hello;
  hello.rid = "h1";
  hello.worker_id = "w2";
  hello.targets = {proto::Target::browserstack};
  ASSERT_EQ(exchange(w2, proto::kWorkerProtocol, hello).size(), 3u);
  proto::Pull pull;
  pull.worker_id = "w2";
  pull.targets = {proto::Target::browserstack};
  pull.wait_ms = 1000;
  std::optional<proto::Assign> assign;
  ASSERT_TRUE(wait_until(
      [&] {
        pull.rid = "p" + std::to_string(++seq);
        const auto reply = exchange(w2, proto::kWorkerProtocol, pull, 3s);
        if (reply.size() != 3 || reply[1] != proto::Assign::command) return false;
        if (auto decoded = proto::decode<proto::Assign>(reply[2]); decoded) assign = std::move(decoded).value();
        return assign.has_value();
      },
      15s, 10ms));
  ASSERT_EQ(assign->jobs.size(), 1u);
  proto::Report report;
  report.rid = "r1";
  report.worker_id = "w2";
  report.lease_id = assign->lease_id;
  report.job_id = esc_job;
  report.attempt = assign->jobs[0].attempt;
  report.status = proto::JobStatus::failed;
  report.exit_code = 1;
  report.error = "device said " + kHostile + "\nsecond line " + kHostile;
  report.log_tail = kHostile;
  const auto confirmed = exchange(w2, proto::kWorkerProtocol, report);
  ASSERT_EQ(confirmed.size(), 3u);
  ASSERT_EQ(confirmed[1], proto::Confirm::command);
  EXPECT_TRUE(proto::decode<proto::Confirm>(confirmed[2])->accepted);
  // The job's failure reaches the watch (the broker publishes it, with the error as the
  // message): escaped.
  EXPECT_TRUE(wait_until(
      [&] {
        const auto text = file_text(watch_log);
        return text.find(esc_job) != std::string::npos && text.find("failed") != std::string::npos;
      },
      10s, 20ms))
      << file_text(watch_log);
  watch.signal(SIGTERM);
  watch.wait(5s);
  const auto watched = file_text(watch_log);
  const auto raw = raw_control_at(watched);
  EXPECT_EQ(raw, std::string::npos) << "raw control in qgjob watch output: " << bytes_near(watched, raw);
  // Nothing was lost on the way to this watch (the broker's seq counts what acme's key does not
  // receive: the watch judges gaps by org_seq).
  EXPECT_EQ(watched.find("missed events"), std::string::npos) << watched;
  EXPECT_NE(watched.find("device said \\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x0d\\x08\\x08\\x7f\\x9b31m\\u009b32m"
                         "\\u202etxt.exe\\xff\\xfe\\xc3\\x0asecond line"),
            std::string::npos)
      << watched;
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", "--job-id", esc_job},
                                                                {"wait", "--job-id", esc_job, "--timeout", "10"},
                                                                {"list", "--org-id", "acme"}}) {
    const auto shown = qgjob_as(cluster, keys.as("acme"), args);
    EXPECT_NE(shown.exit_code, -1) << args[0];
    for (const auto* stream : {&shown.output, &shown.error}) {
      const auto at = raw_control_at(*stream);
      EXPECT_EQ(at, std::string::npos) << "raw control in qgjob " << args[0] << ": " << bytes_near(*stream, at);
    }
    if (args[0] != "list") {
      EXPECT_NE((shown.output + shown.error).find("device said \\x1b[2J"), std::string::npos)
          << args[0] << ": " << shown.output << shown.error;
    }
  }
  // The real worker and client are served on.
  const auto again = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "after.spec.ts", "--wait", "--timeout", "30"});
  EXPECT_EQ(again.exit_code, 0) << again.output << again.error;
}

// Subscribers that stop reading while a worker key publishes the largest events allowed as fast
// as it can: four raw SUBs from another host with a 4 KiB receive buffer that never read, and a
// real `qgjob watch` stopped with SIGSTOP. Events over the size limit, from a second
// connection, are refused at events-in. Over 8 s the broker's resident memory stays within the
// bound docs/operations.md states (the event plane holds at most --event-hwm events of at most
// --event-max-bytes per subscriber and per publisher: 16 MiB each at the defaults, and the
// stalled subscribers' queues hold the same events), it answers HEALTH and STATUS within 2 s
// throughout (0.09-0.9 s measured on a loaded 2-core host), and a healthy subscriber receives
// events to the end.
TEST(EventAttacks, StalledSubscribersUnderAFloodOfLargestEventsKeepTheBrokerSmallAndServing) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  zmq::context_t context(1);
  auto acme = raw_peer(context, zmq::socket_type::dealer, keys, "acme", cluster.client_endpoint(), "127.0.0.1");
  const auto topic_reply = exchange(acme, proto::kClientProtocol, proto::EventsTopicRequest{"t1"});
  ASSERT_EQ(topic_reply.size(), 3u);
  const auto prefix = proto::decode<proto::EventsTopicReply>(topic_reply[2])->prefix;
  const auto submitted =
      cluster.qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "queued.spec.ts"});
  const auto job_id = job_id_of(submitted.output);
  ASSERT_FALSE(job_id.empty()) << submitted.output << submitted.error;

  std::vector<zmq::socket_t> stalled;
  for (int i = 0; i < 4; ++i) {
    zmq::socket_t sub(context, zmq::socket_type::sub);
    qg::set_common_options(sub);
    sub.set(zmq::sockopt::rcvbuf, 4096);
    sub.set(zmq::sockopt::rcvhwm, 1);
    qg::apply_curve(sub, qg::load_curve_client_keys(keys.path("acme") + ".key_secret", keys.path("broker") + ".key"));
    sub.connect("tcp://" + std::string(kOtherHost) + ":0;" + cluster.events_out_endpoint().substr(6));
    sub.set(zmq::sockopt::subscribe, prefix + "job.acme.");
    stalled.push_back(std::move(sub));
  }
  const std::string watch_log = cluster.dir() + "/stopped-watch.log";
  auto watch = qgjob_background(cluster, keys.as("acme"), {"watch"}, watch_log);
  ASSERT_TRUE(wait_until([&] { return file_text(watch_log).find("watching events") != std::string::npos; }, 10s, 20ms));
  watch.signal(SIGSTOP);
  auto healthy = raw_peer(context, zmq::socket_type::sub, keys, "acme", cluster.events_out_endpoint(), "127.0.0.1");
  healthy.set(zmq::sockopt::subscribe, prefix + "job.acme.");

  // JOB events of 16,000 bytes, all frames together (--event-max-bytes is 16,384), and of
  // 20,000 on a connection of their own.
  auto event_of = [](const std::string& job, std::size_t total) {
    proto::JobEvent event;
    event.source = "w2";
    event.job_id = job;
    event.org_id = "acme";
    event.worker_id = "w2";
    event.status = proto::JobStatus::running;
    std::vector<std::string> frames = {"job.acme." + job, std::string(proto::kEventProtocol),
                                       std::string(proto::JobEvent::command), proto::encode(event)};
    std::size_t size = 0;
    for (const auto& f : frames) size += f.size();
    event.message.assign(total - size - 2, 'm');  // from an empty str (1 byte) to a str16 (3 + length)
    frames[3] = proto::encode(event);
    return frames;
  };
  auto largest = event_of("flood", 16000);
  std::size_t largest_bytes = 0;
  for (const auto& f : largest) largest_bytes += f.size();
  ASSERT_EQ(largest_bytes, 16000u);
  const auto oversize = event_of("oversize", 20000);
  auto publisher = raw_peer(context, zmq::socket_type::pub, keys, "w2", cluster.events_in_endpoint());
  auto oversize_publisher = raw_peer(context, zmq::socket_type::pub, keys, "w2", cluster.events_in_endpoint());

  const int broker_pid = cluster.broker().pid();
  const long rss_before = rss_kib(broker_pid);
  ASSERT_GT(rss_before, 0);
  long rss_peak = rss_before;
  std::size_t published = 0, received = 0, oversize_received = 0, probes = 0, answers = 0;
  std::chrono::milliseconds slowest{0};
  const auto drain_healthy = [&] {
    for (auto got = next_message(healthy, 0ms); !got.empty(); got = next_message(healthy, 0ms)) {
      ++received;
      if (got[0].find("oversize") != std::string::npos) ++oversize_received;
    }
  };
  const auto flood_end = std::chrono::steady_clock::now() + 8s;
  auto next_probe = std::chrono::steady_clock::now();
  std::uint64_t rid = 0;
  while (std::chrono::steady_clock::now() < flood_end) {
    for (int i = 0; i < 100; ++i, ++published) qg::send_multipart(publisher, largest);
    qg::send_multipart(oversize_publisher, oversize);
    drain_healthy();
    if (std::chrono::steady_clock::now() < next_probe) continue;
    next_probe = std::chrono::steady_clock::now() + 250ms;
    ++probes;
    rss_peak = std::max(rss_peak, rss_kib(broker_pid));
    const auto asked = std::chrono::steady_clock::now();
    const auto health = exchange(acme, proto::kClientProtocol, proto::HealthRequest{"h" + std::to_string(++rid)}, 3s);
    const auto status =
        exchange(acme, proto::kClientProtocol, proto::StatusRequest{"s" + std::to_string(++rid), {job_id}}, 3s);
    slowest = std::max(slowest,
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked));
    EXPECT_EQ(health.size(), 3u) << "no HEALTH reply in 3 s";
    EXPECT_EQ(status.size(), 3u) << "no STATUS reply in 3 s";
    if (status.size() == 3 && status[1] == proto::StatusReply::command) ++answers;
  }
  rss_peak = std::max(rss_peak, rss_kib(broker_pid));
  // The healthy subscriber still receives what is published now.
  // The healthy subscriber still receives what is published now, on either connection (so the
  // oversize events went over a live connection and were refused there; that one reconnects
  // after each refusal, which can take seconds under this flood).
  for (auto* pub : {&publisher, &oversize_publisher}) {
    const auto job = pub == &publisher ? std::string("last") : std::string("small");
    const auto event = event_of(job, 1000);
    EXPECT_TRUE(wait_until(
        [&] {
          qg::send_multipart(*pub, event);
          for (auto got = next_message(healthy, 0ms); !got.empty(); got = next_message(healthy, 0ms)) {
            if (got[0].find("acme." + job) != std::string::npos) return true;
          }
          return false;
        },
        20s, 50ms))
        << job;
  }
  drain_healthy();
  const long grown_mib = (rss_peak - rss_before) / 1024;
  std::cout << "[ measure  ] " << published << " events of 16,000 bytes offered in 8 s, " << received
            << " received by the healthy subscriber; broker RSS " << rss_before / 1024 << " MiB before, peak "
            << rss_peak / 1024 << " MiB (+" << grown_mib << " MiB); slowest HEALTH+STATUS " << slowest.count()
            << " ms\n";
  EXPECT_GE(probes, 5u);
  EXPECT_EQ(answers, probes);
  EXPECT_LT(slowest, 2000ms);
  EXPECT_GT(received, 100u);
  EXPECT_EQ(oversize_received, 0u);
  // The bound: five stalled subscribers and two publisher connections at 16 MiB each if
  // nothing were shared, plus room for the allocator; 2.5 GB is what an unbounded plane reached.
  EXPECT_LT(grown_mib, 128) << cluster.log("broker-0");
  watch.signal(SIGCONT);
}

}  // namespace
